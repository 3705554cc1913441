from __future__ import annotations

import pytest

from gateway.errors import GatewayError
from gateway.headers import parse_grpc_timeout
from gateway.settings import Settings, SettingsError


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings.port == 8080
    assert settings.default_timeout < 30


def test_reads_prefixed_variables() -> None:
    settings = Settings.from_env(
        {
            "MESH_GATEWAY_PORT": "9000",
            "MESH_GATEWAY_WORKERS": "4",
            "MESH_GATEWAY_MAX_BODY_BYTES": "10",
            "MESH_GATEWAY_FORWARD_HEADERS": "X-Api-Key, X-Tenant",
            "MESH_GATEWAY_ACCESS_LOG": "false",
        }
    )
    assert (settings.port, settings.workers, settings.max_body_bytes) == (9000, 4, 10)
    assert settings.forward_headers == ("x-api-key", "x-tenant")
    assert settings.access_log is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("WORKERS", "0"),
        ("DEFAULT_TIMEOUT", "30"),
        ("MAX_TIMEOUT", "45"),
        ("ACCESS_LOG", "maybe"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"MESH_GATEWAY_{name}"):
        Settings.from_env({f"MESH_GATEWAY_{name}": value})


@pytest.mark.parametrize(
    ("raw", "seconds"), [("1S", 1.0), ("500m", 0.5), ("2M", 120.0), ("100u", 1e-4), ("1H", 3600.0)]
)
def test_grpc_timeout_header(raw: str, seconds: float) -> None:
    assert parse_grpc_timeout(raw) == pytest.approx(seconds)


@pytest.mark.parametrize("raw", ["", "1", "1s", "123456789S", "-1S", "1.5S"])
def test_bad_grpc_timeout_is_a_400(raw: str) -> None:
    with pytest.raises(GatewayError):
        parse_grpc_timeout(raw)
