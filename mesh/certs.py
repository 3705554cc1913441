"""A local certificate authority and one certificate per service, for TLS on one machine.

    python -m mesh.certs [--data-dir .data] [--force]

Writes into ``<data dir>/tls/``: ``ca.pem`` and ``ca-key.pem`` (the CA),
``<service>.pem`` and ``<service>-key.pem`` for every entry of services.yaml
(the gateway included; each names the service as :func:`mesh.tls.certificate_names`
says), and ``client.pem``/``client-key.pem``, a client-only certificate for
people and tools such as grpcurl, so that no one borrows a service's identity.
Keys are EC P-256 and readable by their owner only (0600).

Idempotent: files that are present, signed by the CA, carry the expected names
and stay valid for more than :data:`RENEW_BEFORE` are kept; anything else is
issued again (all of it with ``--force`` or when the CA itself is replaced).
These certificates are for local runs and tests; on AWS they come from your
own PKI through Secrets Manager (see docs/deploy.md).
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mesh.tls import certificate_names, issued_by
from mesh.topology import Topology, TopologyError, load_topology

__all__ = [
    "CLIENT",
    "RENEW_BEFORE",
    "CertFiles",
    "Issued",
    "ensure_certs",
    "issue",
    "main",
    "new_ca",
]

#: The identity of the certificate for people and tools (not a service).
CLIENT = "client"
#: Certificates closer than this to their end are issued again.
RENEW_BEFORE = datetime.timedelta(days=30)
_CA_DAYS = 3650
# 397 days: the longest leaf validity browsers and most TLS stacks accept.
_LEAF_DAYS = 397


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, days: int
) -> x509.CertificateBuilder:
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # An hour back: a peer whose clock is a little behind still accepts it.
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def new_ca(common_name: str = "shop-mesh local CA", *, days: int = _CA_DAYS) -> Issued:
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        _builder(name, name, key, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def issue(
    ca: Issued, names: Sequence[str], *, days: int = _LEAF_DAYS, server: bool = True
) -> Issued:
    """A leaf certificate for ``names`` (DNS names or IP literals; the first is the CN).

    Every leaf may authenticate clients; ``server`` adds server authentication.
    """
    if not names:
        raise ValueError("a certificate needs at least one name")
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if server:
        usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        _builder(subject, ca.cert.subject, key, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(cert, key)


@dataclass(frozen=True, slots=True)
class CertFiles:
    """Where the local CA and certificates live (``<data dir>/tls``)."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca-key.pem"

    def cert(self, name: str) -> Path:
        return self.directory / f"{name}.pem"

    def key(self, name: str) -> Path:
        return self.directory / f"{name}-key.pem"


def _write(path: Path, data: bytes, mode: int) -> None:
    # A temporary file then a rename: a reader never sees half a key, and the
    # key is never readable by others, not even for a moment.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _save(issued: Issued, cert: Path, key: Path) -> None:
    _write(key, issued.key_pem, 0o600)
    _write(cert, issued.cert_pem, 0o644)


def _load(cert: Path, key: Path) -> Issued | None:
    try:
        certificate = x509.load_pem_x509_certificate(cert.read_bytes())
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        return None
    if private.public_key() != certificate.public_key():
        return None
    if certificate.not_valid_after_utc - _now() < RENEW_BEFORE:
        return None
    return Issued(certificate, private)


def _names_of(certificate: x509.Certificate) -> list[str]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(name.value) for name in san]


def ensure_certs(
    directory: Path, topology: Topology, *, force: bool = False
) -> tuple[CertFiles, list[str]]:
    """Make sure the CA and every certificate exist and are valid; returns what was (re)issued."""
    if CLIENT in topology.services:
        raise ValueError(
            f"a service may not be named {CLIENT!r}: the tools' certificate has that name"
        )
    files = CertFiles(directory)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    written: list[str] = []
    ca = None if force else _load(files.ca, files.ca_key)
    if ca is None or not issued_by(ca.cert, ca.cert):
        ca = new_ca()
        _save(ca, files.ca, files.ca_key)
        written.append("ca")
        force = True
    wanted = {name: certificate_names(name, topology.namespace) for name in topology.services}
    wanted[CLIENT] = [CLIENT]
    for name, names in wanted.items():
        current = None if force else _load(files.cert(name), files.key(name))
        if (
            current is not None
            and issued_by(current.cert, ca.cert)
            and _names_of(current.cert) == names
        ):
            continue
        _save(issue(ca, names, server=name != CLIENT), files.cert(name), files.key(name))
        written.append(name)
    return files, written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/certs", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("MESH_DATA_DIR", ".data"))
    )
    parser.add_argument("--force", action="store_true", help="issue everything again, a new CA too")
    opts = parser.parse_args(argv)
    try:
        topology = load_topology()
        files, written = ensure_certs(opts.data_dir / "tls", topology, force=opts.force)
    except (TopologyError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    kept = [n for n in ["ca", *topology.services, CLIENT] if n not in written]
    print(f"certificates in {files.directory}/")
    if written:
        print(f"  issued: {', '.join(written)}")
    if kept:
        print(f"  kept:   {', '.join(kept)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
