"""Where the site goes and how its app signs in: Terraform's ``web`` output, or flags.

``terraform output -json web`` (deploy/terraform/envs/<env>/outputs.tf) has
the bucket, the distribution, the Region, the site's URL and, with Cognito,
the browser client's settings. Each of them can be given as a flag instead;
with all of them given, Terraform is not asked.

The app reads :func:`config_json` from ``/config.json`` at run time, so one
build serves every environment:

    {"apiBase": "/",
     "auth": {"authorizeUrl": ..., "tokenUrl": ..., "logoutUrl": ..., "clientId": ...,
              "scope": "openid shop/orders.read ...", "scopePrefix": "shop/"}}

(the app's contract, web/README.md: it sends the user back to ``<site>/callback``
and, after signing out, to ``<site>/``: the addresses Terraform registers).

``auth`` is null where the API takes no tokens from a browser (``auth`` other
than cognito and no flags).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.web.errors import DeployError

__all__ = ["Auth", "Target", "config_json", "resolve_target", "terraform_output"]

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_DISTRIBUTION = re.compile(r"[A-Z0-9]{8,32}")
_REGION = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-[0-9]")
_HTTPS_ORIGIN = re.compile(r"https://[a-z0-9.-]+\.[a-z]{2,}(:[0-9]{1,5})?")
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
# RFC 6749 scope-token: printable ASCII without space, double quote or backslash.
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,256}")
_URL = re.compile(r"https://[a-z0-9.-]+\.[a-z]{2,}(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?")

OUTPUT_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Auth:
    """The browser client's OAuth 2.0 settings: authorization code with PKCE."""

    authorize_endpoint: str
    token_endpoint: str
    logout_endpoint: str
    client_id: str
    scopes: tuple[str, ...]
    # What Cognito writes before each scope in a token ("shop/"); the app strips it.
    scope_prefix: str = ""

    def __post_init__(self) -> None:
        for name in (
            "authorize_endpoint",
            "token_endpoint",
            "logout_endpoint",
        ):
            _check(_URL, getattr(self, name), name)
        _check(_CLIENT_ID, self.client_id, "client_id")
        if not self.scopes:
            raise DeployError("auth.scopes: at least one scope (openid)")
        for scope in self.scopes:
            _check(_SCOPE, scope, "a scope")


@dataclass(frozen=True)
class Target:
    """Where one environment's site lives."""

    bucket: str
    distribution_id: str
    region: str
    url: str
    auth: Auth | None

    def __post_init__(self) -> None:
        _check(_BUCKET, self.bucket, "bucket")
        _check(_DISTRIBUTION, self.distribution_id, "distribution id")
        _check(_REGION, self.region, "region")
        _check(_HTTPS_ORIGIN, self.url, "url (https://HOST, no path)")


def config_json(target: Target) -> bytes:
    """The app's ``/config.json`` for ``target``."""
    auth = target.auth
    document: dict[str, Any] = {
        "apiBase": "/",
        "auth": None
        if auth is None
        else {
            "authorizeUrl": auth.authorize_endpoint,
            "tokenUrl": auth.token_endpoint,
            "logoutUrl": auth.logout_endpoint,
            "clientId": auth.client_id,
            "scope": " ".join(auth.scopes),
            "scopePrefix": auth.scope_prefix,
        },
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def terraform_output(env_dir: Path) -> Mapping[str, Any]:
    """``terraform output -json web`` of the environment in ``env_dir``."""
    terraform = shutil.which("terraform")
    if terraform is None:
        raise DeployError(
            "terraform is not on PATH: run from where you applied, or pass --bucket, "
            "--distribution-id, --region and --url (and --auth-domain, --client-id, --scope)"
        )
    try:
        run = subprocess.run(
            [terraform, f"-chdir={env_dir}", "output", "-json", "web"],
            capture_output=True,
            text=True,
            timeout=OUTPUT_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise DeployError(
            f"terraform output took more than {OUTPUT_TIMEOUT_SECONDS:.0f} s"
        ) from exc
    if run.returncode != 0:
        raise DeployError(f"terraform output -json web failed: {run.stderr.strip()[-500:]}")
    try:
        value = json.loads(run.stdout)
    except json.JSONDecodeError as exc:
        raise DeployError(f"terraform output -json web: not JSON ({exc.msg})") from exc
    if value is None:
        raise DeployError(
            f"{env_dir}: the storefront is off (web = false); set web = true and apply"
        )
    if not isinstance(value, dict):
        raise DeployError("terraform output -json web: expected an object")
    return value


def _prefix_of(scopes: list[str]) -> str:
    """The resource server's prefix ("shop/") the API scopes share, or ""."""
    prefixes = {scope.split("/", 1)[0] + "/" for scope in scopes if "/" in scope}
    return prefixes.pop() if len(prefixes) == 1 else ""


def resolve_target(
    output: Mapping[str, Any] | None,
    *,
    bucket: str | None = None,
    distribution_id: str | None = None,
    region: str | None = None,
    url: str | None = None,
    auth_domain: str | None = None,
    client_id: str | None = None,
    scopes: list[str] | None = None,
) -> Target:
    """A :class:`Target` from flags, filling what they leave out from ``output``."""
    out = output or {}
    site_url = (url or _field(out, "url")).rstrip("/")
    auth: Auth | None
    if auth_domain or client_id or scopes:
        if not (auth_domain and client_id):
            raise DeployError("--auth-domain and --client-id go together (with --scope)")
        _check(_HTTPS_ORIGIN, auth_domain.rstrip("/"), "--auth-domain (https://HOST)")
        base = auth_domain.rstrip("/")
        auth = Auth(
            authorize_endpoint=f"{base}/oauth2/authorize",
            token_endpoint=f"{base}/oauth2/token",
            logout_endpoint=f"{base}/logout",
            client_id=client_id,
            scopes=tuple(scopes or ["openid"]),
            scope_prefix=_prefix_of(scopes or []),
        )
    elif out.get("auth") is not None:
        given = out["auth"]
        if not isinstance(given, dict):
            raise DeployError("terraform output web.auth: expected an object")
        raw_scopes = given.get("scopes")
        if not isinstance(raw_scopes, list) or not all(isinstance(s, str) for s in raw_scopes):
            raise DeployError("terraform output web.auth.scopes: expected a list of strings")
        auth = Auth(
            authorize_endpoint=_field(given, "authorize_endpoint"),
            token_endpoint=_field(given, "token_endpoint"),
            logout_endpoint=_field(given, "logout_endpoint"),
            client_id=_field(given, "client_id"),
            scopes=tuple(raw_scopes),
            scope_prefix=str(given.get("scope_prefix") or _prefix_of(raw_scopes)),
        )
    else:
        auth = None
    return Target(
        bucket=bucket or _field(out, "bucket"),
        distribution_id=distribution_id or _field(out, "distribution_id"),
        region=region or _field(out, "region"),
        url=site_url,
        auth=auth,
    )


def _field(source: Mapping[str, Any], name: str) -> str:
    value = source.get(name)
    if not isinstance(value, str) or not value:
        raise DeployError(f"{name}: missing (not in terraform's web output and no flag given)")
    return value


def _check(pattern: re.Pattern[str], value: str, what: str) -> None:
    if not pattern.fullmatch(value):
        raise DeployError(f"{what}: {value[:200]!r} is not valid")
