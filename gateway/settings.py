"""Gateway settings: read once from ``MESH_GATEWAY_*`` environment variables.

The listen address and port fall back to the generic ``MESH_HOST`` and
``MESH_PORT`` that the ECS task definition and the local runner set for every
container.

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
| MESH_GATEWAY_LOG_LEVEL | info | gateway log level |
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["API_GATEWAY_LIMIT_SECONDS", "Settings", "SettingsError"]

PREFIX = "MESH_GATEWAY_"
GENERIC_PREFIX = "MESH_"
# Amazon API Gateway gives up on an integration after 30 s; our deadline must
# fire first so the client sees a clean 504 with a JSON body, not API Gateway's.
API_GATEWAY_LIMIT_SECONDS = 30.0
# ECS waits at most 120 s (stopTimeout) between SIGTERM and SIGKILL.
MAX_DRAIN_SECONDS = 120.0
T = TypeVar("T")


class SettingsError(ValueError):
    """A setting is malformed; the message names the environment variable."""


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

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, default_port: int = 8080
    ) -> Settings:
        env = os.environ if environ is None else environ

        def get(
            name: str,
            cast: Callable[[str], T],
            default: T,
            *,
            generic: bool = False,
            fallback: str | None = None,
        ) -> T:
            variable = PREFIX + name
            raw = env.get(variable)
            if (raw is None or raw == "") and (generic or fallback):
                variable = fallback or GENERIC_PREFIX + name
                raw = env.get(variable)
            if raw is None or raw == "":
                return default
            try:
                return cast(raw)
            except ValueError:
                raise SettingsError(f"{variable}: cannot read {raw!r}") from None

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
            access_log=get("ACCESS_LOG", _boolean, cls.access_log),
            log_level=get("LOG_LEVEL", str.lower, cls.log_level),
        )


def _port(raw: str) -> int:
    port = int(raw)
    if not 1 <= port <= 65535:
        raise ValueError(raw)
    return port


def _header_list(raw: str) -> tuple[str, ...]:
    return tuple(h.strip().lower() for h in raw.split(",") if h.strip())


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)
