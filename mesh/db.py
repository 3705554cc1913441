"""Databases: one per service, SQLite by default, PostgreSQL by URL.

:class:`Database` is a server lifecycle: it creates the database if needed,
applies the service's Alembic migrations and closes the engine after the
server drained. Migrations also run on their own with ``python -m mesh.migrate``.

With a :class:`PasswordSource` (``MESH_DB_PASSWORD_SECRET``, see
:mod:`mesh.dbsecret`) every new connection takes the source's current
password instead of the one in the URL, and a connection refused for a wrong
password (SQLSTATE 28P01) refreshes the source once and tries again. Pooled
connections stay as they are: PostgreSQL checks the password at log-in only.

``ssl_context`` is what :meth:`mesh.config.DbTls.context` makes of
``MESH_DB_SSLMODE``: every PostgreSQL connection (the pool's and the one that
creates the database) uses it; None leaves the driver's default (``prefer``).

Started by a server, the database reports its pool to the server's metrics and,
with tracing on, makes a CLIENT span per statement under the current call's span
(:func:`trace_statements`); statements are parameterised, so no value is in a span.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util.concurrency import await_only, in_greenlet

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from mesh.server import MeshServer

__all__ = [
    "Database",
    "PasswordSource",
    "create_engine",
    "ensure_database",
    "is_auth_failure",
    "migrate",
    "reader",
    "redact",
    "replace_closed",
    "trace_statements",
    "use_password_source",
]

log = logging.getLogger("mesh.db")

# PostgreSQL connections per engine (per service process): RDS's max_connections
# bounds this times the tasks of every sql service.
POOL_SIZE = 10
# The execution option that marks reader()'s SQLite transactions as reads.
_READ_ONLY = "mesh_read_only"

# invalid_password, invalid_authorization_specification
_AUTH_SQLSTATES = frozenset({"28P01", "28000"})


class PasswordSource(Protocol):
    """Where new connections get their password (:class:`mesh.dbsecret.SecretPassword`)."""

    def get(self, *, refresh: bool = False) -> str | None:
        """The current password (None: none known, keep the URL's); blocking, bounded.

        ``refresh`` bypasses any cache. It must not raise: a connection
        attempt never fails because of the source.
        """
        ...


def is_auth_failure(exc: BaseException) -> bool:
    """True if the driver's error (or one it wraps) is PostgreSQL's wrong-password SQLSTATE."""
    seen: BaseException | None = exc
    while seen is not None:
        for attr in ("sqlstate", "pgcode"):  # asyncpg and SQLAlchemy's adapter; psycopg
            if getattr(seen, attr, None) in _AUTH_SQLSTATES:
                return True
        seen = seen.__cause__ or seen.__context__
    return False


def _password(source: PasswordSource, *, refresh: bool = False) -> str | None:
    # do_connect runs inside SQLAlchemy's greenlet on the event loop's thread:
    # there the blocking fetch goes to a worker thread and the loop keeps
    # serving. Outside a greenlet (a plain sync engine) it just blocks, bounded
    # by the source's timeouts.
    if in_greenlet():
        password: str | None = await_only(asyncio.to_thread(source.get, refresh=refresh))
        return password
    return source.get(refresh=refresh)


def use_password_source(engine: AsyncEngine, source: PasswordSource) -> None:
    """Give every new connection of ``engine`` the source's current password."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        current = _password(source)
        if current is not None:
            cparams["password"] = current
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            if not is_auth_failure(exc):
                raise
            fresh = _password(source, refresh=True)
            if fresh is None or fresh == cparams.get("password"):
                raise
            log.warning("database password refused; retrying with the refreshed secret")
            cparams["password"] = fresh
            return dialect.connect(*cargs, **cparams)


_SPAN_KEY = "_mesh_span"


def trace_statements(engine: AsyncEngine, tracer: Tracer) -> None:
    """A span per statement, child of the current span, when that one is being recorded.

    SQLAlchemy runs the events in its greenlet, which carries the caller's
    context, so the current span is the call's.
    """
    from opentelemetry import trace

    system = engine.dialect.name

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _before(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if context is None or not trace.get_current_span().is_recording():
            return
        operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        span = tracer.start_span(
            f"{operation} {system}",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "db.system.name": system,
                "db.operation.name": operation,
                "db.query.text": statement[:500],
            },
        )
        setattr(context, _SPAN_KEY, span)  # the statement's own execution context

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _after(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        span = getattr(context, _SPAN_KEY, None)
        if span is not None:
            span.end()

    @event.listens_for(engine.sync_engine, "handle_error")
    def _error(exception_context: Any) -> None:
        span = getattr(exception_context.execution_context, _SPAN_KEY, None)
        if span is not None:
            span.set_status(
                trace.StatusCode.ERROR, type(exception_context.original_exception).__name__
            )
            span.end()


def redact(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _connect_args(ssl_context: ssl.SSLContext | bool | None) -> dict[str, Any]:
    return {} if ssl_context is None else {"ssl": ssl_context}


def create_engine(
    url: str,
    password: PasswordSource | None = None,
    ssl_context: ssl.SSLContext | bool | None = None,
    *,
    pre_ping: bool = False,
) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # The timeout makes concurrent writers wait for the lock instead of failing.
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let the "begin" hook below issue BEGIN itself (SQLAlchemy's pysqlite recipe).
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            # Switching to WAL needs a moment alone with the file, and SQLite does not
            # wait for it: two processes opening a new database at once must retry.
            for attempt in range(100):
                try:
                    cursor.execute("PRAGMA journal_mode=WAL")
                    break
                except Exception as exc:  # the driver's OperationalError
                    if "locked" not in str(exc) or attempt == 99:
                        raise
                    time.sleep(0.05)
            # WAL's NORMAL: a commit is not fsynced until the checkpoint. A process
            # killed at any point loses nothing committed (the WAL is in the OS's
            # cache); only a power cut can take the last commits. The default
            # (FULL) fsyncs every commit, which the local mesh's four writes per
            # order queued behind.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Connection) -> None:
            # Take the write lock at BEGIN so read-then-write transactions
            # serialize instead of failing on lock upgrade. Reads (the reader()
            # view) begin deferred: under WAL they see a snapshot and neither wait
            # for a writer nor hold one up (with every read IMMEDIATE, two orders
            # replicas queued behind SQLite's busy handler: p99 over 1 s at 50 rps).
            if conn.get_execution_options().get(_READ_ONLY):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_async_engine(
        url,
        pool_pre_ping=pre_ping,
        # No overflow: an overflow connection is closed when it comes back, so a
        # steady load above the pool size opened and closed a PostgreSQL connection
        # per checkout (a server backend and asyncpg's type introspection each, ms
        # of CPU; `scripts/bench orders --profile` caught that introspection on the
        # request path). A burst now waits for one of the pool's connections instead.
        pool_size=POOL_SIZE,
        max_overflow=0,
        connect_args=_connect_args(ssl_context),
    )
    if not pre_ping:
        replace_closed(engine)
    if password is not None:
        use_password_source(engine, password)
    return engine


def replace_closed(engine: AsyncEngine) -> None:
    """A pooled connection the server has closed is replaced at checkout, without a round trip.

    SQLAlchemy's pre-ping on asyncpg costs three round trips per checkout (BEGIN,
    a query, ROLLBACK): 18 of the 40 round trips of a CreateOrder, in every
    service's Python and on the database. A connection the server ended (a
    restart, a failover, an idle kill, a terminated backend) has had its end
    read by the event loop long before it is checked out again, so asking the
    driver whether it is closed finds it for free; the pool then opens a new one.
    A connection that dies mid-statement is what SQLAlchemy already handles:
    the error is a disconnect, the pool's older connections are invalidated and
    the call answers UNAVAILABLE, which callers retry.
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and driver.is_closed():
            # The pool discards it and checks out another (documented, three tries).
            raise DisconnectionError("the database closed this pooled connection")


def reader(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` for reads that need no transaction of their own (the same pool).

    On PostgreSQL its connections run in autocommit: a read is its statements
    alone, without the BEGIN and ROLLBACK round trips SQLAlchemy's implicit
    transaction adds (each statement sees its own snapshot, as under READ
    COMMITTED anyway). On SQLite its transactions begin deferred instead of
    taking the write lock (see the ``begin`` hook); a write through it fails
    rather than waiting its turn, so only reads go this way.
    """
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_READ_ONLY: True})
    return engine


async def ensure_database(
    url: str,
    password: PasswordSource | None = None,
    ssl_context: ssl.SSLContext | bool | None = None,
) -> None:
    """Create the PostgreSQL database named in the URL if it does not exist yet."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        return
    admin = create_async_engine(
        parsed.set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        connect_args=_connect_args(ssl_context),
    )
    if password is not None:
        use_password_source(admin, password)
    try:
        async with admin.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
            )
            if not exists:
                quoted = parsed.database.replace('"', '""')
                try:
                    await conn.execute(text(f'CREATE DATABASE "{quoted}"'))
                    log.info("created database", extra={"database": parsed.database})
                except DBAPIError as exc:  # another replica won the race
                    if "already exists" not in str(exc):
                        raise
    finally:
        await admin.dispose()


def _alembic_config(service: str, migrations: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    cfg.attributes["service"] = service
    return cfg


async def migrate(
    engine: AsyncEngine, service: str, migrations: Path, revision: str = "head"
) -> None:
    """Apply the service's migrations up to ``revision`` on this engine."""
    cfg = _alembic_config(service, migrations)

    def upgrade(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(upgrade)


class Database:
    """A service's database as a server lifecycle."""

    def __init__(
        self,
        url: str,
        service: str,
        migrations: Path,
        *,
        auto_migrate: bool = True,
        password: PasswordSource | None = None,
        ssl_context: ssl.SSLContext | bool | None = None,
        pre_ping: bool = False,
    ) -> None:
        self.url = url
        self.service = service
        self.migrations = migrations
        self.auto_migrate = auto_migrate
        self.password = password
        self.ssl_context = ssl_context
        self.engine = create_engine(url, password, ssl_context, pre_ping=pre_ping)
        self._traced = False

    async def start(self, server: MeshServer | None = None) -> None:
        if server is not None:
            server.metrics.watch_pool(self.engine.sync_engine.pool)
            if server.telemetry.tracer is not None and not self._traced:
                trace_statements(self.engine, server.telemetry.tracer)
                self._traced = True
        await ensure_database(self.url, self.password, self.ssl_context)
        if self.auto_migrate:
            await migrate(self.engine, self.service, self.migrations)
        log.info("database ready", extra={"database": redact(self.url)})

    async def stop(self) -> None:
        await asyncio.shield(self.engine.dispose())
