"""Gateway settings: read once from ``MESH_GATEWAY_*`` environment variables.

They are read by the mesh's one settings reader (:class:`mesh.config.Env`,
errors are :class:`mesh.config.ConfigError` naming the variable); what every
process shares (registry, TLS, logs, traces, metrics: ``MESH_*``) is in
:mod:`mesh.config`, and :func:`gateway.app.create_app` takes both. The listen
address and port fall back to the generic ``MESH_HOST`` and ``MESH_PORT`` that
the ECS task definition and the local runner set for every container.

| variable | default | meaning |
|---|---|---|
| MESH_GATEWAY_HOST | MESH_HOST, else 127.0.0.1 | listen address (ECS sets MESH_HOST=0.0.0.0) |
| MESH_GATEWAY_PORT | MESH_PORT, else the gateway's port in services.yaml, else 8080 | listen port |
| MESH_GATEWAY_WORKERS | 1 | server worker processes |
| MESH_GATEWAY_MAX_BODY_BYTES | 1048576 | larger request bodies get 413 |
| MESH_GATEWAY_DEFAULT_TIMEOUT | 15 | seconds; deadline when no Grpc-Timeout header |
| MESH_GATEWAY_MAX_TIMEOUT | 29 | seconds; Grpc-Timeout is capped here (API Gateway stops at 30) |
| MESH_GATEWAY_FORWARD_HEADERS | (empty) | extra headers forwarded as metadata (comma-separated) |
| MESH_GATEWAY_DRAIN_SECONDS | 5 | on SIGTERM, /readyz reports 503 this long while serving, before shutdown starts (0: no drain) |
| MESH_GATEWAY_GRACE_SECONDS | MESH_SHUTDOWN_GRACE_SECONDS, else 20 | then in-flight requests get this long |
| MESH_GATEWAY_ACCESS_LOG | true | one JSON line per request on stdout |
| MESH_GATEWAY_LOG_LEVEL | MESH_LOG_LEVEL, else info | gateway log level |
| MESH_GATEWAY_AUTH | jwt | `jwt`: bearer tokens verified against the issuer's JWKS; `none`: no token is accepted, only anonymous routes answer |
| MESH_GATEWAY_JWT_ISSUER | (required with jwt) | the `iss` tokens must carry |
| MESH_GATEWAY_JWKS_URL | (required with jwt) | http(s) URL of the issuer's JSON Web Key Set |
| MESH_GATEWAY_JWT_AUDIENCE | (required with jwt) | the `aud` tokens must carry (or `client_id`, for Cognito access tokens) |
| MESH_GATEWAY_JWT_ALGORITHMS | RS256,ES256 | allowed signature algorithms (asymmetric only) |
| MESH_GATEWAY_JWT_LEEWAY_SECONDS | 30 | clock skew allowed on `exp` and `nbf` (0-300) |
| MESH_GATEWAY_JWT_SCOPE_PREFIX | (empty) | stripped from scopes (Cognito writes `shop/orders.read`) |
| MESH_GATEWAY_JWKS_REFRESH_SECONDS | 300 | background refresh of the key set |
| MESH_GATEWAY_JWKS_MIN_REFETCH_SECONDS | 30 | at most one fetch this often for an unknown `kid` |
| MESH_GATEWAY_JWT_CACHE_SIZE | 10000 | verified tokens remembered until they expire (0: verify every request) |
| MESH_GATEWAY_OAUTH_AUTHORIZE_URL, MESH_GATEWAY_OAUTH_TOKEN_URL | (empty) | the issuer's OAuth2 endpoints, shown in the OpenAPI document |
| MESH_GATEWAY_OAUTH_LOGOUT_URL | (empty) | the issuer's sign-out endpoint, for the storefront's `/config.json` |
| MESH_GATEWAY_WEB_ROOT | (empty) | a built storefront (`web/dist`) to serve at `/` (gateway/web.py); empty: none |
| MESH_GATEWAY_WEB_CLIENT_ID | (empty) | the storefront's OAuth client id, for its `/config.json` |
| MESH_GATEWAY_RATE_LIMIT_RPS | 50 | sustained requests per second per client (subject, else address); 0: off |
| MESH_GATEWAY_RATE_LIMIT_BURST | 100 | requests a client may send at once |
| MESH_GATEWAY_TRUSTED_PROXIES | 0 | proxies in front that append X-Forwarded-For (1 behind API Gateway) |
| MESH_GATEWAY_STREAM_HEARTBEAT_SECONDS | 15 | a stream silent this long gets a heartbeat line (`{}` in NDJSON, `: keep-alive` in SSE); under 300, API Gateway's idle timeout for streams |
| MESH_GATEWAY_STREAM_TIMEOUT | 840 | seconds; deadline of server-streaming calls (a watch), under the 900 s a REST API streams at most |
| MESH_GATEWAY_KEEP_ALIVE_SECONDS | 75 | an idle client connection is closed after this long; above what a proxy in front keeps idle connections for (so the proxy closes first), under the 350 s a Network Load Balancer tracks an idle flow |
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gateway.auth import ASYMMETRIC, JwtSettings
from mesh.config import ConfigError, Env, parse_bool, parse_url

__all__ = ["API_GATEWAY_LIMIT_SECONDS", "Settings", "SettingsError"]

PREFIX = "MESH_GATEWAY_"
GENERIC_PREFIX = "MESH_"
# Amazon API Gateway gives up on an integration after 30 s; our deadline must
# fire first so the client sees a clean 504 with a JSON body, not API Gateway's.
API_GATEWAY_LIMIT_SECONDS = 30.0
# ECS waits at most 120 s (stopTimeout) between SIGTERM and SIGKILL.
MAX_DRAIN_SECONDS = 120.0
# A REST API with response streaming cuts a stream after 15 minutes, and one
# idle for 5 minutes (regional endpoint).
STREAM_LIMIT_SECONDS = 900.0
STREAM_IDLE_LIMIT_SECONDS = 300.0
# A Network Load Balancer forgets an idle TCP flow after 350 s (its default).
NLB_IDLE_SECONDS = 350.0
T = TypeVar("T")


# One error for every process's settings: a ConfigError names the variable.
SettingsError = ConfigError


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_body_bytes: int = 1 << 20
    default_timeout: float = 15.0
    max_timeout: float = 29.0
    forward_headers: tuple[str, ...] = ()
    drain_seconds: float = 5.0
    grace_seconds: float = 20.0
    access_log: bool = True
    log_level: str = "info"
    # None: no token is accepted (only anonymous routes answer), never "everyone is admin".
    jwt: JwtSettings | None = None
    oauth_authorize_url: str = ""
    oauth_token_url: str = ""
    oauth_logout_url: str = ""
    web_root: str = ""
    web_client_id: str = ""
    rate_limit_rps: float = 50.0
    rate_limit_burst: int = 100
    trusted_proxies: int = 0
    stream_heartbeat_seconds: float = 15.0
    stream_timeout: float = 840.0
    keep_alive_seconds: float = 75.0
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise SettingsError(f"{PREFIX}PORT: {self.port} is not a port")
        if not 1 <= self.workers <= 64:
            raise SettingsError(f"{PREFIX}WORKERS: must be 1..64, got {self.workers}")
        if self.max_body_bytes < 1:
            raise SettingsError(f"{PREFIX}MAX_BODY_BYTES: must be positive")
        for name, value in (
            ("DEFAULT_TIMEOUT", self.default_timeout),
            ("MAX_TIMEOUT", self.max_timeout),
        ):
            if not 0 < value < API_GATEWAY_LIMIT_SECONDS:
                raise SettingsError(
                    f"{PREFIX}{name}: must be above 0 and under {API_GATEWAY_LIMIT_SECONDS:g} s"
                    f" (API Gateway's integration limit), got {value:g}"
                )
        if self.default_timeout > self.max_timeout:
            raise SettingsError(f"{PREFIX}DEFAULT_TIMEOUT: above {PREFIX}MAX_TIMEOUT")
        if not 0 <= self.drain_seconds <= MAX_DRAIN_SECONDS:
            raise SettingsError(
                f"{PREFIX}DRAIN_SECONDS: must be 0 (no drain) to {MAX_DRAIN_SECONDS:g},"
                f" got {self.drain_seconds:g}"
            )
        if self.log_level not in ("debug", "info", "warning", "error"):
            raise SettingsError(f"{PREFIX}LOG_LEVEL: debug, info, warning or error")
        if not 0 <= self.rate_limit_rps <= 1e6:
            raise SettingsError(f"{PREFIX}RATE_LIMIT_RPS: must be 0 (off) to 1000000")
        if not 1 <= self.rate_limit_burst <= 1_000_000:
            raise SettingsError(f"{PREFIX}RATE_LIMIT_BURST: must be 1 to 1000000")
        if not 0 <= self.trusted_proxies <= 10:
            raise SettingsError(f"{PREFIX}TRUSTED_PROXIES: must be 0 to 10")
        if not 0 < self.stream_heartbeat_seconds < STREAM_IDLE_LIMIT_SECONDS:
            raise SettingsError(
                f"{PREFIX}STREAM_HEARTBEAT_SECONDS: must be above 0 and under"
                f" {STREAM_IDLE_LIMIT_SECONDS:g} (API Gateway's idle timeout for streams),"
                f" got {self.stream_heartbeat_seconds:g}"
            )
        if not self.stream_heartbeat_seconds < self.stream_timeout < STREAM_LIMIT_SECONDS:
            raise SettingsError(
                f"{PREFIX}STREAM_TIMEOUT: must be above {PREFIX}STREAM_HEARTBEAT_SECONDS and"
                f" under {STREAM_LIMIT_SECONDS:g} (the longest stream a REST API allows),"
                f" got {self.stream_timeout:g}"
            )
        if not 1 <= self.keep_alive_seconds < NLB_IDLE_SECONDS:
            raise SettingsError(
                f"{PREFIX}KEEP_ALIVE_SECONDS: must be 1 to under {NLB_IDLE_SECONDS:g}"
                f" (a load balancer's idle flow timeout), got {self.keep_alive_seconds:g}"
            )
        if self.jwt is not None:
            _check_jwt(self.jwt)
        for header in self.forward_headers:
            if header.startswith("x-mesh-") or header in ("authorization", "cookie"):
                raise SettingsError(
                    f"{PREFIX}FORWARD_HEADERS: {header!r} is never forwarded "
                    "(credentials stay at the gateway; x-mesh-* is the mesh's own)"
                )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, default_port: int = 8080
    ) -> Settings:
        get = _Reader(os.environ if environ is None else environ).get

        return cls(
            host=get("HOST", str, cls.host, generic=True),
            port=get("PORT", _port, default_port, generic=True),
            workers=get("WORKERS", int, cls.workers),
            max_body_bytes=get("MAX_BODY_BYTES", int, cls.max_body_bytes),
            default_timeout=get("DEFAULT_TIMEOUT", float, cls.default_timeout),
            max_timeout=get("MAX_TIMEOUT", float, cls.max_timeout),
            forward_headers=get("FORWARD_HEADERS", _header_list, ()),
            drain_seconds=get("DRAIN_SECONDS", float, cls.drain_seconds),
            # The mesh-wide drain grace (set on ECS for every task) when not set here.
            grace_seconds=get(
                "GRACE_SECONDS", float, cls.grace_seconds, fallback="MESH_SHUTDOWN_GRACE_SECONDS"
            ),
            access_log=get("ACCESS_LOG", parse_bool, cls.access_log),
            log_level=get("LOG_LEVEL", str.lower, cls.log_level, fallback="MESH_LOG_LEVEL"),
            jwt=_jwt_from_env(get),
            oauth_authorize_url=get("OAUTH_AUTHORIZE_URL", parse_url, ""),
            oauth_token_url=get("OAUTH_TOKEN_URL", parse_url, ""),
            oauth_logout_url=get("OAUTH_LOGOUT_URL", parse_url, ""),
            web_root=get("WEB_ROOT", str.strip, ""),
            web_client_id=get("WEB_CLIENT_ID", str.strip, ""),
            rate_limit_rps=get("RATE_LIMIT_RPS", float, cls.rate_limit_rps),
            rate_limit_burst=get("RATE_LIMIT_BURST", int, cls.rate_limit_burst),
            trusted_proxies=get("TRUSTED_PROXIES", int, cls.trusted_proxies),
            stream_heartbeat_seconds=get(
                "STREAM_HEARTBEAT_SECONDS", float, cls.stream_heartbeat_seconds
            ),
            stream_timeout=get("STREAM_TIMEOUT", float, cls.stream_timeout),
            keep_alive_seconds=get("KEEP_ALIVE_SECONDS", float, cls.keep_alive_seconds),
        )


class _Reader:
    """Reads ``MESH_GATEWAY_<name>`` (then its generic fallback) through the mesh's reader."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = Env(env)

    def get(
        self,
        name: str,
        cast: Callable[[str], T],
        default: T,
        *,
        generic: bool = False,
        fallback: str | None = None,
    ) -> T:
        names: tuple[str, ...] = (PREFIX + name,)
        if generic or fallback:
            names += (fallback or GENERIC_PREFIX + name,)
        return self.env.first(names, default, cast)


