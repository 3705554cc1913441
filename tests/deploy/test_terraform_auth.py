"""Terraform puts the contracts' access rules at the AWS front door, and the key behind page tokens.

The contracts (``shop.api.v1.access``) say which RPCs need a token and which
scopes exist; ``scripts/access_manifest.py`` writes them to ``access.json``
for Terraform. These checks derive the same facts from the descriptors again
and compare: the Cognito scopes are the declared ones, the JWT authorizer
guards every route that needs a token and none of the anonymous reads, the
gateway gets its token settings, and every grpc service gets its page-token
key as an ECS secret only.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

from gateway.ops import DOCUMENT_PATHS
from gateway.rules import bindings_for, resolve_services
from gateway.templates import SegmentKind, Template
from mesh.access import declared_scopes, rule_of
from mesh.protos import import_generated
from mesh.topology import Topology, load_topology
from tests.deploy.terraform import ENV, MODULES, ROOT, Module, expr, load_module

ACCESS_JSON = ENV / "access.json"
GUIDE = ROOT / "docs" / "deploy.md"


@dataclass(frozen=True)
class PublicRoute:
    rpc: str
    method: str
    template: Template
    anonymous: bool
    scopes: frozenset[str]


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology(ROOT / "services.yaml")


@pytest.fixture(scope="module")
def env() -> Module:
    return load_module(ENV)


@pytest.fixture(scope="module")
def api_gateway() -> Module:
    return load_module(MODULES / "api_gateway")


@pytest.fixture(scope="module")
def identity() -> Module:
    return load_module(MODULES / "identity")


@pytest.fixture(scope="module")
def access() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(ACCESS_JSON.read_text(encoding="utf-8"))
    return loaded


@cache
def _descriptors() -> dict[str, Any]:
    topology = load_topology(ROOT / "services.yaml")
    import_generated()
    return dict(
        resolve_services(
            {
                s.name: s.grpc_service
                for s in topology.services.values()
                if s.protocol == "grpc" and s.grpc_service
            }
        )
    )


def _public_routes() -> list[PublicRoute]:
    routes = []
    for binding in bindings_for(_descriptors()):
        rule = rule_of(binding.method)
        if rule.public:
            routes.append(
                PublicRoute(
                    binding.rpc,
                    binding.http_method,
                    binding.template,
                    rule.allow_anonymous,
                    rule.scopes,
                )
            )
    return routes


def _request_path(template: Template) -> str:
    """A path a client would send for this template: every wildcard filled in."""
    parts = [
        s.literal
        if s.kind is SegmentKind.LITERAL
        else ("a/b" if s.kind is SegmentKind.DOUBLE_STAR else "some-id")
        for s in template.segments
    ]
    return "/" + "/".join(parts) + (f":{template.verb}" if template.verb else "")


def _catches(route_key: str, method: str, path: str) -> bool:
    """API Gateway's matching of an HTTP API route key: {v} one segment, {v+} the rest."""
    key_method, key_path = route_key.split(" ", 1)
    if key_method not in (method, "ANY"):
        return False
    regex = ""
    for part in re.split(r"(\{[^{}]+\})", key_path):
        if part.startswith("{"):
            regex += ".+" if part.endswith("+}") else "[^/]+"
        else:
            regex += re.escape(part)
    return re.fullmatch(regex, path) is not None


# -- access.json is what the contracts say ----------------------------------------


def test_access_json_is_generated_from_the_current_contracts() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "access_manifest.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr


def test_terraform_reads_access_json(env: Module) -> None:
    assert expr(env.locals["access"]) == 'jsondecode(file("${path.module}/access.json"))'


