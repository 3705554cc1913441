"""Upload a site to its bucket in an order that never breaks an open page, then invalidate.

Order of a deploy:

1. check the bucket and the distribution exist, and that the distribution
   serves this bucket: a wrong flag stops here, before anything is written;
2. upload the files other than ``index.html`` (hashed assets whose bytes are
   already there are skipped), then ``config.json``, then ``index.html`` last,
   so the new page never names an asset that is not there yet;
3. record this deploy's keys in :data:`MANIFEST_KEY`;
4. delete what neither this deploy nor the one before it uploaded. The
   previous deploy's assets stay one more round, so a tab opened before the
   deploy can still load the chunks its old ``index.html`` names (bucket
   versioning keeps even those for a while after);
5. invalidate ``/index.html`` and ``/config.json`` only: every route of the app
   is cached as ``/index.html`` (the viewer-request function rewrites before
   the cache is looked up), and hashed assets never change under a name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from deploy.web.errors import DeployError
from deploy.web.site import ASSETS_PREFIX, CONFIG_KEY, INDEX_KEY, NO_CACHE, SiteFile
from deploy.web.target import Target

if TYPE_CHECKING:
    from mypy_boto3_cloudfront.client import CloudFrontClient
    from mypy_boto3_s3.client import S3Client

__all__ = ["INVALIDATED_PATHS", "MANIFEST_KEY", "PublishReport", "publish", "upload_order"]

# A leading dot: no file of a build can take this key (site.py refuses them).
MANIFEST_KEY = ".deploy-manifest.json"
INVALIDATED_PATHS = (f"/{INDEX_KEY}", f"/{CONFIG_KEY}")
_DELETE_BATCH = 1000  # DeleteObjects' limit


@dataclass
class PublishReport:
    uploaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # the previous deploy's, one more round
    deleted: list[str] = field(default_factory=list)
    replaced_config: bool = False  # the build had its own config.json
    invalidation_id: str = ""


def publish(
    site: Sequence[SiteFile],
    target: Target,
    config: bytes,
    *,
    s3: S3Client,
    cloudfront: CloudFrontClient,
) -> PublishReport:
    """Put ``site`` plus ``config`` (as ``config.json``) in ``target``'s bucket; see the module doc."""
    report = PublishReport()
    files = {f.key: f for f in site}
    if INDEX_KEY not in files:
        raise DeployError(f"the site has no {INDEX_KEY}")
    report.replaced_config = CONFIG_KEY in files
    files[CONFIG_KEY] = SiteFile(CONFIG_KEY, config, "application/json", NO_CACHE)

    _preflight(target, s3, cloudfront)
    existing = _existing(s3, target.bucket)
    previous = _previous_keys(s3, target.bucket) if MANIFEST_KEY in existing else set()

    for item in (files[k] for k in upload_order(files)):
        if item.key.startswith(ASSETS_PREFIX) and existing.get(item.key) == item.md5:
            report.unchanged.append(item.key)
            continue
        s3.put_object(
            Bucket=target.bucket,
            Key=item.key,
            Body=item.body,
            ContentType=item.content_type,
            CacheControl=item.cache_control,
        )
        report.uploaded.append(item.key)

    manifest = {
        "keys": sorted(files),
        "deployed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    s3.put_object(
        Bucket=target.bucket,
        Key=MANIFEST_KEY,
        Body=json.dumps(manifest).encode(),
        ContentType="application/json",
        CacheControl=NO_CACHE,
    )

    report.kept = sorted(previous & (set(existing) - set(files)))
    stale = sorted(set(existing) - set(files) - previous - {MANIFEST_KEY})
    for start in range(0, len(stale), _DELETE_BATCH):
        batch = stale[start : start + _DELETE_BATCH]
        answer = s3.delete_objects(
            Bucket=target.bucket,
            Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
        )
        if answer.get("Errors"):
            failed = ", ".join(f"{e.get('Key')}: {e.get('Code')}" for e in answer["Errors"][:5])
            raise DeployError(f"the site is up, but removing stale files failed: {failed}")
        report.deleted.extend(batch)

    invalidation = cloudfront.create_invalidation(
        DistributionId=target.distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": len(INVALIDATED_PATHS), "Items": list(INVALIDATED_PATHS)},
            "CallerReference": f"deploy-web-{time.time_ns()}",
        },
    )
    report.invalidation_id = invalidation["Invalidation"]["Id"]
    return report


def upload_order(keys: Collection[str]) -> list[str]:
    """The files first (sorted), then ``config.json``, then ``index.html``: the page
    that names the others goes up when they are all there."""
    last = [k for k in (CONFIG_KEY, INDEX_KEY) if k in keys]
    return sorted(k for k in keys if k not in last) + last


def _preflight(target: Target, s3: S3Client, cloudfront: CloudFrontClient) -> None:
    try:
        s3.head_bucket(Bucket=target.bucket)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchBucket"):
            raise DeployError(
                f"bucket {target.bucket} does not exist (terraform apply first?)"
            ) from exc
        if code in ("403", "AccessDenied"):
            raise DeployError(
                f"bucket {target.bucket}: access denied to these credentials"
            ) from exc
        raise DeployError(f"bucket {target.bucket}: {code or exc}") from exc
    try:
        found = cloudfront.get_distribution(Id=target.distribution_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "NoSuchDistribution":
            raise DeployError(
                f"CloudFront distribution {target.distribution_id} does not exist"
            ) from exc
        raise DeployError(f"distribution {target.distribution_id}: {code or exc}") from exc
    origins = found["Distribution"]["DistributionConfig"]["Origins"].get("Items", [])
    if not any(o["DomainName"].startswith(f"{target.bucket}.s3.") for o in origins):
        raise DeployError(
            f"distribution {target.distribution_id} has no origin in bucket {target.bucket}: "
            "the bucket and distribution belong to different sites"
        )


def _existing(s3: S3Client, bucket: str) -> dict[str, str]:
    """Key -> ETag (without quotes) of every current object."""
    found: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            found[item["Key"]] = item.get("ETag", "").strip('"')
    return found


def _previous_keys(s3: S3Client, bucket: str) -> set[str]:
    body = s3.get_object(Bucket=bucket, Key=MANIFEST_KEY)["Body"].read()
    try:
        keys = json.loads(body)["keys"]
    except (ValueError, KeyError, TypeError):
        return set()  # unreadable: nothing is kept back, which only costs old tabs
    return {k for k in keys if isinstance(k, str)} if isinstance(keys, list) else set()
