"""A self-signed CA and a server certificate for 127.0.0.1 / localhost, so clients that insist on https
(simple-salesforce) can trust the emulator: point ``REQUESTS_CA_BUNDLE`` / ``NODE_EXTRA_CA_CERTS`` at
``ca.pem``.

Files live in a state directory (default ``~/.sfsync/emulator-tls/``) and are reused while the server
certificate has more than :data:`RENEW_BEFORE_DAYS` days left.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALID_DAYS = 3650
SERVER_VALID_DAYS = 397
"""Server certificate lifetime (browsers and macOS refuse longer ones)."""
RENEW_BEFORE_DAYS = 30
SERVER_NAMES = ("localhost",)
SERVER_IPS = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsFiles:
    ca_path: Path  # the CA certificate clients trust
    cert_path: Path  # server certificate (PEM)
    key_path: Path  # server private key (PEM, unencrypted, mode 0600)


def default_dir() -> Path:
    return Path.home() / ".sfsync" / "emulator-tls"


def _files(directory: Path) -> TlsFiles:
    return TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")


def _still_good(files: TlsFiles) -> bool:
    if not (files.ca_path.exists() and files.cert_path.exists() and files.key_path.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(files.cert_path.read_bytes())
    except ValueError:
        return False
    left = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    return left > dt.timedelta(days=RENEW_BEFORE_DAYS)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def ensure_tls_files(directory: str | Path | None = None) -> TlsFiles:
    """Return the CA, certificate and key files in ``directory``, creating them when missing or expiring."""
    target = Path(directory) if directory else default_dir()
    target.mkdir(parents=True, exist_ok=True)
    files = _files(target)
    if _still_good(files):
        return files
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sfsync"),
            x509.NameAttribute(NameOID.COMMON_NAME, "sfsync emulator local CA"),
        ]
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=CA_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName(
        [
            *(x509.DNSName(n) for n in SERVER_NAMES),
            *(x509.IPAddress(ipaddress.ip_address(i)) for i in SERVER_IPS),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=SERVER_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(san, critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    _write_private(
        files.key_path,
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    files.cert_path.write_bytes(cert.public_bytes(pem))
    files.ca_path.write_bytes(ca_cert.public_bytes(pem))
    return files