def test_scopes_are_exactly_what_the_services_declare(
    access: dict[str, Any], env: Module, identity: Module
) -> None:
    declared = declared_scopes(_descriptors().values())
    assert declared, "the contracts declare no scope"
    assert access["scopes"] == declared
    # Every scope an RPC needs is one of them (mesh.access.check_services refuses others).
    needed = set().union(*(r.scopes for r in _public_routes()))
    assert needed <= set(declared)
    # The resource server's scopes are that map, nothing typed by hand.
    assert expr(env.calls["identity"]["scopes"]) == "local.access.scopes"
    server = identity.resources[("aws_cognito_resource_server", "this")]
    (dynamic,) = server["dynamic"]
    assert expr(dynamic["scope"]["for_each"]) == "var.scopes"
    assert dynamic["scope"]["content"] == [
        {"scope_name": "${scope.key}", "scope_description": "${scope.value}"}
    ]
    assert "scope" not in server, "scopes come from var.scopes only"


# -- the authorizer: on every route that needs a token, on none of the anonymous ones --


def test_the_jwt_authorizer_guards_the_default_route(api_gateway: Module) -> None:
    authorizer = api_gateway.resources[("aws_apigatewayv2_authorizer", "jwt")]
    assert authorizer["authorizer_type"] == "JWT"
    assert authorizer["identity_sources"] == ["$request.header.Authorization"]
    assert authorizer["jwt_configuration"] == [
        {"issuer": "${var.jwt.issuer}", "audience": "${var.jwt.audience}"}
    ]
    routes = api_gateway.resources_of("aws_apigatewayv2_route")
    assert set(routes) == {"default", "anonymous"}, "a new route needs a decision about tokens"
    default = routes["default"]
    assert default["route_key"] == "$default"
    assert expr(default["authorization_type"]) == 'var.jwt == null ? "NONE" : "JWT"'
    assert expr(default["authorizer_id"]) == (
        "var.jwt == null ? null : aws_apigatewayv2_authorizer.jwt[0].id"
    )


def test_anonymous_routes_skip_the_authorizer_and_come_from_access_json(
    api_gateway: Module, env: Module
) -> None:
    anonymous = api_gateway.resources[("aws_apigatewayv2_route", "anonymous")]
    assert anonymous["authorization_type"] == "NONE"
    assert "authorizer_id" not in anonymous
    assert expr(anonymous["route_key"]) == "each.key"
    assert (
        expr(anonymous["for_each"]) == "var.jwt == null ? toset([]) : toset(var.anonymous_routes)"
    )
    call = env.calls["api_gateway"]
    assert expr(call["anonymous_routes"]) == "local.access.anonymous_routes"
    assert expr(call["jwt"]) == (
        "local.jwt == null ? null : {issuer = local.jwt.issuer, audience = local.jwt.audience}"
    )


def test_every_anonymous_read_has_a_route_and_no_token_route_is_caught_by_one(
    access: dict[str, Any],
) -> None:
    keys: list[str] = access["anonymous_routes"]
    routes = _public_routes()
    anonymous = [r for r in routes if r.anonymous]
    assert anonymous, "the contracts allow no anonymous read"
    assert all(r.method == "GET" for r in anonymous), "only reads should be anonymous"
    for route in routes:
        path = _request_path(route.template)
        caught = [k for k in keys if _catches(k, route.method, path)]
        if route.anonymous:
            assert caught, f"{route.rpc} ({route.method} {path}) would need a token at API Gateway"
        else:
            assert not caught, (
                f"{route.rpc} ({route.method} {path}) needs {sorted(route.scopes)} but "
                f"{caught} lets it past the authorizer"
            )
    # Nothing beyond the contracts and the API's own description: each key serves at
    # least one anonymous read, or is the gateway's OpenAPI document or reference page.
    documents = {f"GET {path}" for path in DOCUMENT_PATHS}
    for key in keys:
        if key in documents:
            continue
        assert any(_catches(key, r.method, _request_path(r.template)) for r in anonymous), key
    assert documents <= set(keys), "/openapi.json and /docs would need a token"


