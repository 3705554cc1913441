"""Typed settings, read once from the environment and validated at start-up.

Every variable is optional locally; a bad value fails start-up with a message
that names the variable. ``<SERVICE>`` below is the service name upper-cased.

========================================  ==========================================
``MESH_HOST``                             bind address (default ``127.0.0.1``; ``0.0.0.0`` on ECS)
``MESH_PORT``                             listen port (default: the service's port in services.yaml;
                                          ``0`` picks a free one)
``MESH_DATA_DIR``                         local state: SQLite files, the registry file (default ``.data``)
``<SERVICE>_DATABASE_URL``                this service's database (SQLAlchemy URL)
``MESH_DATABASE_URL``                     shared fallback for every service
``MESH_DB_HOST`` ``MESH_DB_PORT``         PostgreSQL by parts (ECS injects these as secrets);
``MESH_DB_NAME`` ``MESH_DB_USER``         the database name defaults to the service name
``MESH_DB_PASSWORD``
``MESH_SHUTDOWN_GRACE_SECONDS``           how long in-flight calls may drain (default 10)
``MESH_CALL_TIMEOUT_SECONDS``             default deadline of outbound calls (default 5)
``MESH_MAX_MESSAGE_BYTES``                largest request accepted (default 4 MiB)
``MESH_LOG_LEVEL``                        DEBUG, INFO, WARNING, ERROR (default INFO)
``MESH_ACCESS_LOG``                       one JSON line per call (default true)
``MESH_WATCH_POLL_SECONDS``               how often streams re-read state written elsewhere (default 1)
``MESH_PAGE_TOKEN_KEY``                   key that signs page tokens (default: derived from the service name)
``MESH_<DEP>_ADDR``                       where a dependency listens (default ``127.0.0.1:<its port>``)
========================================  ==========================================
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from mesh.topology import ServiceSpec, Topology, load_topology

__all__ = ["ConfigError", "Settings", "load_settings"]

T = TypeVar("T")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(ValueError):
    """A setting is invalid; the message names the environment variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    service: str
    host: str
    port: int
    data_dir: Path
    database_url: str
    shutdown_grace: float
    call_timeout: float
    max_message_bytes: int
    log_level: str
    access_log: bool
    watch_poll: float
    page_token_key: bytes
    dependency_addrs: Mapping[str, str] = field(default_factory=dict)

    @property
    def bind(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class _Env:
    """Reads and casts variables, naming the variable in every error."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        return value if value not in (None, "") else None

    def get(self, name: str, default: T, cast: Callable[[str], T], check: str = "") -> T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return cast(value)
        except (TypeError, ValueError) as exc:
            hint = f" ({check})" if check else ""
            raise ConfigError(f"{name}={value!r} is invalid{hint}: {exc}") from None


def _positive_float(value: str) -> float:
    number = float(value)
    if not 0 < number <= 3600:
        raise ValueError("must be a number of seconds in (0, 3600]")
    return number


def _port(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 65535:
        raise ValueError("must be in 0..65535")
    return number


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _log_level(value: str) -> str:
    upper = value.strip().upper()
    if upper not in _LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
    return upper


def _message_bytes(value: str) -> int:
    number = int(value)
    if not 1024 <= number <= 64 * 1024 * 1024:
        raise ValueError("must be between 1 KiB and 64 MiB")
    return number


def _addr(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("must be host:port")
    return value


def _database_url(env: _Env, spec: ServiceSpec, data_dir: Path) -> str:
    own = f"{spec.name.upper()}_DATABASE_URL"
    for name in (own, "MESH_DATABASE_URL"):
        url = env.raw(name)
        if url is not None:
            if "://" not in url:
                raise ConfigError(
                    f"{name} must be a SQLAlchemy URL such as postgresql+asyncpg://..."
                )
            return url
    host = env.raw("MESH_DB_HOST")
    if host is not None:
        port = env.get("MESH_DB_PORT", 5432, _port)
        user = env.raw("MESH_DB_USER")
        if user is None:
            raise ConfigError("MESH_DB_USER is required when MESH_DB_HOST is set")
        password = env.raw("MESH_DB_PASSWORD") or ""
        name = env.raw("MESH_DB_NAME") or spec.name
        auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
        return f"postgresql+asyncpg://{auth}@{host}:{port}/{quote(name, safe='')}"
    return f"sqlite+aiosqlite:///{data_dir / (spec.name + '.db')}"


def load_settings(
    service: str,
    environ: Mapping[str, str] | None = None,
    topology: Topology | None = None,
) -> Settings:
    """Build the settings of one service process; raises ConfigError naming the variable."""
    env = _Env(os.environ if environ is None else environ)
    topology = topology or load_topology()
    spec = topology[service]
    data_dir = Path(env.get("MESH_DATA_DIR", ".data", str)).resolve()
    deps = {
        dep: env.get(f"MESH_{dep.upper()}_ADDR", f"127.0.0.1:{topology[dep].port}", _addr)
        for dep in spec.depends_on
    }
    return Settings(
        service=service,
        host=env.get("MESH_HOST", "127.0.0.1", str),
        port=env.get("MESH_PORT", spec.port, _port),
        data_dir=data_dir,
        database_url=_database_url(env, spec, data_dir),
        shutdown_grace=env.get("MESH_SHUTDOWN_GRACE_SECONDS", 10.0, _positive_float),
        call_timeout=env.get("MESH_CALL_TIMEOUT_SECONDS", 5.0, _positive_float),
        max_message_bytes=env.get("MESH_MAX_MESSAGE_BYTES", 4 * 1024 * 1024, _message_bytes),
        log_level=env.get("MESH_LOG_LEVEL", "INFO", _log_level),
        access_log=env.get("MESH_ACCESS_LOG", True, _bool),
        watch_poll=env.get("MESH_WATCH_POLL_SECONDS", 1.0, _positive_float),
        page_token_key=env.get("MESH_PAGE_TOKEN_KEY", f"shop-{service}", str).encode(),
        dependency_addrs=deps,
    )
