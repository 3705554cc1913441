"""The one home of the mesh's DynamoDB plumbing: the client, the call, the error.

Every DynamoDB adapter (the key-value store, the catalog's product table) makes
its client here and calls through :func:`call`. boto3 is synchronous, so each
call runs in a worker thread; botocore's own retries (standard mode) cover
throttling, a failed condition is ``None`` for the caller to interpret, and
anything else that keeps DynamoDB from answering is UNAVAILABLE naming it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from mesh.awsconfig import client_config
from mesh.config import Settings
from mesh.errors import Unavailable

__all__ = ["call", "dynamodb_client", "dynamodb_unavailable"]

log = logging.getLogger("mesh.dynamodb")


def dynamodb_client(settings: Settings) -> Any:
    """A DynamoDB client for ``settings`` (``MESH_DYNAMODB_ENDPOINT`` for an emulator)."""
    return boto3.client(
        "dynamodb",
        endpoint_url=settings.dynamodb_endpoint,
        region_name=settings.aws_region,
        config=client_config(connect_timeout=1.0, read_timeout=2.0, max_attempts=3),
    )


def dynamodb_unavailable(exc: Exception) -> Unavailable:
    log.warning("dynamodb call failed: %s", type(exc).__name__)
    return Unavailable(
        f"dynamodb is unavailable: {type(exc).__name__}",
        reason="STORE_UNAVAILABLE",
        metadata={"dependency": "dynamodb"},
    )


async def call(client: Any, operation: str, /, **kwargs: Any) -> Any:
    """``client.<operation>(**kwargs)`` off the event loop; None if its condition failed."""
    try:
        return await asyncio.to_thread(getattr(client, operation), **kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return None
        raise dynamodb_unavailable(exc) from None
    except BotoCoreError as exc:
        raise dynamodb_unavailable(exc) from None
