"""The botocore settings every AWS client of the mesh uses: short timeouts, bounded retries.

A registry or secret lookup that hangs would stall whatever waits on it, so
each client fails fast and lets its caller fall back (last good endpoints, last
good password).
"""

from __future__ import annotations

from botocore.config import Config

__all__ = ["client_config"]


def client_config(
    *,
    connect_timeout: float,
    read_timeout: float,
    max_attempts: int,
    inject_host_prefix: bool = True,
) -> Config:
    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "max_attempts": max_attempts},
        inject_host_prefix=inject_host_prefix,
    )
