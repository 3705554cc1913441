"""scripts/token as a user runs it: a token on stdout, or a clear refusal and exit 2."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt
import pytest

from mesh.issuer import KEY_FILE, LOCAL_AUDIENCE, LOCAL_ISSUER, LocalIssuer
from mesh.token import CUSTOMER_SCOPES, known_scopes

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]


def token_cli(
    *args: str, env: dict[str, str] | None = None, wrapper: bool = False
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "MESH_DATA_DIR"}
    command = [str(ROOT / "scripts" / "token")] if wrapper else [sys.executable, "-m", "mesh.token"]
    return subprocess.run(
        [*command, *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def claims_of(result: subprocess.CompletedProcess[str], data_dir: Path) -> dict[str, Any]:
    """The verified claims of the one token the CLI printed, checked as the gateway will."""
    assert result.returncode == 0, result.stderr
    token = result.stdout.removesuffix("\n")
    assert token and "\n" not in token
    (jwk,) = LocalIssuer.load_or_create(data_dir).jwks()["keys"]
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]
    claims: dict[str, Any] = jwt.decode(
        token, jwt.PyJWK(jwk), ["RS256"], audience=LOCAL_AUDIENCE, issuer=LOCAL_ISSUER
    )
    return claims


def test_the_default_is_a_customer_named_alice(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = token_cli("--data-dir", str(data_dir))
    claims = claims_of(result, data_dir)
    assert claims["sub"] == "alice"
    assert claims["scope"] == " ".join(sorted(CUSTOMER_SCOPES))
    assert claims["exp"] - claims["iat"] == 3600
    assert stat.S_IMODE((data_dir / KEY_FILE).stat().st_mode) == 0o600
    assert os.listdir(data_dir / KEY_FILE.parent) == ["signing-key.pem"]


def test_user_scopes_and_ttl_are_the_callers(tmp_path: Path) -> None:
    result = token_cli(
        "--user", "bob@example.com", "--scope", "orders.read", "--scope", "orders.admin",
        "--scope", "orders.read", "--ttl", "60", "--data-dir", str(tmp_path),
    )  # fmt: skip
    claims = claims_of(result, tmp_path)
    assert claims["sub"] == "bob@example.com"
    assert claims["scope"] == "orders.admin orders.read"
    assert claims["exp"] - claims["iat"] == 60


def test_admin_gets_every_scope_the_contracts_declare(tmp_path: Path) -> None:
    claims = claims_of(token_cli("--admin", "--data-dir", str(tmp_path)), tmp_path)
    scopes = claims["scope"].split()
    assert scopes == sorted(known_scopes())
    assert {"catalog.write", "inventory.write", "orders.admin", "orders.read"} <= set(scopes)


def test_the_data_dir_defaults_to_mesh_data_dir_and_the_key_is_kept(tmp_path: Path) -> None:
    before = LocalIssuer.load_or_create(tmp_path)  # as if scripts/run had made it
    result = token_cli(env={"MESH_DATA_DIR": str(tmp_path)})
    assert claims_of(result, tmp_path)["sub"] == "alice"
    assert jwt.get_unverified_header(result.stdout.strip())["kid"] == before.kid


def test_the_wrapper_prints_only_the_token(tmp_path: Path) -> None:
    result = token_cli("--user", "carol", "--data-dir", str(tmp_path), wrapper=True)
    assert claims_of(result, tmp_path)["sub"] == "carol"


KNOWN = "known: " + ", ".join(sorted(known_scopes()))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "nope"], f"unknown scope 'nope' (one scope per --scope; {KNOWN})"),
        (["--scope", "orders.read orders.write"], "unknown scope 'orders.read orders.write'"),
        (["--scope", "x" * 10_240], "unknown scope 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'"),
        (["--scope"], "argument --scope: expected one argument"),
        (["--admin", "--scope", "orders.read"], "not allowed with argument"),
        (["--user", ""], "--user: a subject has 1 to 255 characters"),
        (["--user", "a\nb"], "--user: subject 'a\\nb': printable characters only"),
        (["--user", "a b"], "no spaces"),
        (["--user", "x" * 10_240], "--user: a subject has 1 to 255 characters"),
        (["--user"], "argument --user: expected one argument"),
        (["--ttl", "0"], "argument --ttl: must be more than 0 and at most 86400 seconds"),
        (["--ttl", "-1"], "argument --ttl: must be more than 0 and at most 86400 seconds"),
        (["--ttl", "1e9"], "argument --ttl: must be more than 0 and at most 86400 seconds"),
        (["--ttl", "86400.5"], "argument --ttl: must be more than 0 and at most 86400 seconds"),
        (["--ttl", "nan"], "argument --ttl: must be more than 0 and at most 86400 seconds"),
        (["--ttl", "inf"], "argument --ttl: must be more than 0 and at most 86400 seconds"),
        (["--ttl", "x"], "argument --ttl: 'x' is not a number of seconds"),
        (["--data-dir", ""], "argument --data-dir: must not be empty"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(
    tmp_path: Path, args: list[str], message: str
) -> None:
    data_dir = tmp_path / "data"
    result = token_cli("--data-dir", str(data_dir), *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr) < 1000  # hostile input is not echoed back whole
    assert not data_dir.exists()


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    result = token_cli("--data-dir", str(blocker))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "signing-key.pem: cannot read the key: Not a directory" in result.stderr
    assert blocker.read_text() == "in the way"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permissions")
def test_a_data_dir_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        result = token_cli("--data-dir", str(tmp_path))
        assert result.returncode == 2
        assert result.stdout == ""
        assert "cannot create the key directory: Permission denied" in result.stderr
        assert os.listdir(tmp_path) == []
    finally:
        tmp_path.chmod(0o700)


def test_a_damaged_key_is_refused_and_kept(tmp_path: Path) -> None:
    key = tmp_path / KEY_FILE
    key.parent.mkdir()
    key.write_bytes(b"half a key")
    key.chmod(0o600)
    result = token_cli("--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "not a PEM private key" in result.stderr
    assert "delete it to get a new one" in result.stderr
    assert key.read_bytes() == b"half a key"
    assert os.listdir(key.parent) == ["signing-key.pem"]
