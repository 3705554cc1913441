"""The storefront on AWS (modules/web, envs/dev/web.tf): one origin, nothing public, nothing cached that is private.

Checks on the parsed configuration (no terraform binary here) and, with
Node.js, on the CloudFront Function itself.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
from typing import Any

import pytest

from deploy.web.publish import INVALIDATED_PATHS
from deploy.web.site import CONFIG_KEY, INDEX_KEY
from tests.deploy.terraform import ENV, MODULES, ROOT, Module, expr, load_module, strings

WEB = MODULES / "web"


@pytest.fixture(scope="module")
def env() -> Module:
    return load_module(ENV)


@pytest.fixture(scope="module")
def web() -> Module:
    return load_module(WEB)


@pytest.fixture(scope="module")
def access() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ENV / "access.json").read_text(encoding="utf-8"))
    return loaded


def _flat(node: Any) -> str:
    return re.sub(r"\s+", " ", " ".join(strings(node)))


def _one(module: Module, kind: str) -> dict[str, Any]:
    (body,) = module.resources_of(kind).values()
    return body


def _dynamic(body: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [d[name] for d in body.get("dynamic", []) if name in d]
    block: dict[str, Any] = found
    return block


# -- the bucket ---------------------------------------------------------------


def test_the_bucket_is_private_encrypted_and_versioned(web: Module) -> None:
    block = _one(web, "aws_s3_bucket_public_access_block")
    for setting in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert block[setting] is True, setting
    ownership = _one(web, "aws_s3_bucket_ownership_controls")
    assert ownership["rule"][0]["object_ownership"] == "BucketOwnerEnforced"
    assert (
        _one(web, "aws_s3_bucket_versioning")["versioning_configuration"][0]["status"] == "Enabled"
    )
    sse = _one(web, "aws_s3_bucket_server_side_encryption_configuration")
    assert sse["rule"][0]["apply_server_side_encryption_by_default"][0]["sse_algorithm"]
    assert "website" not in _flat(web.everything), "no S3 website endpoint: it cannot be private"


def test_only_this_distribution_reads_the_bucket(web: Module) -> None:
    policy = re.sub(r"\s+", "", expr(_one(web, "aws_s3_bucket_policy")["policy"]))
    assert policy.count('Principal={Service="cloudfront.amazonaws.com"}') == 2
    # Both grants name the distribution: another CloudFront distribution,
    # even in this account, cannot read through OAC.
    assert policy.count('"AWS:SourceArn"=aws_cloudfront_distribution.this.arn') == 2
    assert '"aws:SecureTransport"="false"' in policy
    assert 'Principal="*"' in policy and 'Effect="Deny"' in policy
    oac = _one(web, "aws_cloudfront_origin_access_control")
    assert oac["origin_access_control_origin_type"] == "s3"
    assert oac["signing_behavior"] == "always" and oac["signing_protocol"] == "sigv4"
    distribution = _one(web, "aws_cloudfront_distribution")
    (site,) = [o for o in distribution["origin"] if o["origin_id"] == "site"]
    assert expr(site["origin_access_control_id"]) == "aws_cloudfront_origin_access_control.site.id"
    assert expr(site["domain_name"]) == "aws_s3_bucket.site.bucket_regional_domain_name"


# -- the distribution ---------------------------------------------------------


def test_spa_routing_is_a_function_on_the_bucket_not_error_pages(web: Module) -> None:
    distribution = _one(web, "aws_cloudfront_distribution")
    # Custom error responses would turn the API's 403/404 into index.html.
    assert "custom_error_response" not in distribution
    assert "custom_error_response" not in _flat(distribution.get("dynamic", []))
    (default,) = distribution["default_cache_behavior"]
    assert default["target_origin_id"] == "site"
    (association,) = default["function_association"]
    assert association["event_type"] == "viewer-request"
    assert expr(association["function_arn"]) == "aws_cloudfront_function.spa_fallback.arn"
    function = _one(web, "aws_cloudfront_function")
    assert function["runtime"] == "cloudfront-js-2.0" and function["publish"] is True
    assert expr(function["code"]) == 'file("${path.module}/spa_fallback.js")'
    assert "function_association" not in _flat(_dynamic(distribution, "ordered_cache_behavior"))


def test_the_api_behaviours_cache_nothing_and_forward_authorization(web: Module) -> None:
    distribution = _one(web, "aws_cloudfront_distribution")
    behaviour = _dynamic(distribution, "ordered_cache_behavior")
    assert expr(behaviour["for_each"]) == "local.behaviours"
    (content,) = behaviour["content"]
    assert expr(content["cache_policy_id"]) == "data.aws_cloudfront_cache_policy.disabled.id"
    assert (
        expr(content["origin_request_policy_id"])
        == "data.aws_cloudfront_origin_request_policy.api.id"
    )
    assert (
        web.data[("aws_cloudfront_cache_policy", "disabled")]["name"] == "Managed-CachingDisabled"
    )
    assert (
        web.data[("aws_cloudfront_origin_request_policy", "api")]["name"]
        == "Managed-AllViewerExceptHostHeader"
    )
    # An origin request policy of our own cannot carry Authorization (CloudFront
    # answers 400), and a cache policy keyed on it would cache per token.
    assert not web.resources_of("aws_cloudfront_origin_request_policy")
    for policy in web.resources_of("aws_cloudfront_cache_policy").values():
        assert "authorization" not in _flat(policy).lower()
    assert content["viewer_protocol_policy"] == "https-only", "a redirected POST becomes a GET"
    assert content["compress"] is True
    # Streams first: CloudFront takes the first pattern that matches.
    behaviours = expr(web.locals["behaviours"])
    assert behaviours.index('origin = "stream"') < behaviours.index('origin = "api"')


def test_every_response_carries_the_security_headers(web: Module) -> None:
    policy = _one(web, "aws_cloudfront_response_headers_policy")
    headers = policy["security_headers_config"][0]
    assert headers["strict_transport_security"][0]["access_control_max_age_sec"] >= 31536000
    assert headers["frame_options"][0]["frame_option"] == "DENY"
    assert headers["content_type_options"][0]["override"] is True
    assert headers["referrer_policy"][0]["referrer_policy"] == "strict-origin-when-cross-origin"
    assert expr(headers["content_security_policy"][0]["content_security_policy"]) == "local.csp"
    csp = expr(web.locals["csp"])
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "connect-src 'self'",
    ):
        assert directive in csp, directive
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    distribution = _one(web, "aws_cloudfront_distribution")
    content = _dynamic(distribution, "ordered_cache_behavior")["content"][0]
    for behaviour in (distribution["default_cache_behavior"][0], content):
        assert (
            expr(behaviour["response_headers_policy_id"])
            == "aws_cloudfront_response_headers_policy.security.id"
        )
        assert behaviour["compress"] is True


def test_the_bucket_behaviour_obeys_the_objects_cache_headers(web: Module) -> None:
    """scripts/deploy-web sets no-cache on index.html and config.json; with a minimum
    TTL above 0 CloudFront would keep them anyway, and the invalidation would be the
    only thing showing a deploy."""
    policy = _one(web, "aws_cloudfront_cache_policy")
    assert policy["min_ttl"] == 0
    keys = policy["parameters_in_cache_key_and_forwarded_to_origin"][0]
    assert keys["enable_accept_encoding_gzip"] is True
    assert keys["enable_accept_encoding_brotli"] is True
    assert keys["query_strings_config"][0]["query_string_behavior"] == "none"
    assert set(INVALIDATED_PATHS) == {f"/{INDEX_KEY}", f"/{CONFIG_KEY}"}


# -- WAF ----------------------------------------------------------------------


def test_waf_in_us_east_1_with_managed_rules_and_a_rate_limit(web: Module, env: Module) -> None:
    acl = _one(web, "aws_wafv2_web_acl")
    assert acl["scope"] == "CLOUDFRONT"
    assert expr(acl["provider"]) == "aws.us_east_1"
    assert expr(_one(web, "aws_cloudfront_distribution")["web_acl_id"]) == (
        "aws_wafv2_web_acl.this.arn"
    )
    rules = sorted(acl["rule"], key=lambda r: r["priority"])
    rate = rules[0]
    statement = rate["statement"][0]["rate_based_statement"][0]
    assert expr(statement["limit"]) == "var.waf_rate_limit"
    assert statement["aggregate_key_type"] == "IP"
    assert "block" in rate["action"][0]
    groups = [r["statement"][0]["managed_rule_group_statement"][0] for r in rules[1:]]
    assert [(g["vendor_name"], g["name"]) for g in groups] == [
        ("AWS", "AWSManagedRulesCommonRuleSet"),
        ("AWS", "AWSManagedRulesKnownBadInputsRuleSet"),
    ]
    # Managed groups keep their own block actions (none would count them only).
    assert all("none" in r["override_action"][0] for r in rules[1:])
    assert acl["default_action"][0] == {"allow": [{}]}
    logging = _one(web, "aws_wafv2_web_acl_logging_configuration")
    assert logging["redacted_fields"][0]["single_header"][0]["name"] == "authorization"
    log_group = _one(web, "aws_cloudwatch_log_group")
    assert expr(log_group["provider"]) == "aws.us_east_1"
    assert expr(log_group["name"]).startswith("aws-waf-logs-")
    # Log delivery may write to this group only, for this account only.
    delivery = _one(web, "aws_cloudwatch_log_resource_policy")
    assert expr(delivery["provider"]) == "aws.us_east_1"
    document = re.sub(r"\s+", "", expr(delivery["policy_document"]))
    assert 'Resource="${aws_cloudwatch_log_group.waf.arn}:*"' in document
    assert '"aws:SourceAccount"=data.aws_caller_identity.current.account_id' in document
    # The provider alias the module needs, and the root that gives it.
    versions = (WEB / "versions.tf").read_text(encoding="utf-8")
    assert "configuration_aliases = [aws.us_east_1]" in versions
    root = (ENV / "versions.tf").read_text(encoding="utf-8")
    assert re.search(r'alias\s+=\s+"us_east_1"\s+region\s+=\s+"us-east-1"', root)
    assert env.calls["web"]["providers"] == {"aws": "aws", "${aws.us_east_1}": "${aws.us_east_1}"}


# -- wiring in the environment --------------------------------------------------


def _cloudfront_matches(pattern: str, path: str) -> bool:
    # CloudFront: * is any run of characters (slashes too), ? one; case-sensitive.
    return fnmatch.fnmatchcase(path, pattern)


def _concrete(route: str) -> str:
    return re.sub(r"\{[^}]*\}", "x1", route.split(" ", 1)[1])


def test_streaming_routes_reach_the_streaming_api_and_nothing_else_does(
    env: Module, web: Module, access: dict[str, Any]
) -> None:
    assert expr(env.locals["web_stream_path_patterns"]) == (
        "distinct([for r in local.access.streaming_routes : "
        'replace(split(" ", r.route)[1], "/\\\\{[^}]*\\\\}/", "*")])'
    )
    # The same transformation, here: "{...}" becomes "*".
    streams = sorted(
        {re.sub(r"\{[^}]*\}", "*", r["route"].split(" ")[1]) for r in access["streaming_routes"]}
    )
    assert streams == ["/v1/orders/*:watch"]
    api = web.variables["api_path_patterns"]["default"]
    routes = set(access["token_routes"]) | set(access["anonymous_routes"])
    streaming = {r["route"] for r in access["streaming_routes"]}
    for route in routes:
        path = _concrete(route)
        if not path.startswith("/v1/"):
            continue  # /docs and /openapi.json stay on the API's own URL
        assert any(_cloudfront_matches(p, path) for p in api), route
        to_stream = any(_cloudfront_matches(p, path) for p in streams)
        assert to_stream == (route in streaming), route
    assert expr(env.calls["web"]["stream_path_patterns"]) == "local.web_stream_path_patterns"
    origin = expr(env.locals["web_stream_origin"])
    assert "module.stream_api[0].stream_url" in origin and "var.streaming_api" in origin


def test_the_api_origin_is_the_http_api(env: Module) -> None:
    assert expr(env.calls["web"]["api_domain_name"]) == (
        'replace(module.api_gateway.api_url, "https://", "")'
    )


def test_sign_in_comes_back_to_the_storefront_on_the_apis_user_pool(env: Module) -> None:
    identity = env.calls["identity"]
    assert expr(identity["callback_urls"]) == (
        "concat(var.cognito_callback_urls, local.web_callback_urls)"
    )
    assert expr(identity["logout_urls"]) == "concat(var.cognito_logout_urls, local.web_logout_urls)"
    assert (
        expr(env.locals["web_callback_urls"]) == 'var.web ? ["${module.web[0].url}/callback"] : []'
    )
    # The token exchange is the one fetch to another origin the CSP allows.
    assert "module.identity[0].hosted_ui_url" in expr(env.calls["web"]["connect_sources"])
    web_output = _flat(env.outputs["web"])
    assert "module.identity[0].web_client_id" in web_output
    assert "local.web_callback_urls[0]" in web_output
    # The same pool and client the API's JWT authorizer and the gateway accept.
    assert "module.identity[0].audiences" in expr(env.locals["jwt"])
    # The storefront needs the cart: a signed-in customer's client may ask for it.
    assert {"carts.read", "carts.write"} <= set(env.variables["cognito_user_scopes"]["default"])


# -- the CloudFront Function, run -----------------------------------------------


def test_the_spa_fallback_rewrites_routes_and_leaves_files() -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node not found (scripts/lib/bootstrap.sh needs it for buf as well)")
        pytest.skip("node not found")
    source = (WEB / "spa_fallback.js").read_text(encoding="utf-8")
    cases = {
        "/": "/index.html",
        "/cart": "/index.html",
        "/orders/abc-123": "/index.html",
        "/orders/abc-123/": "/index.html",
        "/callback": "/index.html",
        "/index.html": "/index.html",
        "/config.json": "/config.json",
        "/assets/index-3f9a1c.js": "/assets/index-3f9a1c.js",
        "/favicon.ico": "/favicon.ico",
        "/missing.png": "/missing.png",
    }
    harness = (
        source
        + "\nconst cases = JSON.parse(process.argv[1]);\n"
        + "const out = {};\n"
        + "for (const uri of Object.keys(cases)) {\n"
        + "  out[uri] = handler({ request: { uri: uri, querystring: {}, headers: {} } }).uri;\n"
        + "}\n"
        + "process.stdout.write(JSON.stringify(out));\n"
    )
    run = subprocess.run(
        [node, "-e", harness, json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd=ROOT,
    )
    assert json.loads(run.stdout) == cases
