"""How boto3 failures map onto the registry's errors (pure function, real exception types)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from mesh.discovery import (
    InstanceNotFound,
    RegistryError,
    RegistryThrottled,
    RegistryUnavailable,
    ServiceNotFound,
)
from mesh.discovery.cloudmap import translate_error


def client_error(code: str, status: int = 400) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "DiscoverInstances")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (client_error("RequestLimitExceeded"), RegistryThrottled),
        (client_error("ThrottlingException"), RegistryThrottled),
        (client_error("Whatever", 429), RegistryThrottled),
        (client_error("InternalFailure", 500), RegistryUnavailable),
        (client_error("Whatever", 503), RegistryUnavailable),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), RegistryUnavailable),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), RegistryUnavailable),
        (client_error("ServiceNotFound"), ServiceNotFound),
        (client_error("NamespaceNotFound"), ServiceNotFound),
        (client_error("InstanceNotFound"), InstanceNotFound),
        (client_error("InvalidInput"), RegistryError),
    ],
)
def test_translation(exc: Exception, kind: type[RegistryError]) -> None:
    translated = translate_error(exc, "DiscoverInstances")
    assert type(translated) is kind
    assert "DiscoverInstances" in str(translated)


def test_throttling_is_still_transient() -> None:
    # Callers that only know "unavailable" keep their last good endpoints on throttling too.
    assert issubclass(RegistryThrottled, RegistryUnavailable)
