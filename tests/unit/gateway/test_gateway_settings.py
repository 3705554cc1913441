from __future__ import annotations

import pytest

from gateway.errors import GatewayError
from gateway.headers import parse_grpc_timeout
from gateway.settings import Settings, SettingsError

# Auth is on by default and needs an issuer; these tests are about everything else.
NOAUTH = {"MESH_GATEWAY_AUTH": "none"}


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env(NOAUTH)
    assert settings.port == 8080
    assert settings.default_timeout < 30


def test_reads_prefixed_variables() -> None:
    settings = Settings.from_env(
        {
            **NOAUTH,
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
        ("DRAIN_SECONDS", "-1"),
        ("DRAIN_SECONDS", "121"),
        ("DRAIN_SECONDS", "nan"),
        ("DRAIN_SECONDS", "soon"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"MESH_GATEWAY_{name}"):
        Settings.from_env({**NOAUTH, f"MESH_GATEWAY_{name}": value})


@pytest.mark.parametrize(
    ("raw", "seconds"), [("1S", 1.0), ("500m", 0.5), ("2M", 120.0), ("100u", 1e-4), ("1H", 3600.0)]
)
def test_grpc_timeout_header(raw: str, seconds: float) -> None:
    assert parse_grpc_timeout(raw) == pytest.approx(seconds)


@pytest.mark.parametrize("raw", ["", "1", "1s", "123456789S", "-1S", "1.5S"])
def test_bad_grpc_timeout_is_a_400(raw: str) -> None:
    with pytest.raises(GatewayError):
        parse_grpc_timeout(raw)


def test_default_host_is_loopback() -> None:
    assert Settings.from_env(NOAUTH).host == "127.0.0.1"
    assert Settings().host == "127.0.0.1"


def test_generic_mesh_host_and_port_are_the_fallback() -> None:
    # What the ECS task definition sets for every container.
    settings = Settings.from_env(
        {**NOAUTH, "MESH_HOST": "0.0.0.0", "MESH_PORT": "8081"}, default_port=8080
    )
    assert (settings.host, settings.port) == ("0.0.0.0", 8081)


def test_gateway_variables_win_over_the_generic_ones() -> None:
    settings = Settings.from_env(
        {
            **NOAUTH,
            "MESH_HOST": "0.0.0.0",
            "MESH_PORT": "8081",
            "MESH_GATEWAY_HOST": "127.0.0.2",
            "MESH_GATEWAY_PORT": "9000",
        }
    )
    assert (settings.host, settings.port) == ("127.0.0.2", 9000)


def test_empty_gateway_variable_falls_back_too() -> None:
    settings = Settings.from_env({**NOAUTH, "MESH_GATEWAY_PORT": "", "MESH_PORT": "8082"})
    assert settings.port == 8082


@pytest.mark.parametrize("value", ["http", "0", "70000"])
def test_a_bad_generic_port_names_mesh_port(value: str) -> None:
    with pytest.raises(SettingsError, match=r"^MESH_PORT="):
        Settings.from_env({**NOAUTH, "MESH_PORT": value})


def test_drain_defaults_to_5_seconds_and_0_disables_it() -> None:
    assert Settings.from_env(NOAUTH).drain_seconds == 5.0
    assert Settings.from_env({**NOAUTH, "MESH_GATEWAY_DRAIN_SECONDS": "0"}).drain_seconds == 0.0
    assert Settings.from_env({**NOAUTH, "MESH_GATEWAY_DRAIN_SECONDS": "2.5"}).drain_seconds == 2.5


def test_grace_falls_back_to_the_mesh_wide_shutdown_grace() -> None:
    assert Settings.from_env({**NOAUTH, "MESH_SHUTDOWN_GRACE_SECONDS": "12"}).grace_seconds == 12.0
    both = {"MESH_SHUTDOWN_GRACE_SECONDS": "12", "MESH_GATEWAY_GRACE_SECONDS": "7"}
    assert Settings.from_env({**NOAUTH, **both}).grace_seconds == 7.0
    with pytest.raises(SettingsError, match="MESH_SHUTDOWN_GRACE_SECONDS"):
        Settings.from_env({**NOAUTH, "MESH_SHUTDOWN_GRACE_SECONDS": "soon"})
