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
``MESH_DB_PASSWORD``                      (the password at start-up)
``MESH_DB_PASSWORD_SECRET``               a Secrets Manager secret id/ARN (JSON with ``password``) read
                                          for every new connection, cached; needs ``MESH_DB_HOST``
``MESH_DB_PASSWORD_TTL_SECONDS``          how long that password is cached (default 60)
``MESH_SECRETS_ENDPOINT``                 a Secrets Manager endpoint URL (an emulator); default: AWS
``MESH_DB_SSLMODE``                       PostgreSQL transport security: ``disable``, ``require`` (encrypt,
                                          no certificate check), ``verify-ca``, ``verify-full`` (CA and
                                          host name; use this with RDS); default: the driver's ``prefer``
``MESH_DB_SSL_ROOT_CERT``                 CA bundle (PEM file) that verifies the server, e.g. the RDS bundle
``MESH_DB_SSL_ROOT_CERT_PEM``             the same as PEM content; without either the system CAs are used
``MESH_SHUTDOWN_GRACE_SECONDS``           how long in-flight calls may drain (default 10)
``MESH_SHUTDOWN_LAME_DUCK_SECONDS``       at most this long, after NOT_SERVING, the server keeps taking
                                          calls until they stop arriving (default 2; 0 = off)
``MESH_CALL_TIMEOUT_SECONDS``             default deadline of outbound calls (default 5)
``MESH_MAX_MESSAGE_BYTES``                largest request accepted (default 4 MiB)
``MESH_LOG_LEVEL``                        DEBUG, INFO, WARNING, ERROR (default INFO)
``MESH_ACCESS_LOG``                       one JSON line per call (default true)
``MESH_EVENT_LOOP``                       ``uvloop`` (default) or ``asyncio`` (the standard library's loop)
``MESH_DB_PRE_PING``                      PostgreSQL: a round trip to test each pooled connection before use
                                          (default false: a connection the server closed is replaced
                                          without one)
``MESH_WATCH_POLL_SECONDS``               how often streams re-read state written elsewhere (default 1)
``MESH_RESERVATION_TTL_SECONDS``          inventory: how long a reservation holds stock unless committed
                                          (default 300; keep it well above orders' settle period)
``MESH_RESERVATION_SWEEP_SECONDS``        inventory: how often lapsed reservations are released (default 5)
``MESH_ORDER_SETTLE_SECONDS``             orders: how often pending orders (a process died while creating
                                          them) are settled, and how old they must be first (default 5)
``MESH_WORKFLOW``                         orders: the fulfilment workflow: ``local`` (default: the local
                                          interpreter scripts/run starts), ``stepfunctions`` (AWS) or
                                          ``off`` (orders are CONFIRMED at once, without payment)
``MESH_WORKFLOW_ENDPOINT``                orders: the Step Functions API's URL: for ``local``, default: the
                                          URL the local interpreter writes to ``<data dir>/workflow.url``
                                          when it starts; for ``stepfunctions``, an emulator's
``MESH_WORKFLOW_STATE_MACHINE_ARN``       orders: the state machine (required for ``stepfunctions``)
``MESH_PAYMENT_DEADLINE_SECONDS``         orders: how long an order awaits payment (default 900)
``MESH_FAULT_EXIT_AT``                    a drill only: the process exits at once (code 70) on reaching this
                                          named step (orders: after-reserve, after-write, after-commit)
``MESH_PAGE_TOKEN_KEY``                   key that signs page tokens, at least 32 characters; required
                                          outside local runs (Secrets Manager on AWS); locally one is
                                          generated into ``<data dir>/page-token.key``
``MESH_REGISTRY``                         ``local`` (default: a shared file), ``cloudmap`` or ``static``
``MESH_REGISTRY_FILE``                    the local registry file (default ``<data dir>/registry.json``)
``MESH_CLOUDMAP_NAMESPACE``               the Cloud Map namespace (required for ``cloudmap``)
``MESH_CLOUDMAP_ENDPOINT``                a Cloud Map endpoint URL (an emulator); default: AWS
``AWS_REGION``                            region of the AWS clients (the usual chain otherwise)
``MESH_STATIC_ENDPOINTS``                 ``catalog=10.0.0.5:50051,10.0.0.6:50051;inventory=...`` for ``static``
``MESH_REGISTER``                         register this process (default: true for ``local``; ECS registers
                                          tasks itself, so ``cloudmap`` defaults to false)
``MESH_ADVERTISE_HOST``                   the IPv4 address registered (default: ``MESH_HOST``, or
                                          127.0.0.1 when that is a wildcard)
``MESH_ZONE``                             a ``zone`` attribute on the registration (default ``local``)
``MESH_DISCOVERY_POLL_SECONDS``           how often the cheap revision is polled (default 1)
``MESH_DISCOVERY_REFRESH_SECONDS``        full refresh period, for health changes (default 15)
``MESH_REGISTRY_TTL_SECONDS``             local registry: silence after which an instance expires (3)
``MESH_TLS_CERT`` ``MESH_TLS_KEY``        TLS for every gRPC server and client of the process: its
``MESH_TLS_CA``                           certificate chain, private key and the CA bundle it trusts (PEM
                                          files); all three or none (default: none, plaintext)
``MESH_TLS_CERT_PEM`` ``MESH_TLS_KEY_PEM``  the same as PEM content, for ECS secrets (the root file
``MESH_TLS_CA_PEM``                       system is read-only); each part comes from a path or content
``MESH_TLS_CLIENT_AUTH``                  servers demand a client certificate from the CA (mutual TLS;
                                          default true when TLS is on)
``<SERVICE>_STORE``                       the store adapter, when the service has more than one
                                          (default: its ``store`` in services.yaml)
``<SERVICE>_REDIS_URL``, ``MESH_REDIS_URL``  ``store: redis``: ``redis://`` or ``rediss://`` (TLS) URL, or
                                          ``embedded`` (a SQLite file in the data dir); required outside
                                          local runs. Locally, unset: the Redis on 127.0.0.1:6379 if
                                          one answers, else the embedded file
``MESH_REDIS_PASSWORD``                   the Redis AUTH token (ECS secret from Secrets Manager)
``MESH_REDIS_KEY_PREFIX``                 prefix of every key (default ``<service>:``)
``<SERVICE>_DYNAMODB_TABLE``              ``store: dynamodb``: the table (default ``<service>``)
``MESH_DYNAMODB_ENDPOINT``                a DynamoDB endpoint URL (an emulator); default: AWS
``MESH_REPLICA``                          this process's replica or task id in log lines, spans and
                                          metrics (scripts/run sets 0, 1, ...; on ECS the task id from
                                          the container metadata URI; else the host name)
``MESH_TRACES_EXPORTER``                  where spans go: ``none`` (default: no tracer, costs nothing),
                                          ``otlp-grpc`` or ``otlp-http`` (a collector: the ADOT sidecar
                                          on AWS; otlp-http encodes with mesh.otlp, ``otlp-http-sdk``
                                          with the SDK's exporter), ``file`` (JSON lines in
                                          ``MESH_TRACES_DIR``, what scripts/run uses and ``scripts/trace``
                                          reads)
``MESH_TRACES_ENDPOINT``                  the collector's URL (default ``http://127.0.0.1:4317`` for
                                          otlp-grpc, ``http://127.0.0.1:4318/v1/traces`` for otlp-http)
``MESH_TRACES_SAMPLE_RATIO``              share of new traces recorded, 0 to 1 (default 1); callers
                                          inside the mesh follow the caller's decision
``MESH_TRACES_DIR``                       the ``file`` exporter's directory (default ``<data dir>/traces``)
``MESH_METRICS_PORT``                     Prometheus text endpoint (``/metrics``) on this port; ``0``
                                          picks a free one; unset: none (metrics are still counted)
``MESH_METRICS_HOST``                     its bind address (default ``MESH_HOST``)
========================================  ==========================================
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, urlsplit

from mesh.localkeys import load_or_create
from mesh.loops import EVENT_LOOPS, EventLoop
from mesh.tls import TlsError, TlsSettings
from mesh.topology import STORE_KINDS, ServiceSpec, StoreKind, Topology, load_topology

__all__ = [
    "ConfigError",
    "DbTls",
    "Env",
    "Settings",
    "TelemetrySettings",
    "WorkflowSettings",
    "load_db_pre_ping",
    "load_settings",
    "load_telemetry",
    "load_tls",
    "parse_bool",
    "parse_url",
]

T = TypeVar("T")
K = TypeVar("K", bound=str)
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _one_of(options: tuple[K, ...]) -> Callable[[str], K]:
    """A parser that takes exactly one of ``options`` (typed as the options are)."""

    def parse(value: str) -> K:
        for option in options:
            if value == option:
                return option
        raise ValueError(f"must be one of {', '.join(options)}")

    return parse


class ConfigError(ValueError):
    """A setting is invalid; the message names the environment variable."""


@dataclass(frozen=True, slots=True)
class DbTls:
    """How a PostgreSQL connection is secured (``MESH_DB_SSLMODE``, libpq's mode names)."""

    mode: str
    root_cert: bytes | None = None

    def context(self) -> ssl.SSLContext | bool:
        """What asyncpg's ``ssl`` argument takes: False, or a context that checks as asked.

        ``verify-full`` checks the chain and the host name (the RDS endpoint
        is in the RDS certificate), ``verify-ca`` the chain only, ``require``
        encrypts without checking anything (it stops eavesdroppers, not a
        server in the middle).
        """
        if self.mode == "disable":
            return False
        context = ssl.create_default_context(
            cadata=self.root_cert.decode("ascii") if self.root_cert else None
        )
        if self.mode == "require":
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif self.mode == "verify-ca":
            context.check_hostname = False
        return context


TRACE_EXPORTERS = ("none", "otlp-grpc", "otlp-http", "otlp-http-sdk", "file")
_DEFAULT_ENDPOINTS = {
    "otlp-grpc": "http://127.0.0.1:4317",
    "otlp-http": "http://127.0.0.1:4318/v1/traces",
    "otlp-http-sdk": "http://127.0.0.1:4318/v1/traces",
}


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    """Logs, traces and metrics of one process (``MESH_LOG_LEVEL``, ``MESH_TRACES_*``, ``MESH_METRICS_*``)."""

    service: str = "mesh"
    replica: str = "0"
    log_level: str = "INFO"
    traces_exporter: str = "none"
    traces_endpoint: str = ""
    sample_ratio: float = 1.0
    traces_dir: Path = Path(".data/traces")
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"

    @property
    def tracing(self) -> bool:
        return self.traces_exporter != "none"


@dataclass(frozen=True, slots=True)
class WorkflowSettings:
    """Orders' fulfilment workflow (``MESH_WORKFLOW*``, ``MESH_PAYMENT_DEADLINE_SECONDS``)."""

    kind: str = "off"
    endpoint: str | None = None
    # local: where the interpreter writes its URL when no endpoint is set.
    endpoint_file: Path | None = None
    state_machine_arn: str | None = None
    payment_deadline: float = 900.0


@dataclass(frozen=True, slots=True)
class Settings:
    service: str
    host: str
    port: int
    data_dir: Path
    database_url: str
    shutdown_grace: float
    shutdown_lame_duck: float
    call_timeout: float
    max_message_bytes: int
    log_level: str
    access_log: bool
    watch_poll: float
    page_token_key: bytes
    registry: str = "local"
    registry_file: Path = Path(".data/registry.json")
    cloudmap_namespace: str | None = None
    cloudmap_endpoint: str | None = None
    aws_region: str | None = None
    static_endpoints: str | None = None
    register: bool = True
    advertise_host: str = "127.0.0.1"
    zone: str = "local"
    discovery_poll: float = 1.0
    discovery_refresh: float = 15.0
    registry_ttl: float = 3.0
    dependencies: tuple[str, ...] = field(default_factory=tuple)
    db_password_secret: str | None = None
    db_password_ttl: float = 60.0
    secrets_endpoint: str | None = None
    tls: TlsSettings | None = None
    db_tls: DbTls | None = None
    reservation_ttl: float = 300.0
    reservation_sweep: float = 5.0
    order_settle: float = 5.0
    fault_exit_at: str | None = None
    workflow: WorkflowSettings = field(default_factory=WorkflowSettings)
    store: StoreKind = "sql"
    event_loop: EventLoop = "uvloop"
    db_pre_ping: bool = False
    redis_url: str | None = None
    redis_password: str | None = None
    redis_prefix: str = ""
    dynamodb_table: str = ""
    dynamodb_endpoint: str | None = None

    @property
    def local(self) -> bool:
        """A run on one machine (the local registry): embedded fallbacks are allowed."""
        return self.registry == "local"

    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)

    @property
    def bind(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class Env:
    """Reads and casts variables, naming the variable in every error.

    The one reader of the mesh's settings: the services' and the gateway's.

    ``Env({"MESH_PORT": "x"}).get("MESH_PORT", 0, int)`` raises
    ``ConfigError("MESH_PORT='x' is invalid: ...")``.
    """

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

    def first(self, names: tuple[str, ...], default: T, cast: Callable[[str], T]) -> T:
        """The first of ``names`` that is set (a specific variable, then its fallbacks)."""
        for name in names:
            if self.raw(name) is not None:
                return self.get(name, default, cast)
        return default


_Env = Env


def _positive_float(value: str) -> float:
    number = float(value)
    if not 0 < number <= 3600:
        raise ValueError("must be a number of seconds in (0, 3600]")
    return number


def _pause(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 60:
        raise ValueError("must be a number of seconds in [0, 60]")
    return number


def _ttl(value: str) -> float:
    number = float(value)
    if not 0 < number <= 86400:
        raise ValueError("must be a number of seconds in (0, 86400]")
    return number


_STEP = re.compile(r"[a-z][a-z-]{0,63}")


def _step(value: str) -> str:
    if not _STEP.fullmatch(value):
        raise ValueError("must be a step name such as after-write")
    return value


_WORKFLOWS = ("local", "stepfunctions", "off")
# Where the local interpreter writes its URL, in the data dir (mesh.localworkflow).
WORKFLOW_URL_FILE = "workflow.url"
_STATE_MACHINE_ARN = re.compile(
    r"arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}"
)


_workflow = _one_of(_WORKFLOWS)


def _state_machine_arn(value: str) -> str:
    if not _STATE_MACHINE_ARN.fullmatch(value):
        raise ValueError(
            "must be a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>)"
        )
    return value


def workflow_kind(environ: Mapping[str, str] | _Env) -> str:
    """``MESH_WORKFLOW``: local (the default), stepfunctions or off; the error names it."""
    env = environ if isinstance(environ, _Env) else _Env(environ)
    return env.get("MESH_WORKFLOW", "local", _workflow)


def _workflow_settings(env: _Env, service: str, data_dir: Path) -> WorkflowSettings:
    """Orders' workflow settings; other services have none."""
    if service != "orders":
        return WorkflowSettings()
    kind = workflow_kind(env)
    endpoint = env.get("MESH_WORKFLOW_ENDPOINT", None, parse_url)
    arn = env.get("MESH_WORKFLOW_STATE_MACHINE_ARN", None, _state_machine_arn)
    if kind == "stepfunctions" and arn is None:
        raise ConfigError(
            "MESH_WORKFLOW_STATE_MACHINE_ARN is required when MESH_WORKFLOW=stepfunctions"
        )
    return WorkflowSettings(
        kind,
        endpoint,
        data_dir / WORKFLOW_URL_FILE if kind == "local" and endpoint is None else None,
        arn,
        env.get("MESH_PAYMENT_DEADLINE_SECONDS", 900.0, _ttl),
    )


def _port(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 65535:
        raise ValueError("must be in 0..65535")
    return number


def parse_bool(value: str) -> bool:
    """true/false, 1/0, yes/no, on/off: every boolean setting of every process."""
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


def _registry_kind(value: str) -> str:
    if value not in ("local", "cloudmap", "static"):
        raise ValueError("must be local, cloudmap or static")
    return value


def _ipv4(value: str) -> str:
    return str(ipaddress.IPv4Address(value))


def parse_url(value: str) -> str:
    """An http(s) URL with a host: every endpoint setting of every process."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value


_SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@!-]{1,512}")
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+")


def _secret_id(value: str) -> str:
    if not (_SECRET_ARN.fullmatch(value) or _SECRET_NAME.fullmatch(value)):
        raise ValueError("must be a Secrets Manager secret name or ARN")
    return value


def _db_password_secret(env: _Env, spec: ServiceSpec) -> str | None:
    secret = env.get("MESH_DB_PASSWORD_SECRET", None, _secret_id)
    if secret is None:
        return None
    for name in (f"{spec.name.upper()}_DATABASE_URL", "MESH_DATABASE_URL"):
        if env.raw(name) is not None:
            raise ConfigError(f"MESH_DB_PASSWORD_SECRET cannot be used with {name}")
    if env.raw("MESH_DB_HOST") is None:
        raise ConfigError("MESH_DB_PASSWORD_SECRET needs MESH_DB_HOST (PostgreSQL by parts)")
    return secret


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


MIN_PAGE_TOKEN_KEY = 32


def _page_token_key(env: _Env, spec: ServiceSpec, registry: str, data_dir: Path) -> bytes:
    key = env.raw("MESH_PAGE_TOKEN_KEY")
    if key is not None:
        if len(key) < MIN_PAGE_TOKEN_KEY:
            raise ConfigError(
                f"MESH_PAGE_TOKEN_KEY is too short: at least {MIN_PAGE_TOKEN_KEY} characters"
            )
        return key.encode()
    if spec.store == "none":
        return b""  # lists nothing, so signs no page tokens (the gateway)
    if registry != "local":
        # A guessable default would let anyone forge page tokens on a real deployment.
        raise ConfigError(
            "MESH_PAGE_TOKEN_KEY is required outside local runs (MESH_REGISTRY=local)"
        )
    # Every replica of every service on this machine shares one generated key.
    return load_or_create(data_dir / "page-token.key", lambda: secrets.token_bytes(32))


_TLS_PARTS = (("cert", "MESH_TLS_CERT"), ("key", "MESH_TLS_KEY"), ("ca", "MESH_TLS_CA"))


def _pem(env: _Env, name: str) -> tuple[str, bytes] | None:
    """A TLS part from ``<name>`` (a path) or ``<name>_PEM`` (content): (variable, PEM bytes)."""
    path, content = env.raw(name), env.raw(f"{name}_PEM")
    if path is not None and content is not None:
        raise ConfigError(f"set {name} or {name}_PEM, not both")
    if content is not None:
        # A PEM pasted into a console or a JSON secret often arrives with
        # literal backslash-n instead of line breaks.
        text = content.replace("\\n", "\n") if "\n" not in content else content
        return f"{name}_PEM", text.encode()
    if path is not None:
        try:
            return name, Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{name}={path!r} cannot be read: {exc.strerror or exc}") from None
    return None


def load_tls(environ: Mapping[str, str] | None = None) -> TlsSettings | None:
    """TLS for gRPC from ``MESH_TLS_*``, or None (plaintext); raises ConfigError naming the variable."""
    env = _Env(os.environ if environ is None else environ)
    parts = {part: _pem(env, name) for part, name in _TLS_PARTS}
    given = {part: found for part, found in parts.items() if found is not None}
    if not given:
        if env.raw("MESH_TLS_CLIENT_AUTH") is not None:
            raise ConfigError(
                "MESH_TLS_CLIENT_AUTH needs MESH_TLS_CERT, MESH_TLS_KEY and MESH_TLS_CA"
            )
        return None
    missing = [f"{name} (or {name}_PEM)" for part, name in _TLS_PARTS if part not in given]
    if missing:
        raise ConfigError(
            f"TLS needs a certificate, a key and a CA: {', '.join(missing)} is not set"
        )
    client_auth = env.get("MESH_TLS_CLIENT_AUTH", True, parse_bool)
    try:
        return TlsSettings(
            given["cert"][1], given["key"][1], given["ca"][1], client_auth=client_auth
        )
    except TlsError as exc:
        raise ConfigError(f"{given[exc.part][0]}: {exc}") from None


_SSLMODES = ("disable", "require", "verify-ca", "verify-full")


_sslmode = _one_of(_SSLMODES)


def _db_tls(env: _Env, database_url: str) -> DbTls | None:
    mode = env.get("MESH_DB_SSLMODE", None, _sslmode)
    root = _pem(env, "MESH_DB_SSL_ROOT_CERT")
    if mode is None:
        if root is not None:
            raise ConfigError(f"{root[0]} needs MESH_DB_SSLMODE=verify-ca or verify-full")
        return None
    if root is not None and mode in ("disable", "require"):
        raise ConfigError(f"{root[0]} needs MESH_DB_SSLMODE=verify-ca or verify-full, not {mode}")
    query = database_url.partition("?")[2]
    if re.search(r"(^|&)(ssl|sslmode)=", query):
        raise ConfigError("MESH_DB_SSLMODE cannot be used with ssl or sslmode in the database URL")
    tls = DbTls(mode, root[1] if root else None)
    try:
        tls.context()
    except (ssl.SSLError, ValueError) as exc:
        assert root is not None  # only a bad root certificate fails here
        raise ConfigError(f"{root[0]}: not a PEM CA bundle ({exc})") from None
    return tls


_event_loop = _one_of(EVENT_LOOPS)
_store_kind = _one_of(STORE_KINDS)


def _redis_url(value: str) -> str:
    if value != "embedded" and not value.startswith(("redis://", "rediss://")):
        raise ValueError("must be a redis:// or rediss:// URL, or embedded")
    return value


_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")


def _table_name(value: str) -> str:
    if not _TABLE_NAME.fullmatch(value):
        raise ValueError("must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)")
    return value


def _redis_settings(env: _Env, spec: ServiceSpec, registry: str) -> str | None:
    own = f"{spec.name.upper()}_REDIS_URL"
    url = env.get(own, None, _redis_url) or env.get("MESH_REDIS_URL", None, _redis_url)
    if url is None and registry != "local":
        raise ConfigError(f"{own} or MESH_REDIS_URL is required outside local runs")
    return url


def _ratio(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError("must be a number from 0 to 1")
    return number


def _exporter(value: str) -> str:
    lowered = value.strip().lower()
    if lowered not in TRACE_EXPORTERS:
        raise ValueError(f"must be one of {', '.join(TRACE_EXPORTERS)}")
    return lowered


def _replica(env: Env) -> str:
    explicit = env.raw("MESH_REPLICA")
    if explicit is not None:
        return explicit
    # On ECS: http://169.254.170.2/v4/<task id>-<container number>; the task id names the task.
    metadata = env.raw("ECS_CONTAINER_METADATA_URI_V4")
    if metadata is not None:
        return metadata.rstrip("/").rsplit("/", 1)[-1].split("-", 1)[0]
    import socket

    return socket.gethostname()


def load_telemetry(
    service: str, environ: Mapping[str, str] | None = None, *, data_dir: Path | None = None
) -> TelemetrySettings:
    """Logs, traces and metrics settings of a process; raises ConfigError naming the variable."""
    env = Env(os.environ if environ is None else environ)
    data_dir = data_dir or Path(env.get("MESH_DATA_DIR", ".data", str)).resolve()
    exporter = env.get("MESH_TRACES_EXPORTER", "none", _exporter)
    endpoint = env.get("MESH_TRACES_ENDPOINT", _DEFAULT_ENDPOINTS.get(exporter, ""), parse_url)
    return TelemetrySettings(
        service=service,
        replica=_replica(env),
        log_level=env.get("MESH_LOG_LEVEL", "INFO", _log_level),
        traces_exporter=exporter,
        traces_endpoint=endpoint,
        sample_ratio=env.get("MESH_TRACES_SAMPLE_RATIO", 1.0, _ratio),
        traces_dir=Path(env.get("MESH_TRACES_DIR", str(data_dir / "traces"), str)),
        metrics_port=env.get("MESH_METRICS_PORT", None, _port),
        metrics_host=env.get("MESH_METRICS_HOST", env.get("MESH_HOST", "127.0.0.1", str), str),
    )


def load_db_pre_ping(environ: Mapping[str, str] | None = None) -> bool:
    """``MESH_DB_PRE_PING``: a service's setting, and the orders bench's one-process baseline's."""
    return _Env(os.environ if environ is None else environ).get(
        "MESH_DB_PRE_PING", False, parse_bool
    )


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
    registry = env.get("MESH_REGISTRY", "local", _registry_kind)
    namespace = env.raw("MESH_CLOUDMAP_NAMESPACE")
    if registry == "cloudmap" and namespace is None:
        raise ConfigError("MESH_CLOUDMAP_NAMESPACE is required when MESH_REGISTRY=cloudmap")
    static = env.raw("MESH_STATIC_ENDPOINTS")
    if registry == "static" and static is None and spec.depends_on:
        raise ConfigError("MESH_STATIC_ENDPOINTS is required when MESH_REGISTRY=static")
    host = env.get("MESH_HOST", "127.0.0.1", str)
    wildcard = host in ("0.0.0.0", "::", "")
    poll = env.get("MESH_DISCOVERY_POLL_SECONDS", 1.0, _positive_float)
    refresh = env.get("MESH_DISCOVERY_REFRESH_SECONDS", max(15.0, poll), _positive_float)
    if refresh < poll:
        raise ConfigError("MESH_DISCOVERY_REFRESH_SECONDS must be >= MESH_DISCOVERY_POLL_SECONDS")
    database_url = _database_url(env, spec, data_dir)
    store = env.get(f"{service.upper()}_STORE", spec.store, _store_kind)
    return Settings(
        service=service,
        host=host,
        port=env.get("MESH_PORT", spec.port, _port),
        data_dir=data_dir,
        database_url=database_url,
        shutdown_grace=env.get("MESH_SHUTDOWN_GRACE_SECONDS", 10.0, _positive_float),
        shutdown_lame_duck=env.get("MESH_SHUTDOWN_LAME_DUCK_SECONDS", 2.0, _pause),
        call_timeout=env.get("MESH_CALL_TIMEOUT_SECONDS", 5.0, _positive_float),
        max_message_bytes=env.get("MESH_MAX_MESSAGE_BYTES", 4 * 1024 * 1024, _message_bytes),
        log_level=env.get("MESH_LOG_LEVEL", "INFO", _log_level),
        access_log=env.get("MESH_ACCESS_LOG", True, parse_bool),
        watch_poll=env.get("MESH_WATCH_POLL_SECONDS", 1.0, _positive_float),
        page_token_key=_page_token_key(env, spec, registry, data_dir),
        registry=registry,
        registry_file=Path(env.get("MESH_REGISTRY_FILE", str(data_dir / "registry.json"), str)),
        cloudmap_namespace=namespace,
        cloudmap_endpoint=env.get("MESH_CLOUDMAP_ENDPOINT", None, parse_url),
        aws_region=env.raw("AWS_REGION") or env.raw("AWS_DEFAULT_REGION"),
        static_endpoints=static,
        register=env.get("MESH_REGISTER", registry == "local", parse_bool),
        advertise_host=env.get("MESH_ADVERTISE_HOST", "127.0.0.1" if wildcard else host, _ipv4),
        zone=env.get("MESH_ZONE", "local", str),
        discovery_poll=poll,
        discovery_refresh=refresh,
        registry_ttl=env.get("MESH_REGISTRY_TTL_SECONDS", 3.0, _positive_float),
        dependencies=spec.depends_on,
        db_password_secret=_db_password_secret(env, spec),
        db_password_ttl=env.get("MESH_DB_PASSWORD_TTL_SECONDS", 60.0, _positive_float),
        secrets_endpoint=env.get("MESH_SECRETS_ENDPOINT", None, parse_url),
        tls=load_tls(environ),
        db_tls=_db_tls(env, database_url),
        reservation_ttl=env.get("MESH_RESERVATION_TTL_SECONDS", 300.0, _ttl),
        reservation_sweep=env.get("MESH_RESERVATION_SWEEP_SECONDS", 5.0, _positive_float),
        order_settle=env.get("MESH_ORDER_SETTLE_SECONDS", 5.0, _positive_float),
        fault_exit_at=env.get("MESH_FAULT_EXIT_AT", None, _step),
        workflow=_workflow_settings(env, service, data_dir),
        store=store,
        event_loop=env.get("MESH_EVENT_LOOP", "uvloop", _event_loop),
        db_pre_ping=load_db_pre_ping(environ),
        redis_url=_redis_settings(env, spec, registry) if store == "redis" else None,
        redis_password=env.raw("MESH_REDIS_PASSWORD"),
        redis_prefix=env.get("MESH_REDIS_KEY_PREFIX", f"{service}:", str),
        dynamodb_table=env.get(f"{service.upper()}_DYNAMODB_TABLE", service, _table_name),
        dynamodb_endpoint=env.get("MESH_DYNAMODB_ENDPOINT", None, parse_url),
        telemetry=load_telemetry(service, environ, data_dir=data_dir),
    )
