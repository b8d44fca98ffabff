"""Certificates: parsing what a Secret holds and what a TLS handshake serves."""

from __future__ import annotations

import hashlib
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from obs_conformance.clients.errors import BackendUnreachable


@dataclass(frozen=True)
class CertInfo:
    """The facts the TLS checks compare."""

    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_after: datetime
    sha256: str

    def covers(self, host: str) -> bool:
        """RFC 6125 matching: exact, or a single-label wildcard."""
        for name in self.sans:
            if name == host:
                return True
            if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
                return True
        return False

    def days_left(self, now: datetime | None = None) -> float:
        return (self.not_after - (now or datetime.now(UTC))).total_seconds() / 86400


def parse_certificate(data: bytes) -> CertInfo:
    """The leaf (first) certificate of a PEM bundle, or a DER certificate."""
    pem = data.lstrip().startswith(b"-----")
    cert = x509.load_pem_x509_certificate(data) if pem else x509.load_der_x509_certificate(data)
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        sans = tuple(extension.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        sans = ()
    der = cert.public_bytes(Encoding.DER)
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sans=sans,
        not_after=cert.not_valid_after_utc,
        sha256=hashlib.sha256(der).hexdigest(),
    )


def served_certificate(
    host: str, port: int, timeout: float, ca_file: str | None = None, address: str | None = None
) -> tuple[CertInfo, str]:
    """Handshake with ``host:port`` (SNI = host); returns the served leaf and the verification verdict.

    Verification uses the system trust store (ACME secrets carry no ca.crt), or
    ``ca_file`` for a private CA; a failure is reported, not raised, so the check
    can show both the certificate and why it is not trusted. ``address`` connects
    somewhere else than ``host`` resolves to (the local front door), SNI staying ``host``.
    """
    target = (address or host, port)
    verify = ssl.create_default_context(cafile=ca_file)
    try:
        with (
            socket.create_connection(target, timeout=timeout) as raw,
            verify.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
            verdict = "verified"
    except ssl.SSLCertVerificationError as e:
        verdict = f"not verified: {e.verify_message}"
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        try:
            with (
                socket.create_connection(target, timeout=timeout) as raw,
                insecure.wrap_socket(raw, server_hostname=host) as tls,
            ):
                der = tls.getpeercert(binary_form=True)
        except OSError as again:
            raise BackendUnreachable(f"TLS {host}:{port}", f"handshake failed: {again}") from again
    except OSError as e:
        raise BackendUnreachable(f"TLS {host}:{port}", f"handshake failed: {e}") from e
    if der is None:
        raise BackendUnreachable(f"TLS {host}:{port}", "no certificate served")
    return parse_certificate(der), verdict
