"""Helpers shared by the discovery integration tests."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import boto3

T = TypeVar("T")

REGION = "us-east-1"
SERVICES = ("catalog", "inventory")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    check: Callable[[T], bool],
    *,
    within: float = 45.0,
    interval: float = 0.05,
) -> T:
    """Poll ``probe`` until ``check`` holds.

    Cloud Map applies custom health after about 30 s and moto at once; a
    test that waits for the outcome instead of asserting right after the
    call is right on both (``within`` covers AWS, moto returns at once).
    """
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if check(value) or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(interval)  # the poll period of a re-checked observation


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def create_namespace(
    endpoint_url: str, services: tuple[str, ...] = SERVICES, name: str | None = None
) -> str:
    """A fresh HTTP namespace with custom-health services, as Terraform would make it."""
    client = boto3.client("servicediscovery", endpoint_url=endpoint_url, region_name=REGION)
    name = name or f"t{uuid.uuid4().hex[:10]}.shop.local"
    client.create_http_namespace(Name=name)
    ns_id = next(n["Id"] for n in client.list_namespaces()["Namespaces"] if n["Name"] == name)
    for service in services:
        client.create_service(
            Name=service, NamespaceId=ns_id, HealthCheckCustomConfig={"FailureThreshold": 1}
        )
    client.close()
    return name


def aws_test_env() -> dict[str, str]:
    """Dummy credentials for the emulator; never real ones."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
