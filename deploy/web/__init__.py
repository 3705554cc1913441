"""scripts/deploy-web: publish the storefront's build to its S3 bucket behind CloudFront.

- :mod:`deploy.web.site` reads a build directory into the files to upload,
  with their keys, content types and cache headers, refusing anything odd;
- :mod:`deploy.web.target` says where they go (Terraform's ``web`` output or
  flags) and writes ``/config.json``, the app's sign-in settings;
- :mod:`deploy.web.publish` uploads, removes what is stale and invalidates.
"""

from deploy.web.errors import DeployError
from deploy.web.publish import PublishReport, publish
from deploy.web.site import SiteFile, read_site
from deploy.web.target import Auth, Target, config_json

__all__ = [
    "Auth",
    "DeployError",
    "PublishReport",
    "SiteFile",
    "Target",
    "config_json",
    "publish",
    "read_site",
]
