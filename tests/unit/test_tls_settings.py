"""MESH_TLS_* and MESH_DB_SSL*: read once, checked at start-up, errors name the variable."""

from __future__ import annotations

import datetime
import re
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mesh.certs import Issued, issue, new_ca
from mesh.config import ConfigError, load_settings, load_tls
from mesh.tls import TlsSettings
from tests.support.tls import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("tls"))


def test_off_by_default() -> None:
    assert load_tls({}) is None
    settings = load_settings("orders", environ={})
    assert settings.tls is None and settings.db_tls is None


def test_paths_make_mutual_tls_with_the_certificate_name(pki: Pki) -> None:
    tls = load_tls(pki.env("orders"))
    assert tls is not None
    assert tls.client_auth is True
    assert tls.identity == "orders"
    assert tls.cert == pki.files.cert("orders").read_bytes()
    assert load_settings("orders", environ=pki.env("orders")).tls == tls
    one_way = load_tls({**pki.env("orders"), "MESH_TLS_CLIENT_AUTH": "false"})
    assert one_way is not None and one_way.client_auth is False


def test_key_stays_out_of_repr(pki: Pki) -> None:
    tls = pki.tls("orders")
    assert b"PRIVATE KEY" in tls.key
    assert "PRIVATE" not in repr(tls)


def test_pem_content_for_ecs_secrets(pki: Pki) -> None:
    env = {f"{name}_PEM": Path(path).read_text() for name, path in pki.env("catalog").items()}
    tls = load_tls(env)
    assert tls is not None and tls.identity == "catalog"
    # A secret typed into a console often holds literal \n instead of line breaks.
    flat = {name: value.replace("\n", "\\n") for name, value in env.items()}
    assert load_tls(flat) == tls


def test_each_part_from_its_own_source(pki: Pki) -> None:
    env = pki.env("catalog")
    mixed = {**env, "MESH_TLS_CA": "", "MESH_TLS_CA_PEM": pki.files.ca.read_text()}
    assert load_tls(mixed) == load_tls(env)


@pytest.mark.parametrize("dropped", ["MESH_TLS_CERT", "MESH_TLS_KEY", "MESH_TLS_CA"])
def test_all_three_or_none(pki: Pki, dropped: str) -> None:
    env = pki.env("orders")
    del env[dropped]
    with pytest.raises(ConfigError, match=f"{dropped} \\(or {dropped}_PEM\\) is not set"):
        load_tls(env)
    with pytest.raises(ConfigError, match=dropped):
        load_settings("orders", environ=env)


def test_path_and_content_together_are_refused(pki: Pki) -> None:
    env = {**pki.env("orders"), "MESH_TLS_KEY_PEM": pki.files.key("orders").read_text()}
    with pytest.raises(ConfigError, match="set MESH_TLS_KEY or MESH_TLS_KEY_PEM, not both"):
        load_tls(env)


def test_unreadable_file_names_the_variable(pki: Pki, tmp_path: Path) -> None:
    env = {**pki.env("orders"), "MESH_TLS_KEY": str(tmp_path / "missing-key.pem")}
    with pytest.raises(ConfigError, match=r"MESH_TLS_KEY='.*missing-key.pem' cannot be read"):
        load_tls(env)


@pytest.mark.parametrize(
    ("variable", "content", "message"),
    [
        ("MESH_TLS_CERT", "garbage", "no PEM certificate"),
        (
            "MESH_TLS_CA",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "no PEM CA",
        ),
        ("MESH_TLS_KEY", "garbage", "not an unencrypted PEM private key"),
    ],
)
def test_garbage_pem_names_the_variable(
    pki: Pki, tmp_path: Path, variable: str, content: str, message: str
) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text(content)
    with pytest.raises(ConfigError, match=f"^{variable}: {message}"):
        load_tls({**pki.env("orders"), variable: str(bad)})
    pem = {**pki.env("orders"), variable: "", f"{variable}_PEM": content}
    with pytest.raises(ConfigError, match=f"^{variable}_PEM: {message}"):
        load_tls(pem)


def test_a_key_of_another_certificate_is_refused(pki: Pki) -> None:
    env = {**pki.env("orders"), "MESH_TLS_KEY": str(pki.files.key("catalog"))}
    with pytest.raises(ConfigError, match="MESH_TLS_KEY: the private key does not belong"):
        load_tls(env)


def test_an_encrypted_key_is_refused(pki: Pki, tmp_path: Path) -> None:
    key = serialization.load_pem_private_key(pki.files.key("orders").read_bytes(), None)
    locked = tmp_path / "locked.pem"
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    with pytest.raises(ConfigError, match="MESH_TLS_KEY: not an unencrypted"):
        load_tls({**pki.env("orders"), "MESH_TLS_KEY": str(locked)})