def test_the_authorizer_trusts_the_pool_and_its_clients(env: Module, identity: Module) -> None:
    jwt = expr(env.locals["jwt"])
    assert jwt.startswith('var.auth == "none" ? null :')
    for field, output in (
        ("issuer", "issuer"),
        ("audience", "audiences"),
        ("jwks_url", "jwks_url"),
        ("scope_prefix", "scope_prefix"),
    ):
        assert (
            f'{field} = var.auth == "cognito" ? module.identity[0].{output} : '
            f"var.jwt_authorizer.{field}" in jwt
        ), field
    assert identity.locals["issuer"] == "https://${aws_cognito_user_pool.this.endpoint}"
    assert identity.outputs["jwks_url"]["value"] == "${local.issuer}/.well-known/jwks.json"
    assert expr(identity.outputs["audiences"]["value"]) == (
        "concat([aws_cognito_user_pool_client.web.id], aws_cognito_user_pool_client.machine[*].id)"
    )
    assert identity.outputs["scope_prefix"]["value"] == (
        "${aws_cognito_resource_server.this.identifier}/"
    )
    assert expr(env.calls["identity"]["count"]) == 'var.auth == "cognito" ? 1 : 0'
    assert env.variables["auth"]["default"] == "cognito"


def test_no_issuer_fails_the_plan_instead_of_the_gateway(env: Module) -> None:
    conditions = [expr(v["condition"]) for v in env.variables["auth"]["validation"]]
    assert 'var.auth != "jwt" || var.jwt_authorizer != null' in conditions
    # The gateway fetches the JWKS over the internet: only the NAT gives a route there.
    assert 'var.auth == "none" || var.egress_mode == "nat"' in conditions


def test_clients_and_pool_are_locked_down(identity: Module, env: Module) -> None:
    pool = identity.resources[("aws_cognito_user_pool", "this")]
    assert pool["admin_create_user_config"] == [{"allow_admin_create_user_only": True}]
    assert pool["password_policy"][0]["minimum_length"] >= 12
    assert pool["mfa_configuration"] in ("OPTIONAL", "ON")
    web = identity.resources[("aws_cognito_user_pool_client", "web")]
    assert web["generate_secret"] is False, "a browser cannot keep a secret"
    assert web["allowed_oauth_flows"] == ["code"]
    assert "ALLOW_USER_PASSWORD_AUTH" not in web["explicit_auth_flows"]
    machine = identity.resources[("aws_cognito_user_pool_client", "machine")]
    assert machine["allowed_oauth_flows"] == ["client_credentials"]
    assert machine["generate_secret"] is True
    assert expr(machine["count"]) == "var.machine_client ? 1 : 0"
    assert identity.variables["machine_client"]["default"] is False, (
        "its secret would be in the state"
    )
    assert "machine_client" not in env.calls["identity"], (
        "the gateway checks one audience: the web client's"
    )
    # Browser users get the customer scopes by default; staff scopes are a choice.
    user_scopes = set(env.variables["cognito_user_scopes"]["default"])
    assert user_scopes <= set(declared_scopes(_descriptors().values()))
    assert "orders.admin" not in user_scopes


# -- the gateway's own verification ------------------------------------------------


def test_the_gateway_gets_its_token_settings(env: Module, topology: Topology) -> None:
    gateway_env = expr(env.locals["gateway_env"])
    for setting in (
        'MESH_GATEWAY_AUTH = local.jwt == null ? "none" : "jwt"',
        'MESH_GATEWAY_TRUSTED_PROXIES = "1"',
        "MESH_GATEWAY_JWT_ISSUER = local.jwt.issuer",
        "MESH_GATEWAY_JWKS_URL = local.jwt.jwks_url",
        "MESH_GATEWAY_JWT_AUDIENCE = one(local.jwt.audience)",
        "MESH_GATEWAY_JWT_SCOPE_PREFIX = local.jwt.scope_prefix",
        "MESH_GATEWAY_OAUTH_AUTHORIZE_URL = module.identity[0].authorize_endpoint",
        "MESH_GATEWAY_OAUTH_TOKEN_URL = module.identity[0].token_endpoint",
    ):
        assert setting in gateway_env, setting
    assert "each.key == local.entry ? local.gateway_env : {}" in expr(
        env.calls["service"]["environment"]
    )
    assert [s.name for s in topology.services.values() if s.protocol == "http"] == ["gateway"]


