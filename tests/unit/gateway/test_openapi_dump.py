"""``python -m gateway.openapi_dump``: the document the gateway serves, written without a server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import LocalChannelProvider, Settings, create_app
from gateway.openapi_dump import document, main


def test_it_is_the_document_the_gateway_serves() -> None:
    served = create_app(LocalChannelProvider({"catalog": 1}), settings=Settings(access_log=False))
    assert document() == served.openapi
    assert "/v1/cart:checkout" in document()["paths"]


def test_it_writes_the_file_only_when_it_changed(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "openapi.json"
    assert main([str(target)]) == 0
    assert json.loads(target.read_text()) == document()
    before = target.stat().st_mtime_ns
    assert main([str(target)]) == 0
    assert target.stat().st_mtime_ns == before


def test_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert json.loads(capsys.readouterr().out) == document()


@pytest.mark.parametrize(
    "argv", [["/proc/version/openapi.json"], ["/dev/null/x.json"], ["a", "b"], ["--nope"]]
)
def test_bad_targets_are_a_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and "Traceback" not in err


def test_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.openapi_dump"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["openapi"].startswith("3.")
