"""WatchOrder reaches clients through the AWS front door as a stream, with timeouts on every hop.

The HTTP API buffers a response whole and stops at 30 s, so server-streaming
routes go through a REST API with response streaming (module stream_api).
Its routes come from the contracts (access.json's streaming_routes); these
checks derive them again and follow the timeouts from API Gateway to the
gateway's heartbeat.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from gateway.rules import bindings_for, resolve_services
from gateway.settings import NLB_IDLE_SECONDS, STREAM_IDLE_LIMIT_SECONDS, Settings
from mesh.access import rule_of
from mesh.protos import import_generated
from mesh.topology import load_topology
from tests.deploy.terraform import ENV, MODULES, ROOT, Module, expr, load_module, strings

ACCESS_JSON = ENV / "access.json"


@pytest.fixture(scope="module")
def env() -> Module:
    return load_module(ENV)


@pytest.fixture(scope="module")
def stream_api() -> Module:
    return load_module(MODULES / "stream_api")


@pytest.fixture(scope="module")
def access() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(ACCESS_JSON.read_text(encoding="utf-8"))
    return loaded


def _flat(node: Any) -> str:
    """Every expression in a parsed value, whitespace-normalised, as one text."""
    return re.sub(r"\s+", " ", " ".join(strings(node)))


def _streaming_rpcs() -> set[str]:
    topology = load_topology(ROOT / "services.yaml")
    import_generated()
    descriptors = resolve_services(
        {
            s.name: s.grpc_service
            for s in topology.services.values()
            if s.protocol == "grpc" and s.grpc_service
        }
    )
    return {
        b.rpc
        for b in bindings_for(descriptors)
        if b.method.server_streaming and rule_of(b.method).public
    }


def test_streaming_routes_are_the_contracts_server_streaming_rpcs(access: dict[str, Any]) -> None:
    routes = access["streaming_routes"]
    assert {r["rpc"] for r in routes} == _streaming_rpcs()
    assert "shop.orders.v1.OrdersService.WatchOrder" in {r["rpc"] for r in routes}
    for route in routes:
        # REST API path parts allow letters, digits, . _ - and a whole {var} or {var+}.
        assert re.fullmatch(r"(/[A-Za-z0-9._-]+)+(/\{proxy\+\})?", route["resource"]), route
        method, path = route["route"].split(" ", 1)
        assert method == route["method"]
        assert path.startswith(route["resource"].removesuffix("{proxy+}"))
        if not route["anonymous"]:
            assert route["scopes"], f"{route['rpc']}: a token route needs a scope for Cognito"
            assert access["token_routes"][route["route"]] == route["scopes"]


def test_the_rest_api_streams_the_routes_from_access_json(env: Module, stream_api: Module) -> None:
    call = env.calls["stream_api"]
    assert expr(call["routes"]) == "local.access.streaming_routes"
    assert expr(call["count"]) == "var.streaming_api ? 1 : 0"
    openapi = _flat(stream_api.locals["openapi"])
    assert 'responseTransferMode = "STREAM"' in openapi
    assert 'type = "http_proxy"' in openapi
    assert 'connectionType = "VPC_LINK"' in openapi
    assert "timeoutInMillis = var.stream_timeout_seconds * 1000" in openapi
    (api,) = stream_api.resources_of("aws_api_gateway_rest_api").values()
    assert expr(api["body"]) == "jsonencode(local.openapi)"
    # Edge-optimized endpoints close a stream idle for 30 s; regional ones after 5 min.
    assert api["endpoint_configuration"][0]["types"] == ["REGIONAL"]
    (deployment,) = stream_api.resources_of("aws_api_gateway_deployment").values()
    assert "aws_api_gateway_rest_api.this.body" in expr(deployment["triggers"]["redeployment"])


def test_the_rest_api_checks_cognito_access_tokens_with_the_routes_scopes(
    env: Module, stream_api: Module
) -> None:
    call = env.calls["stream_api"]
    assert expr(call["cognito_user_pool_arn"]) == (
        'var.auth == "cognito" ? module.identity[0].user_pool_arn : null'
    )
    assert expr(call["scope_prefix"]) == (
        'var.auth == "cognito" ? module.identity[0].scope_prefix : ""'
    )
    authorizer = _flat(stream_api.locals["authorizer"])
    assert '"x-amazon-apigateway-authtype" = "cognito_user_pools"' in authorizer
    assert "providerARNs = [var.cognito_user_pool_arn]" in authorizer
    openapi = _flat(stream_api.locals["openapi"])
    assert '{cognito = [for s in r.scopes : "${var.scope_prefix}${s}"]}' in openapi
    assert "r.anonymous || var.cognito_user_pool_arn == null ? []" in openapi


def test_the_nlb_reaches_only_the_gateway_and_the_gateway_registers_in_it(
    env: Module, stream_api: Module
) -> None:
    (lb,) = stream_api.resources_of("aws_lb").values()
    assert lb["internal"] is True and lb["load_balancer_type"] == "network"
    (group,) = stream_api.resources_of("aws_lb_target_group").values()
    assert group["target_type"] == "ip" and group["connection_termination"] is True
    assert group["health_check"][0]["path"] == "/readyz"  # drains before the task stops
    assert not stream_api.resources_of("aws_vpc_security_group_ingress_rule")
    assert expr(env.calls["service"]["target_group_arn"]) == (
        "each.key == local.entry && var.streaming_api ? "
        "module.stream_api[0].target_group_arn : null"
    )
    output = stream_api.outputs["target_group_arn"]
    assert output["depends_on"] == ["${aws_lb_listener.gateway}"] or "aws_lb_listener.gateway" in (
        str(output["depends_on"])
    )


def test_timeouts_line_up_on_every_hop(env: Module, stream_api: Module) -> None:
    """REST API (15 min, 5 min idle) > gateway deadline > heartbeat; NLB idle > keep-alive."""
    stream_max = env.variables["stream_max_seconds"]["default"]
    assert stream_max == 900
    assert stream_api.variables["stream_timeout_seconds"]["default"] == 900
    assert expr(env.calls["stream_api"]["stream_timeout_seconds"]) == "var.stream_max_seconds"
    gateway_env = expr(env.locals["gateway_env"])
    assert "MESH_GATEWAY_STREAM_TIMEOUT = tostring(var.stream_max_seconds - 60)" in gateway_env
    heartbeat = re.search(r'MESH_GATEWAY_STREAM_HEARTBEAT_SECONDS = "(\d+)"', gateway_env)
    assert heartbeat
    settings = Settings.from_env(
        {
            "MESH_GATEWAY_AUTH": "none",
            "MESH_GATEWAY_STREAM_TIMEOUT": str(stream_max - 60),
            "MESH_GATEWAY_STREAM_HEARTBEAT_SECONDS": heartbeat.group(1),
        }
    )
    assert settings.stream_heartbeat_seconds < STREAM_IDLE_LIMIT_SECONDS  # REST API idle: 300 s
    assert settings.stream_timeout < stream_max  # the gateway ends the stream cleanly first
    assert (
        settings.keep_alive_seconds < NLB_IDLE_SECONDS
    )  # the gateway closes before the NLB forgets
    # The smallest allowed stream_max still leaves the gateway a valid deadline.
    (validation,) = env.variables["stream_max_seconds"]["validation"]
    assert "var.stream_max_seconds >= 120" in validation["condition"]


def test_rest_api_logs_and_leftovers(stream_api: Module) -> None:
    execution = stream_api.resources[("aws_cloudwatch_log_group", "execution")]
    assert execution["name"].startswith("API-Gateway-Execution-Logs_")
    (stage,) = stream_api.resources_of("aws_api_gateway_stage").values()
    assert "aws_api_gateway_account.this" in " ".join(stage["depends_on"])
    (settings,) = stream_api.resources_of("aws_api_gateway_method_settings").values()
    assert settings["settings"][0]["data_trace_enabled"] is False  # would log tokens


def test_the_guide_watches_through_the_stream_url(env: Module) -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "output -raw stream_url" in guide
    assert re.search(r'curl -sN [^\n]*"\$STREAM/v1/orders/[^"]*:watch"', guide)
    assert "stream_url" in env.outputs
    for hop in ("MESH_GATEWAY_STREAM_HEARTBEAT_SECONDS", "5 minutes", "15 minutes", "350"):
        assert hop in guide, hop
