from __future__ import annotations

import re
from pathlib import Path

import pytest

from mesh.config import ConfigError, load_settings

KEY = "k" * 40


def test_defaults_need_no_configuration() -> None:
    settings = load_settings("orders", environ={})
    assert (settings.host, settings.port) == ("127.0.0.1", 50053)
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.database_url.endswith("/.data/orders.db")
    assert settings.dependencies == ("catalog", "inventory")
    assert (settings.registry, settings.register) == ("local", True)
    assert settings.registry_file == settings.data_dir / "registry.json"
    assert settings.shutdown_grace == 10.0


def test_database_url_precedence() -> None:
    own = load_settings(
        "catalog",
        environ={
            "CATALOG_DATABASE_URL": "sqlite+aiosqlite:///a.db",
            "MESH_DATABASE_URL": "postgresql+asyncpg://x/y",
        },
    )
    assert own.database_url == "sqlite+aiosqlite:///a.db"
    shared = load_settings("catalog", environ={"MESH_DATABASE_URL": "postgresql+asyncpg://x/y"})
    assert shared.database_url == "postgresql+asyncpg://x/y"


def test_database_by_parts_quotes_credentials() -> None:
    settings = load_settings(
        "inventory",
        environ={
            "MESH_DB_HOST": "db.internal",
            "MESH_DB_USER": "app",
            "MESH_DB_PASSWORD": "p@ss/w:rd",
        },
    )
    assert (
        settings.database_url
        == "postgresql+asyncpg://app:p%40ss%2Fw%3Ard@db.internal:5432/inventory"
    )


def test_event_loop_and_pre_ping() -> None:
    default = load_settings("catalog", environ={})
    assert (default.event_loop, default.db_pre_ping) == ("uvloop", False)
    chosen = load_settings(
        "catalog", environ={"MESH_EVENT_LOOP": "asyncio", "MESH_DB_PRE_PING": "true"}
    )
    assert (chosen.event_loop, chosen.db_pre_ping) == ("asyncio", True)


