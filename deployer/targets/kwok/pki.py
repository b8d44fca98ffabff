"""The control plane's certificates, service-account keys and kubeconfigs, as kubeadm would make them.

One CA (the local stack's CA code) signs the apiserver's serving certificate, a client
certificate per identity (the admin in system:masters, the controller-manager and the
scheduler as their built-in RBAC users, kwok) and the serving certificates of the
controller-manager and scheduler, so every ready-check verifies TLS against this CA.
Every key and kubeconfig is 0600. Leaves are reissued when missing, expiring within
RENEW_BEFORE, or signed by another CA.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from obs_conformance.deployer.engine import tls

VALIDITY = timedelta(days=365)
RENEW_BEFORE = timedelta(days=30)
SERVICE_DNS = ("kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")


@dataclass(frozen=True)
class Identity:
    """A client of the apiserver: its certificate's CN and groups (O)."""

    name: str
    user: str
    groups: tuple[str, ...] = ()


ADMIN = Identity("admin", "kubernetes-admin", ("system:masters",))
CONTROLLER_MANAGER = Identity("kube-controller-manager", "system:kube-controller-manager")
SCHEDULER = Identity("kube-scheduler", "system:kube-scheduler")
# kwok writes node and pod status and node leases of every node it manages
KWOK = Identity("kwok", "kwok-controller", ("system:masters",))
IDENTITIES = (ADMIN, CONTROLLER_MANAGER, SCHEDULER, KWOK)


@dataclass(frozen=True)
class KubePki:
    directory: Path

    @property
    def ca(self) -> tls.Issued:
        return tls.Issued(self.directory / "ca.crt", self.directory / "ca.key")

    @property
    def apiserver(self) -> tls.Issued:
        return self._issued("apiserver")

    def client(self, identity: Identity) -> tls.Issued:
        return self._issued(f"client-{identity.name}")

    def serving(self, component: str) -> tls.Issued:
        return self._issued(f"serving-{component}")

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        return self.directory / "sa.pub"

    def _issued(self, name: str) -> tls.Issued:
        return tls.Issued(self.directory / f"{name}.crt", self.directory / f"{name}.key")


def ensure_pki(directory: Path, title: str, service_ip: str, serving: tuple[str, ...]) -> KubePki:
    """Everything the control plane needs, made or renewed as needed; returns where it is."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    pki = KubePki(directory)
    ca = tls.ensure_ca(directory, f"obs-conformance kube CA ({title})")
    loopback = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    server = [ExtendedKeyUsageOID.SERVER_AUTH]
    _ensure_leaf(
        ca,
        pki.apiserver,
        _name("kube-apiserver"),
        [*loopback, x509.IPAddress(ipaddress.ip_address(service_ip)), *map(x509.DNSName, SERVICE_DNS)],
        server,
    )
    for component in serving:
        _ensure_leaf(ca, pki.serving(component), _name(component), loopback, server)
    for identity in IDENTITIES:
        _ensure_leaf(
            ca, pki.client(identity), _name(identity.user, identity.groups), [], [ExtendedKeyUsageOID.CLIENT_AUTH]
        )
    _ensure_service_account_keys(pki)
    return pki


def _name(common_name: str, groups: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _current(issued: tls.Issued, ca: tls.Issued, subject: x509.Name, sans: list[x509.GeneralName]) -> bool:
    if not (issued.cert.is_file() and issued.key.is_file()):
        return False
    leaf = x509.load_pem_x509_certificate(issued.cert.read_bytes())
    try:
        leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.cert.read_bytes()))
    except (ValueError, TypeError, InvalidSignature):
        return False
    try:
        found = list(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        found = []
    fresh = leaf.not_valid_after_utc - datetime.now(UTC) > RENEW_BEFORE
    return fresh and leaf.subject == subject and set(found) == set(sans)


def _ensure_leaf(
    ca: tls.Issued,
    issued: tls.Issued,
    subject: x509.Name,
    sans: list[x509.GeneralName],
    usages: list[x509.ObjectIdentifier],
) -> None:
    if _current(issued, ca, subject, sans):
        return
    now = datetime.now(UTC)
    stem = issued.cert.with_suffix("")
    tls.sign(ca, stem, subject, sans, usages, now - timedelta(minutes=5), now + VALIDITY)


def _ensure_service_account_keys(pki: KubePki) -> None:
    """The key pair that signs service-account tokens (ES256)."""
    if pki.service_account_key.is_file() and pki.service_account_pub.is_file():
        return
    key = ec.generate_private_key(ec.SECP256R1())
    pki.service_account_key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    pki.service_account_key.chmod(0o600)
    pki.service_account_pub.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def kubeconfig(server: str, context: str, ca: Path, client: tls.Issued, user: str) -> str:
    """A kubeconfig for one client identity; it names the certificate files (0600), so it holds no key
    itself and a renewed certificate needs no rewrite."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"client-certificate": str(client.cert), "client-key": str(client.key)}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    return yaml.safe_dump(document, sort_keys=False)
