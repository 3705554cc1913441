"""The ADOT sidecar, the dashboard and the alarms: wired, least-privileged, on by default in dev."""

from __future__ import annotations

import pytest

from tests.deploy.terraform import ENV, MODULES, Module, expr, load_module, strings


@pytest.fixture(scope="module")
def env() -> Module:
    return load_module(ENV)


@pytest.fixture(scope="module")
def ecs_service() -> Module:
    return load_module(MODULES / "ecs_service")


@pytest.fixture(scope="module")
def observability() -> Module:
    return load_module(MODULES / "observability")


def test_dev_runs_the_sidecar_by_default(env: Module) -> None:
    assert env.variables["observability"]["default"] is True
    assert expr(env.calls["service"]["observability"]) == "local.observability"
    assert 0 <= env.variables["trace_sample_ratio"]["default"] <= 1
    image = env.variables["adot_collector_image"]["default"]
    assert ":latest" not in image and "aws-otel-collector:v" in image  # pinned


def test_the_sidecar_is_optional_and_the_app_exports_to_it(ecs_service: Module) -> None:
    sidecars = expr(ecs_service.locals["sidecars"])
    assert "essential = false" in sidecars  # the service keeps serving without it
    assert "readonlyRootFilesystem = true" in sidecars
    assert 'user = "10001:10001"' in sidecars
    telemetry = ecs_service.locals["telemetry_environment"]
    assert telemetry["MESH_TRACES_EXPORTER"] == "otlp-http"
    assert telemetry["MESH_TRACES_ENDPOINT"] == "http://127.0.0.1:4318/v1/traces"
    # Metrics on the task's loopback only: neither the VPC nor API Gateway reaches them.
    assert telemetry["MESH_METRICS_HOST"] == "127.0.0.1"
    (task,) = ecs_service.resources_of("aws_ecs_task_definition").values()
    assert "local.sidecars" in expr(task["container_definitions"])
    assert "local.observe ? local.telemetry_environment : {}" in expr(
        ecs_service.locals["environment"]
    )


def test_the_task_role_may_send_traces_and_metric_events_and_nothing_more(
    ecs_service: Module,
) -> None:
    document = ecs_service.data["aws_iam_policy_document", "task"]
    statements = {
        block["content"][0]["sid"]: block["content"][0]
        for dynamic in document["dynamic"]
        for block in dynamic.values()
    }
    xray = statements["SendTracesToXRay"]
    assert all(action.startswith("xray:") for action in xray["actions"])
    assert not any("*" in action for action in xray["actions"])
    logs = statements["WriteMetricEvents"]
    assert set(logs["actions"]) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogStreams",
    }
    assert logs["resources"] == ["${statement.value}:*"]  # the metrics log group only
    (metrics,) = [
        body
        for name, body in ecs_service.resources_of("aws_cloudwatch_log_group").items()
        if name == "metrics"
    ]
    assert "var.kms_key_arn" in metrics["kms_key_id"]


def test_the_collector_sends_spans_to_xray_and_metrics_as_emf(observability: Module) -> None:
    config = " ".join(strings(observability.locals["collector_config"]))
    for needle in (
        "awsxray",
        "awsemf",
        "otlp",
        "prometheus",
        "127.0.0.1:4318",
        "MESH_METRICS_PORT",
    ):
        assert needle in config


def test_every_alarm_notifies_the_encrypted_topic(observability: Module) -> None:
    (topic,) = observability.resources_of("aws_sns_topic").values()
    assert "var.kms_key_arn" in topic["kms_master_key_id"]
    alarms = observability.resources_of("aws_cloudwatch_metric_alarm")
    assert set(alarms) == {
        "api_5xx_rate",
        "api_p99",
        "service_p99",
        "unhealthy_tasks",
        "db_cpu",
        "db_free_storage",
    }
    for name, alarm in alarms.items():
        assert alarm["alarm_actions"] == ["${aws_sns_topic.alarms.arn}"], name
    metrics = {alarm.get("metric_name") for alarm in alarms.values()}
    assert {"Latency", "RunningTaskCount", "CPUUtilization", "FreeStorageSpace"} <= metrics
    dashboard = " ".join(strings(observability.locals["service_rows"]))
    for widget in ("requests", "errors", "p99", "CPU", "running tasks"):
        assert widget in dashboard