def test_data_dir(tmp_path: Path) -> None:
    settings = load_settings("catalog", environ={"MESH_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/catalog.db"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MESH_PORT", "http"),
        ("MESH_PORT", "70000"),
        ("MESH_PORT", "-1"),
        ("MESH_SHUTDOWN_GRACE_SECONDS", "0"),
        ("MESH_SHUTDOWN_GRACE_SECONDS", "forever"),
        ("MESH_CALL_TIMEOUT_SECONDS", "-3"),
        ("MESH_CALL_TIMEOUT_SECONDS", "nan"),
        ("MESH_MAX_MESSAGE_BYTES", "12"),
        ("MESH_MAX_MESSAGE_BYTES", "9" * 40),
        ("MESH_LOG_LEVEL", "LOUD"),
        ("MESH_ACCESS_LOG", "maybe"),
        ("MESH_EVENT_LOOP", "trio"),
        ("MESH_EVENT_LOOP", "UVLOOP"),
        ("MESH_DB_PRE_PING", "always"),
        ("MESH_REGISTRY", "consul"),
        ("MESH_REGISTER", "sometimes"),
        ("MESH_ADVERTISE_HOST", "my-host"),
        ("MESH_CLOUDMAP_ENDPOINT", "ftp://x"),
        ("MESH_DISCOVERY_POLL_SECONDS", "0"),
        ("MESH_DATABASE_URL", "not a url"),
        ("MESH_DB_PORT", "x"),
        ("MESH_RESERVATION_TTL_SECONDS", "0"),
        ("MESH_RESERVATION_TTL_SECONDS", "nan"),
        ("MESH_RESERVATION_TTL_SECONDS", "100000"),
        ("MESH_RESERVATION_SWEEP_SECONDS", "-1"),
        ("MESH_ORDER_SETTLE_SECONDS", "soon"),
        ("MESH_FAULT_EXIT_AT", "After Write!"),
        ("MESH_WORKFLOW", "sometimes"),
        ("MESH_WORKFLOW_ENDPOINT", "127.0.0.1:8083"),
        ("MESH_WORKFLOW_ENDPOINT", "file:///etc/passwd"),
        ("MESH_WORKFLOW_STATE_MACHINE_ARN", "order_fulfilment"),
        ("MESH_WORKFLOW_STATE_MACHINE_ARN", "arn:aws:states:us-east-1:1:stateMachine:x"),
        ("MESH_PAYMENT_DEADLINE_SECONDS", "0"),
        ("MESH_PAYMENT_DEADLINE_SECONDS", "1e9"),
        ("MESH_PAYMENT_DEADLINE_SECONDS", "soon"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    environ = {name: value}
    if name == "MESH_DB_PORT":
        environ.update(MESH_DB_HOST="h", MESH_DB_USER="u")
    with pytest.raises(ConfigError, match=name):
        load_settings("orders", environ=environ)


def test_reservation_and_settle_settings() -> None:
    defaults = load_settings("inventory", environ={})
    assert (defaults.reservation_ttl, defaults.reservation_sweep) == (300.0, 5.0)
    assert (defaults.order_settle, defaults.fault_exit_at) == (5.0, None)
    chosen = load_settings(
        "orders",
        environ={
            "MESH_RESERVATION_TTL_SECONDS": "30",
            "MESH_RESERVATION_SWEEP_SECONDS": "0.5",
            "MESH_ORDER_SETTLE_SECONDS": "0.25",
            "MESH_FAULT_EXIT_AT": "after-write",
        },
    )
    assert (chosen.reservation_ttl, chosen.reservation_sweep) == (30.0, 0.5)
    assert (chosen.order_settle, chosen.fault_exit_at) == (0.25, "after-write")


def test_db_host_without_user_is_refused() -> None:
    with pytest.raises(ConfigError, match="MESH_DB_USER"):
        load_settings("orders", environ={"MESH_DB_HOST": "h"})


def test_unknown_service_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown service 'nope'"):
        load_settings("nope", environ={})


def test_cloudmap_needs_a_namespace_and_does_not_self_register_by_default() -> None:
    with pytest.raises(ConfigError, match="MESH_CLOUDMAP_NAMESPACE"):
        load_settings("orders", environ={"MESH_REGISTRY": "cloudmap"})
    settings = load_settings(
        "orders",
        environ={
            "MESH_REGISTRY": "cloudmap",
            "MESH_CLOUDMAP_NAMESPACE": "shop.local",
            "MESH_HOST": "0.0.0.0",
            "MESH_PAGE_TOKEN_KEY": KEY,
        },
    )
    assert settings.register is False
    assert settings.advertise_host == "127.0.0.1"


def test_static_registry_needs_endpoints_for_dependencies() -> None:
    with pytest.raises(ConfigError, match="MESH_STATIC_ENDPOINTS"):
        load_settings("orders", environ={"MESH_REGISTRY": "static"})
    static = {"MESH_REGISTRY": "static", "MESH_PAGE_TOKEN_KEY": KEY}
    assert load_settings("catalog", environ=static).static_endpoints is None


def test_page_token_key_is_required_outside_local_runs() -> None:
    environ = {"MESH_REGISTRY": "cloudmap", "MESH_CLOUDMAP_NAMESPACE": "shop.local"}
    with pytest.raises(ConfigError, match="MESH_PAGE_TOKEN_KEY is required"):
        load_settings("orders", environ=environ)
    with pytest.raises(ConfigError, match="MESH_PAGE_TOKEN_KEY is too short"):
        load_settings("orders", environ={**environ, "MESH_PAGE_TOKEN_KEY": "shop-orders"})
    assert (
        load_settings("orders", environ={**environ, "MESH_PAGE_TOKEN_KEY": KEY}).page_token_key
        == KEY.encode()
    )


def test_local_runs_share_one_generated_page_token_key(tmp_path: Path) -> None:
    environ = {"MESH_DATA_DIR": str(tmp_path)}
    orders = load_settings("orders", environ=environ).page_token_key
    catalog = load_settings("catalog", environ=environ).page_token_key
    assert orders == catalog
    assert len(orders) == 32
    assert orders not in (b"shop-orders", b"shop-catalog")  # the old guessable default
    assert (tmp_path / "page-token.key").stat().st_mode & 0o777 == 0o600
    # Another data dir, another key.
    assert (
        load_settings("orders", environ={"MESH_DATA_DIR": str(tmp_path / "b")}).page_token_key
        != orders
    )


def test_refresh_may_not_be_shorter_than_the_poll() -> None:
    with pytest.raises(ConfigError, match="MESH_DISCOVERY_REFRESH_SECONDS"):
        load_settings(
            "orders",
            environ={"MESH_DISCOVERY_POLL_SECONDS": "5", "MESH_DISCOVERY_REFRESH_SECONDS": "1"},
        )


_BY_PARTS = {"MESH_DB_HOST": "db.internal", "MESH_DB_USER": "app", "MESH_DB_PASSWORD": "boot"}
_RDS_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1a2b-AbCdEf"


def test_password_secret_is_off_by_default() -> None:
    settings = load_settings("orders", environ=_BY_PARTS)
    assert settings.db_password_secret is None
    assert settings.db_password_ttl == 60.0


def test_password_secret_by_parts() -> None:
    settings = load_settings(
        "orders",
        environ={
            **_BY_PARTS,
            "MESH_DB_PASSWORD_SECRET": _RDS_ARN,
            "MESH_DB_PASSWORD_TTL_SECONDS": "30",
            "MESH_SECRETS_ENDPOINT": "http://127.0.0.1:5000",
            "AWS_REGION": "eu-west-1",
        },
    )
    assert settings.db_password_secret == _RDS_ARN
    assert settings.db_password_ttl == 30.0
    assert settings.secrets_endpoint == "http://127.0.0.1:5000"
    assert settings.aws_region == "eu-west-1"
    # The start-up password stays in the URL: it is the fallback.
    assert ":boot@" in settings.database_url


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MESH_DB_PASSWORD_SECRET": "rds!db-1"}, "MESH_DB_PASSWORD_SECRET needs MESH_DB_HOST"),
        (
            {**_BY_PARTS, "MESH_DATABASE_URL": "postgresql+asyncpg://x/y"},
            "MESH_DB_PASSWORD_SECRET cannot be used with MESH_DATABASE_URL",
        ),
        (
            {**_BY_PARTS, "ORDERS_DATABASE_URL": "postgresql+asyncpg://x/y"},
            "MESH_DB_PASSWORD_SECRET cannot be used with ORDERS_DATABASE_URL",
        ),
        ({**_BY_PARTS, "MESH_DB_PASSWORD_SECRET": "has spaces"}, "MESH_DB_PASSWORD_SECRET="),
        ({**_BY_PARTS, "MESH_DB_PASSWORD_TTL_SECONDS": "0"}, "MESH_DB_PASSWORD_TTL_SECONDS"),
        ({**_BY_PARTS, "MESH_SECRETS_ENDPOINT": "ftp://x"}, "MESH_SECRETS_ENDPOINT"),
    ],
)
def test_bad_password_secret_usage_names_the_variable(
    environ: dict[str, str], message: str
) -> None:
    environ = {"MESH_DB_PASSWORD_SECRET": _RDS_ARN, **environ}
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings("orders", environ=environ)


def test_workflow_settings(tmp_path: Path) -> None:
    local = load_settings("orders", environ={"MESH_DATA_DIR": str(tmp_path)}).workflow
    # The default: the local interpreter scripts/run starts, found through the data dir.
    assert (local.kind, local.endpoint) == ("local", None)
    assert local.endpoint_file == tmp_path.resolve() / "workflow.url"
    assert local.payment_deadline == 900.0
    arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:order_fulfilment"
    aws = load_settings(
        "orders",
        environ={
            "MESH_WORKFLOW": "stepfunctions",
            "MESH_WORKFLOW_STATE_MACHINE_ARN": arn,
            "MESH_PAYMENT_DEADLINE_SECONDS": "600",
        },
    ).workflow
    assert (aws.kind, aws.state_machine_arn, aws.endpoint_file, aws.payment_deadline) == (
        "stepfunctions",
        arn,
        None,
        600.0,
    )
    with pytest.raises(ConfigError, match="MESH_WORKFLOW_STATE_MACHINE_ARN is required"):
        load_settings("orders", environ={"MESH_WORKFLOW": "stepfunctions"})
    assert load_settings("orders", environ={"MESH_WORKFLOW": "off"}).workflow.kind == "off"
    # Only orders runs the workflow.
    assert load_settings("inventory", environ={"MESH_WORKFLOW": "local"}).workflow.kind == "off"
