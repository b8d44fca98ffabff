"""The local stack's TLS: a local CA and one certificate per ingress host, as cert-manager would issue.

Certificates are renewed when they would expire within CERT_MIN_DAYS, so the
local TLS checks hold the front door to the same rule as a cluster's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALIDITY = timedelta(days=90)


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def ensure_ca(directory: Path, name: str) -> Issued:
    directory.mkdir(parents=True, exist_ok=True)
    issued = Issued(directory / "ca.crt", directory / "ca.key")
    if issued.cert.is_file() and issued.key.is_file():
        return issued
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_key(key, issued.key)
    issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return issued


def issue(
    ca: Issued, directory: Path, host: str, valid_from: datetime, valid_until: datetime, sans: list[str] | None = None
) -> Issued:
    """A leaf for ``host`` (or ``sans``) signed by ``ca``."""
    return sign(
        ca,
        directory / host,
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]),
        [x509.DNSName(name) for name in sans or [host]],
        [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH],
        valid_from,
        valid_until,
    )


def sign(
    ca: Issued,
    stem: Path,
    subject: x509.Name,
    sans: list[x509.GeneralName],
    usages: list[x509.ObjectIdentifier],
    valid_from: datetime,
    valid_until: datetime,
) -> Issued:
    """A new key and a certificate for it signed by ``ca``, written as ``<stem>.crt`` (with the CA) and ``<stem>.key``."""
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError("the local CA key must be an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_until)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    stem.parent.mkdir(parents=True, exist_ok=True)
    issued = Issued(stem.with_name(stem.name + ".crt"), stem.with_name(stem.name + ".key"))
    _write_key(key, issued.key)
    issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca.cert.read_bytes())
    return issued


def ensure_host_cert(ca: Issued, directory: Path, host: str, min_days: int) -> Issued:
    """The host's certificate, (re)issued when missing or expiring within ``min_days``."""
    existing = Issued(directory / f"{host}.crt", directory / f"{host}.key")
    if existing.cert.is_file() and existing.key.is_file():
        leaf = x509.load_pem_x509_certificate(existing.cert.read_bytes())
        if leaf.not_valid_after_utc - datetime.now(UTC) > timedelta(days=min_days):
            return existing
    now = datetime.now(UTC)
    return issue(ca, directory, host, now - timedelta(minutes=5), now + VALIDITY)
