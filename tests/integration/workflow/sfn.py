"""A boto3 Step Functions client for the local interpreter (it checks no signature)."""

from __future__ import annotations

from typing import Any

import boto3


def client(url: str) -> Any:
    return boto3.client(
        "stepfunctions",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