# -- page tokens: one key in Secrets Manager, an ECS secret of every grpc service -----


def test_every_grpc_service_gets_the_page_token_key_as_a_secret(
    env: Module, topology: Topology
) -> None:
    secrets = expr(env.calls["service"]["secrets"])
    assert (
        'each.value.protocol == "grpc" ? {MESH_PAGE_TOKEN_KEY = '
        "aws_secretsmanager_secret_version.page_token_key.secret_id} : {}"
    ) in secrets
    grpc = {s.name for s in topology.services.values() if s.protocol == "grpc"}
    assert grpc == {s.name for s in topology.services.values() if s.grpc_service}
    assert "MESH_PAGE_TOKEN_KEY" not in expr(env.locals["gateway_env"])


def test_the_page_token_key_never_enters_the_state(env: Module) -> None:
    secret = env.resources[("aws_secretsmanager_secret", "page_token_key")]
    assert expr(secret["kms_key_id"]) == "aws_kms_key.this.arn"
    version = env.resources[("aws_secretsmanager_secret_version", "page_token_key")]
    assert "secret_string" not in version, "a secret_string would be stored in the state"
    assert expr(version["secret_string_wo"]) == (
        "ephemeral.aws_secretsmanager_random_password.page_token_key.random_password"
    )
    assert expr(version["secret_string_wo_version"]) == "var.page_token_key_version"
    ephemeral = [block for parsed in env.everything for block in parsed.get("ephemeral", [])]
    (generator,) = [b["aws_secretsmanager_random_password"]["page_token_key"] for b in ephemeral]
    assert generator["password_length"] >= 32


def test_execution_roles_read_exactly_their_secrets(env: Module) -> None:
    ecs_service = env.call_target("service")
    policy = expr(ecs_service.resources[("aws_iam_role_policy", "execution")]["policy"])
    # valueFrom is an ARN, optionally followed by :json-key::; the policy names the secret.
    assert (
        'Resource = distinct([for ref in values(var.secrets) : join(":", slice(split(":", ref), 0, 7))])'
        in policy
    )
    assert 'Action = ["secretsmanager:GetSecretValue"]' in policy


# -- throttling at the stage ---------------------------------------------------------


def test_the_stage_throttles_every_route(api_gateway: Module, env: Module) -> None:
    stage = api_gateway.resources[("aws_apigatewayv2_stage", "default")]
    (settings,) = stage["default_route_settings"]
    assert expr(settings["throttling_rate_limit"]) == "var.throttling_rate_limit"
    assert expr(settings["throttling_burst_limit"]) == "var.throttling_burst_limit"
    call = env.calls["api_gateway"]
    assert expr(call["throttling_rate_limit"]) == "var.api_throttling_rate_limit"
    assert expr(call["throttling_burst_limit"]) == "var.api_throttling_burst_limit"
    rate = env.variables["api_throttling_rate_limit"]["default"]
    burst = env.variables["api_throttling_burst_limit"]["default"]
    assert 0 < rate <= burst


# -- the guide ---------------------------------------------------------------------


def test_the_guide_explains_tokens_before_the_teardown(access: dict[str, Any]) -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", guide, flags=re.MULTILINE)
    identity = next(i for i, h in enumerate(headings) if h == "Identity (Cognito) and tokens")
    teardown = next(i for i, h in enumerate(headings) if "Tear down" in h)
    assert identity < teardown
    section = guide.split("## Identity (Cognito) and tokens", 1)[1].split("\n## ", 1)[0]
    for needed in ("admin-create-user", "Authorization: Bearer", "code_verifier"):
        assert needed in section, needed
    for scope in access["scopes"]:
        assert f"`{scope}`" in section, f"the guide does not say what {scope} allows"
