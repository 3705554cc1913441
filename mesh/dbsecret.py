"""The database password, read from AWS Secrets Manager when a connection opens.

RDS rotates the master password it manages in Secrets Manager (every 7 days
by default). ECS injects secrets once, at task start, so a task would keep
the old password and every new connection would fail after a rotation.
With ``MESH_DB_PASSWORD_SECRET`` set, :func:`mesh.db.create_engine` asks a
:class:`SecretPassword` for the password of every new connection instead:

- the value is cached for ``ttl`` seconds, so a busy pool costs one
  GetSecretValue per ``ttl``, not one per connection;
- when Secrets Manager fails the last good value (or the start-up password)
  is used and a warning logged: the cache never fails a connection attempt
  itself, and failed fetches back off for ``min(ttl, 5 s)``;
- a connection refused with a wrong password refreshes the cache at once
  (see :mod:`mesh.db`).

The secret's SecretString is JSON with a ``password`` key, the format of the
RDS-managed secret (``{"username": ..., "password": ...}``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import boto3
import botocore.exceptions
from sqlalchemy.engine import make_url

from mesh.awsconfig import client_config

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from mesh.config import Settings

__all__ = ["SecretPassword", "password_source"]

log = logging.getLogger("mesh.db")

_FAILURE_BACKOFF = 5.0


class SecretPassword:
    """A cached password from one Secrets Manager secret; thread-safe.

    ``fallback`` is used until the first successful fetch. Every call is
    bounded by ``connect_timeout``/``read_timeout`` and botocore's
    ``standard`` retries (``max_attempts``); :meth:`get` blocks, so async
    callers run it in a thread (``mesh.db`` does).

    >>> source = SecretPassword("rds!db-1234", fallback="from-start-up")  # doctest: +SKIP
    >>> source.get()  # doctest: +SKIP
    'current-password'
    """

    def __init__(
        self,
        secret_id: str,
        *,
        fallback: str | None = None,
        ttl: float = 60.0,
        endpoint_url: str | None = None,
        region: str | None = None,
        connect_timeout: float = 1.0,
        read_timeout: float = 2.0,
        max_attempts: int = 2,
        client: SecretsManagerClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secret_id = secret_id
        self.ttl = ttl
        if client is None:
            config = client_config(
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_attempts=max_attempts,
            )
            session = boto3.session.Session(region_name=region)
            client = session.client("secretsmanager", endpoint_url=endpoint_url, config=config)
        self._client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._value = fallback
        self._expires = float("-inf")
        self._fetched_at = float("-inf")
        #: Successful GetSecretValue calls and failed attempts, for operators and tests.
        self.fetches = 0
        self.failures = 0

    def get(self, *, refresh: bool = False) -> str | None:
        """The current password; ``refresh`` skips the cache (after an authentication failure).

        None only if no fetch ever succeeded and there is no fallback.

        Concurrent refreshes share one fetch: a caller that waited for the
        lock while another fetched gets that fresh value.
        """
        asked = self._clock()
        with self._lock:
            now = self._clock()
            fresh_enough = self._fetched_at >= asked if refresh else now < self._expires
            if not fresh_enough:
                self._fetch(now)
            return self._value

    def _fetch(self, now: float) -> None:
        try:
            response = self._client.get_secret_value(SecretId=self.secret_id)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            self._failed(now, str(exc))
            return
        try:
            password = json.loads(response["SecretString"])["password"]
        except (KeyError, TypeError, ValueError) as exc:
            # Only the error's type: a parse error's message could quote the secret.
            self._failed(now, f"SecretString is not JSON with a password: {type(exc).__name__}")
            return
        if not isinstance(password, str) or not password:
            self._failed(now, "its password is not a non-empty string")
            return
        if self.fetches and password != self._value:
            log.info("database password: secret %s has a new value", self.secret_id)
        self._value = password
        self.fetches += 1
        self._fetched_at = self._clock()
        self._expires = self._fetched_at + self.ttl

    def _failed(self, now: float, reason: str) -> None:
        self.failures += 1
        self._expires = now + min(self.ttl, _FAILURE_BACKOFF)
        log.warning(
            "database password: cannot read secret %s (%s); using the %s value",
            self.secret_id,
            reason,
            "last good" if self.fetches else "start-up",
        )

    def close(self) -> None:
        self._client.close()


def password_source(settings: Settings) -> SecretPassword | None:
    """The password source the settings ask for, or None (the password in the URL is used).

    Until the first fetch succeeds, the password in ``settings.database_url``
    (``MESH_DB_PASSWORD``) stands in.
    """
    if settings.db_password_secret is None:
        return None
    return SecretPassword(
        settings.db_password_secret,
        fallback=make_url(settings.database_url).password,
        ttl=settings.db_password_ttl,
        endpoint_url=settings.secrets_endpoint,
        region=settings.aws_region,
    )