def test_an_expired_certificate_is_refused() -> None:
    ca = new_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "orders")])
    expired = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=30))
        .not_valid_after(now - datetime.timedelta(days=1))
        .sign(ca.key, hashes.SHA256())
    )
    env = {
        "MESH_TLS_CERT_PEM": expired.public_bytes(serialization.Encoding.PEM).decode(),
        "MESH_TLS_KEY_PEM": Issued(expired, key).key_pem.decode(),
        "MESH_TLS_CA_PEM": ca.cert_pem.decode(),
    }
    with pytest.raises(ConfigError, match="MESH_TLS_CERT_PEM: the certificate expired on"):
        load_tls(env)


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_bad_client_auth_names_the_variable(pki: Pki, value: str) -> None:
    with pytest.raises(ConfigError, match=f"MESH_TLS_CLIENT_AUTH={value!r} is invalid"):
        load_tls({**pki.env("orders"), "MESH_TLS_CLIENT_AUTH": value})


def test_client_auth_without_tls_is_refused() -> None:
    with pytest.raises(ConfigError, match="MESH_TLS_CLIENT_AUTH needs MESH_TLS_CERT"):
        load_tls({"MESH_TLS_CLIENT_AUTH": "true"})


def test_identity_falls_back_to_the_common_name() -> None:
    ca = new_ca()
    leaf = issue(ca, ["10.0.0.5"])  # an IP address only: no DNS name in the certificate
    assert TlsSettings(leaf.cert_pem, leaf.key_pem, ca.cert_pem).identity == "10.0.0.5"


# --- the database connection ---------------------------------------------------------------

_PG = {"MESH_DB_HOST": "db.example.internal", "MESH_DB_USER": "app"}


def test_db_sslmode_modes_build_the_contexts_they_promise(pki: Pki) -> None:
    def db_tls(mode: str, **extra: str) -> ssl.SSLContext | bool:
        settings = load_settings("orders", environ={**_PG, "MESH_DB_SSLMODE": mode, **extra})
        assert settings.db_tls is not None and settings.db_tls.mode == mode
        return settings.db_tls.context()

    assert db_tls("disable") is False
    require = db_tls("require")
    assert isinstance(require, ssl.SSLContext)
    assert (require.check_hostname, require.verify_mode) == (False, ssl.CERT_NONE)
    root = {"MESH_DB_SSL_ROOT_CERT": str(pki.files.ca)}
    verify_ca = db_tls("verify-ca", **root)
    assert isinstance(verify_ca, ssl.SSLContext)
    assert (verify_ca.check_hostname, verify_ca.verify_mode) == (False, ssl.CERT_REQUIRED)
    full = db_tls("verify-full", **root)
    assert isinstance(full, ssl.SSLContext)
    assert (full.check_hostname, full.verify_mode) == (True, ssl.CERT_REQUIRED)
    # Only the given bundle is trusted, not the system's CAs.
    assert [c["subject"] for c in full.get_ca_certs()] == [
        ((("commonName", "shop-mesh local CA"),),)
    ]
    pem = db_tls("verify-full", MESH_DB_SSL_ROOT_CERT_PEM=pki.files.ca.read_text())
    assert isinstance(pem, ssl.SSLContext) and len(pem.get_ca_certs()) == 1


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MESH_DB_SSLMODE": "prefer"}, "MESH_DB_SSLMODE='prefer' is invalid"),
        ({"MESH_DB_SSLMODE": "VERIFY-FULL"}, "MESH_DB_SSLMODE='VERIFY-FULL' is invalid"),
        ({"MESH_DB_SSL_ROOT_CERT_PEM": "x"}, "MESH_DB_SSL_ROOT_CERT_PEM needs MESH_DB_SSLMODE"),
        (
            {"MESH_DB_SSLMODE": "require", "MESH_DB_SSL_ROOT_CERT_PEM": "x"},
            "MESH_DB_SSL_ROOT_CERT_PEM needs MESH_DB_SSLMODE=verify-ca or verify-full, not require",
        ),
        (
            {"MESH_DB_SSLMODE": "verify-full", "MESH_DB_SSL_ROOT_CERT": "/nonexistent/rds.pem"},
            "MESH_DB_SSL_ROOT_CERT='/nonexistent/rds.pem' cannot be read",
        ),
        (
            {"MESH_DB_SSLMODE": "verify-full", "MESH_DB_SSL_ROOT_CERT_PEM": "garbage"},
            "MESH_DB_SSL_ROOT_CERT_PEM: not a PEM CA bundle",
        ),
        (
            {
                "MESH_DB_SSLMODE": "require",
                "ORDERS_DATABASE_URL": "postgresql+asyncpg://h/d?ssl=true",
            },
            "MESH_DB_SSLMODE cannot be used with ssl or sslmode in the database URL",
        ),
    ],
)
def test_bad_db_tls_names_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings("orders", environ={**_PG, **environ})
