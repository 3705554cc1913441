"""The local issuer across processes: racing key creators, and ``python -m mesh.issuer serve``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mesh.issuer import KEY_FILE, LocalIssuer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
RACERS = 8
# Each racer imports everything first, then waits for one line on stdin: the
# starting gun, so that all of them reach load_or_create together.
RACER = (
    "import sys; from pathlib import Path; from mesh.issuer import LocalIssuer; "
    "sys.stdin.readline(); print(LocalIssuer.load_or_create(Path(sys.argv[1])).kid)"
)


@pytest.mark.parametrize("round_", range(3))
def test_racing_creators_end_with_one_key(tmp_path: Path, round_: int) -> None:
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(RACERS)
    ]
    for racer in racers:
        assert racer.stdin is not None
        racer.stdin.write("go\n")
        racer.stdin.flush()
    results = [racer.communicate(timeout=60) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), [err for _, err in results]
    kids = {out.strip() for out, _ in results}
    assert kids == {LocalIssuer.load_or_create(tmp_path).kid}
    assert os.listdir(tmp_path / KEY_FILE.parent) == ["signing-key.pem"]


def test_serve_prints_the_url_serves_the_jwks_and_stops_on_sigterm(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "mesh.issuer", "serve", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()  # printed once the server listens
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/.well-known/jwks.json")
        response = httpx.get(url, timeout=10)
        assert response.json() == LocalIssuer.load_or_create(tmp_path).jwks()
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, err
    assert (out, err) == ("", "")


def test_serve_refuses_a_host_that_is_not_loopback(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "mesh.issuer", "serve", "--data-dir", str(tmp_path)]
    result = subprocess.run(
        [*command, "--host", "0.0.0.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "loopback only" in result.stderr
