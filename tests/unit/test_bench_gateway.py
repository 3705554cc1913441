"""The gateway benchmark's rows run the gateway with the settings they are named for.

The bench starts the gateway from these environments; a new required setting
or a changed default would otherwise show up as a failed or silently different
benchmark run.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.gateway import JWT_CACHED, JWT_VERIFY, gateway_rows
from gateway import Settings
from gateway.auth import JwtSettings
from mesh.issuer import LocalIssuer


def test_every_gateway_row_reads_and_runs_without_a_rate_limit(tmp_path: Path) -> None:
    issuer = LocalIssuer.load_or_create(tmp_path)
    grpc_env = {"GRPC_EXPERIMENTS": "-event_engine_client"}
    rows = gateway_rows(grpc_env, issuer, "http://127.0.0.1:1/.well-known/jwks.json")

    settings = {name: Settings.from_env(env) for name, env in rows.items()}

    assert list(settings) == ["gateway", JWT_CACHED, JWT_VERIFY]
    assert all(env["GRPC_EXPERIMENTS"] == "-event_engine_client" for env in rows.values())
    assert all(s.rate_limit_rps == 0 for s in settings.values())
    assert settings["gateway"].jwt is None
    cached, verify = settings[JWT_CACHED].jwt, settings[JWT_VERIFY].jwt
    assert cached is not None and verify is not None
    assert cached.cache_size == JwtSettings("", "", "").cache_size > 0  # the default
    assert verify.cache_size == 0
    assert cached.issuer == issuer.issuer and cached.audience == issuer.audience
