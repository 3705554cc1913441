"""The gateway benchmark compares its fronts on the terms it names.

The bench starts ``python -m gateway`` and the naive proxy from these
environments; a new required setting, a changed default or an environment
given to one front only would otherwise show up as a failed or silently
tilted benchmark run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.gateway import (
    GATEWAY,
    JWT_VERIFY,
    NAIVE,
    NAIVE_DEFAULTS,
    Front,
    fronts,
    gateway_env,
    parse_hey,
    parse_wrk,
)
from gateway import Settings
from gateway.auth import JwtSettings
from mesh.config import load_settings
from mesh.issuer import LocalIssuer

GRPC_ENV = {"GRPC_EXPERIMENTS": "-event_engine_client"}


@pytest.fixture
def issuer(tmp_path: Path) -> LocalIssuer:
    return LocalIssuer.load_or_create(tmp_path)


@pytest.fixture
def every(issuer: LocalIssuer, tmp_path: Path) -> dict[str, Front]:
    return fronts(GRPC_ENV, issuer, "http://127.0.0.1:1/jwks", tmp_path / "r.json", 50051)


def test_gateway_rows_run_as_production_without_rate_limit_or_access_log(
    every: dict[str, Front], issuer: LocalIssuer, tmp_path: Path
) -> None:
    assert list(every) == [GATEWAY, JWT_VERIFY, NAIVE, NAIVE_DEFAULTS]
    settings = {name: Settings.from_env(every[name].env) for name in (GATEWAY, JWT_VERIFY)}
    for name, current in settings.items():
        assert every[name].argv[1:] == ["-m", "gateway"]
        assert current.port == every[name].port and current.workers == 1
        assert current.rate_limit_rps == 0 and current.access_log is False
        # The production channels: discovery through the local registry file.
        mesh = load_settings("gateway", every[name].env)
        assert mesh.registry == "local" and mesh.registry_file == tmp_path / "r.json"
    cached, verify = settings[GATEWAY].jwt, settings[JWT_VERIFY].jwt
    assert cached is not None and verify is not None
    assert cached.cache_size == JwtSettings("", "", "").cache_size > 0  # the default
    assert verify.cache_size == 0
    assert cached.issuer == issuer.issuer and cached.audience == issuer.audience


def test_the_naive_proxy_gets_the_gateways_grpc_environment(every: dict[str, Front]) -> None:
    for name in (GATEWAY, JWT_VERIFY, NAIVE):
        assert every[name].env["GRPC_EXPERIMENTS"] == "-event_engine_client"
    assert "GRPC_EXPERIMENTS" not in every[NAIVE_DEFAULTS].env  # for information only
    assert every[NAIVE].argv[-1] == "50051" and every[NAIVE_DEFAULTS].argv[-1] == "defaults"
    assert "GRPC_EXPERIMENTS" in gateway_env()  # services.yaml gives the gateway one


WRK = """Running 2s test @ http://127.0.0.1:1/v1/orders/x
  2 threads and 32 connections
  Latency Distribution
     50%    5.10ms
     75%    6.00ms
     90%    7.00ms
     99%   12.50ms
  9000 requests in 2.00s, 5.00MB read
Requests/sec:   4500.00
"""

HEY = """
Summary:
  Total:	2.0012 secs
  Requests/sec:	999.4000

Latency distribution:
  10% in 0.0010 secs
  50% in 0.0020 secs
  99% in 0.0100 secs

Status code distribution:
  [200]	2000 responses
"""


def test_load_generator_output_gives_cpu_per_request() -> None:
    closed = parse_wrk(WRK, cpu=1.8)
    assert closed["requests"] == 9000 and closed["rps"] == 4500.0
    assert closed["p50_ms"] == pytest.approx(5.1) and closed["p99_ms"] == pytest.approx(12.5)
    assert closed["cpu_ms"] == pytest.approx(0.2)
    fixed = parse_hey(HEY, cpu=0.5)
    assert fixed["requests"] == 2000 and fixed["cpu_ms"] == pytest.approx(0.25)
    assert fixed["p50_ms"] == pytest.approx(2.0) and fixed["p99_ms"] == pytest.approx(10.0)


@pytest.mark.parametrize(
    "broken",
    [
        WRK.replace("Requests/sec", "Non-2xx or 3xx responses: 3\nRequests/sec"),
        WRK.replace("  9000 requests", "  Socket errors: connect 0, read 2\n  9000 requests"),
    ],
)
def test_wrk_runs_with_failures_are_refused(broken: str) -> None:
    with pytest.raises(RuntimeError, match="failed requests"):
        parse_wrk(broken, cpu=1.0)


@pytest.mark.parametrize(
    "broken",
    [
        HEY.replace("[200]\t2000 responses", "[200]\t1990 responses\n  [401]\t10 responses"),
        HEY + "\nError distribution:\n  [3]\tGet ...: connection refused\n",
        HEY.replace("[200]\t2000 responses", ""),
    ],
)
def test_hey_runs_with_failures_or_no_answers_are_refused(broken: str) -> None:
    with pytest.raises(RuntimeError, match="failed requests"):
        parse_hey(broken, cpu=1.0)