def _jwt_from_env(get: Callable[..., Any]) -> JwtSettings | None:
    mode = get("AUTH", str.lower, "jwt").strip()
    if mode == "none":
        return None
    if mode != "jwt":
        raise SettingsError(f"{PREFIX}AUTH: jwt or none, got {mode!r}")
    required = {}
    for name in ("JWT_ISSUER", "JWKS_URL", "JWT_AUDIENCE"):
        value = get(name, str.strip, "")
        if not value:
            raise SettingsError(
                f"{PREFIX}{name} is required when {PREFIX}AUTH=jwt (the default); "
                f"set it, or {PREFIX}AUTH=none to serve anonymous routes only"
            )
        required[name] = value
    defaults = JwtSettings("", "", "")
    return JwtSettings(
        issuer=required["JWT_ISSUER"],
        jwks_url=_url_or_fail(PREFIX + "JWKS_URL", required["JWKS_URL"]),
        audience=required["JWT_AUDIENCE"],
        algorithms=get("JWT_ALGORITHMS", _algorithms, defaults.algorithms),
        leeway=get("JWT_LEEWAY_SECONDS", float, defaults.leeway),
        scope_prefix=get("JWT_SCOPE_PREFIX", str, ""),
        jwks_refresh=get("JWKS_REFRESH_SECONDS", float, defaults.jwks_refresh),
        jwks_min_refetch=get("JWKS_MIN_REFETCH_SECONDS", float, defaults.jwks_min_refetch),
        cache_size=get("JWT_CACHE_SIZE", int, defaults.cache_size),
    )


