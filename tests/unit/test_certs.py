"""scripts/certs (mesh.certs): a local CA and a certificate per service, made once, kept while valid."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from mesh.certs import CLIENT, ensure_certs, main
from mesh.runner import grpcurl_flags, tls_env
from mesh.tls import TlsSettings, issued_by
from mesh.topology import load_topology, parse_topology

TOPOLOGY = load_topology()
EVERYONE = [*TOPOLOGY.services, CLIENT]


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_writes_a_ca_and_a_certificate_per_service_with_private_keys(tmp_path: Path) -> None:
    files, written = ensure_certs(tmp_path / "tls", TOPOLOGY)
    assert written == ["ca", *EVERYONE]
    assert stat.S_IMODE(files.directory.stat().st_mode) == 0o700
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    assert stat.S_IMODE(files.ca_key.stat().st_mode) == 0o600
    for name in EVERYONE:
        assert stat.S_IMODE(files.key(name).stat().st_mode) == 0o600
        assert stat.S_IMODE(files.cert(name).stat().st_mode) == 0o644
        cert = x509.load_pem_x509_certificate(files.cert(name).read_bytes())
        assert issued_by(cert, ca)
        tls = TlsSettings.from_files(files.cert(name), files.key(name), files.ca)
        assert tls.identity == name
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert ExtendedKeyUsageOID.CLIENT_AUTH in usages
        assert (ExtendedKeyUsageOID.SERVER_AUTH in usages) is (name != CLIENT)
    san = x509.load_pem_x509_certificate(files.cert("orders").read_bytes()).extensions
    names = san.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["orders", "orders.shop.local"]
    assert list(tmp_path.glob("tls/.*")) == []  # no temporary files left behind


def test_second_run_keeps_everything(tmp_path: Path) -> None:
    ensure_certs(tmp_path, TOPOLOGY)
    before = _snapshot(tmp_path)
    _, written = ensure_certs(tmp_path, TOPOLOGY)
    assert written == []
    assert _snapshot(tmp_path) == before


def test_reissues_only_what_is_missing_broken_or_misnamed(tmp_path: Path) -> None:
    files, _ = ensure_certs(tmp_path, TOPOLOGY)
    before = _snapshot(tmp_path)
    files.key("catalog").unlink()
    files.cert("inventory").write_text("garbage")
    files.cert("orders").write_bytes(files.cert("gateway").read_bytes())  # wrong names
    _, written = ensure_certs(tmp_path, TOPOLOGY)
    assert sorted(written) == ["catalog", "inventory", "orders"]
    after = _snapshot(tmp_path)
    assert after["ca.pem"] == before["ca.pem"]
    assert after["gateway.pem"] == before["gateway.pem"]


def test_a_new_ca_reissues_every_certificate(tmp_path: Path) -> None:
    files, _ = ensure_certs(tmp_path, TOPOLOGY)
    files.ca_key.unlink()
    _, written = ensure_certs(tmp_path, TOPOLOGY)
    assert written == ["ca", *EVERYONE]
    _, forced = ensure_certs(tmp_path, TOPOLOGY, force=True)
    assert forced == ["ca", *EVERYONE]


def test_a_service_named_like_the_tools_certificate_is_refused(tmp_path: Path) -> None:
    topology = parse_topology(
        {"namespace": "n", "services": {CLIENT: {"module": "m", "grpc_service": "x.A", "port": 1}}}
    )
    with pytest.raises(ValueError, match="may not be named 'client'"):
        ensure_certs(tmp_path, topology)


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(tmp_path)]) == 0
    assert "issued: ca, catalog" in capsys.readouterr().out
    assert main(["--data-dir", str(tmp_path)]) == 0
    assert "kept:   ca, catalog" in capsys.readouterr().out
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "tls").write_text("a file where the directory should be")
    assert main(["--data-dir", str(blocked)]) == 2
    assert "error:" in capsys.readouterr().err


def test_runner_gives_each_process_its_own_certificate(tmp_path: Path) -> None:
    files, _ = ensure_certs(tmp_path, TOPOLOGY)
    env = tls_env(files, "orders")
    assert env["MESH_TLS_CERT"] == str(files.cert("orders"))
    assert env["MESH_TLS_KEY"] == str(files.key("orders"))
    assert env["MESH_TLS_CA"] == str(files.ca)
    assert env["MESH_TLS_CERT_PEM"] == ""  # a caller's content variable must not clash
    assert grpcurl_flags(None, "orders", "shop.local") == "-plaintext"
    flags = grpcurl_flags(files, "orders", "shop.local")
    assert flags == (
        f"-cacert {files.ca} -cert {files.cert(CLIENT)} -key {files.key(CLIENT)} "
        "-servername orders.shop.local"
    )


def test_grpcurl_paths_are_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files, _ = ensure_certs(tmp_path / ".data" / "tls", TOPOLOGY)
    monkeypatch.chdir(tmp_path)
    assert grpcurl_flags(files, "catalog", "shop.local").startswith(
        "-cacert .data/tls/ca.pem -cert .data/tls/client.pem -key .data/tls/client-key.pem "
    )
