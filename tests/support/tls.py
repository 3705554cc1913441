"""Certificates for TLS tests: the mesh's own local CA (mesh.certs) and a rogue one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mesh.certs import CLIENT, CertFiles, Issued, ensure_certs, issue, new_ca
from mesh.tls import TlsSettings
from mesh.topology import Topology, load_topology

NAMESPACE = "shop.local"


@dataclass(frozen=True)
class Pki:
    """The CA and certificates ``scripts/certs`` writes, plus a CA nobody trusts."""

    files: CertFiles
    topology: Topology
    rogue_ca: Issued

    def tls(self, name: str, *, client_auth: bool = True) -> TlsSettings:
        """A process's settings: ``name``'s certificate (a service or ``client``)."""
        return TlsSettings.from_files(
            self.files.cert(name), self.files.key(name), self.files.ca, client_auth=client_auth
        )

    def env(self, name: str) -> dict[str, str]:
        """``MESH_TLS_*`` for a process that runs as ``name``."""
        return {
            "MESH_TLS_CERT": str(self.files.cert(name)),
            "MESH_TLS_KEY": str(self.files.key(name)),
            "MESH_TLS_CA": str(self.files.ca),
        }

    def rogue(self, name: str = "gateway") -> TlsSettings:
        """A certificate with a trusted-looking name, from the wrong CA (it trusts ours)."""
        forged = issue(self.rogue_ca, [name, f"{name}.{NAMESPACE}"])
        return TlsSettings(forged.cert_pem, forged.key_pem, self.files.ca.read_bytes())

    def client(self) -> TlsSettings:
        return self.tls(CLIENT)


def make_pki(directory: Path) -> Pki:
    topology = load_topology()
    files, _ = ensure_certs(directory, topology)
    return Pki(files, topology, new_ca("rogue CA"))