def _check_jwt(jwt: JwtSettings) -> None:
    if not 0 <= jwt.leeway <= 300:
        raise SettingsError(f"{PREFIX}JWT_LEEWAY_SECONDS: must be 0 to 300")
    if not 10 <= jwt.jwks_refresh <= 86400:
        raise SettingsError(f"{PREFIX}JWKS_REFRESH_SECONDS: must be 10 to 86400")
    if not 1 <= jwt.jwks_min_refetch <= jwt.jwks_refresh:
        raise SettingsError(
            f"{PREFIX}JWKS_MIN_REFETCH_SECONDS: must be 1 to {PREFIX}JWKS_REFRESH_SECONDS"
        )
    if not 0 <= jwt.cache_size <= 1_000_000:
        raise SettingsError(f"{PREFIX}JWT_CACHE_SIZE: must be 0 (off) to 1000000")
    if not jwt.algorithms or not set(jwt.algorithms) <= ASYMMETRIC:
        raise SettingsError(
            f"{PREFIX}JWT_ALGORITHMS: asymmetric algorithms only ({', '.join(sorted(ASYMMETRIC))})"
        )


def _algorithms(raw: str) -> tuple[str, ...]:
    names = tuple(a.strip() for a in raw.split(",") if a.strip())
    if not names or not set(names) <= ASYMMETRIC:
        # "none" and HMAC would let a forger or a holder of the public key sign.
        raise ValueError(raw)
    return names


def _url_or_fail(variable: str, raw: str) -> str:
    try:
        return parse_url(raw)
    except ValueError:
        raise SettingsError(f"{variable}: must be an http(s) URL, got {raw!r}") from None


def _port(raw: str) -> int:
    port = int(raw)
    if not 1 <= port <= 65535:
        raise ValueError(raw)
    return port


def _header_list(raw: str) -> tuple[str, ...]:
    return tuple(h.strip().lower() for h in raw.split(",") if h.strip())
