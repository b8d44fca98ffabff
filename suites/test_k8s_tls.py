"""TLS and ingress: every ingress host has a Ready cert-manager Certificate from the env's issuer,
served for real on a TLS handshake, covering the host and trusted by the system store."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from obs_conformance.clients.kubernetes import KubernetesClient, SharedLists
from obs_conformance.clients.tls import parse_certificate, served_certificate
from obs_conformance.envconf import Environment

pytestmark = [pytest.mark.k8s, pytest.mark.tls]

SERVICES = ("prometheus", "alertmanager", "loki", "tempo")
TLS_SECRETS = "type=kubernetes.io/tls"  # the Secrets cert-manager writes; one list of them, not one read each
NO_PODS_SERVE = (
    "{target} target: ingress-nginx's pods are fakes, so no ingress of the cluster serves {host} on ports {http}/{https} "
    "(the Certificate and its Secret are checked above; the handshake on kind/dev)"
)


def _ingress(env: Environment, host: str) -> tuple[str, int, int]:
    """Where the ingress answers for ``host``: the env's INGRESS_ADDRESS (else the host) and its HTTP, HTTPS ports."""
    http, https = env.port("INGRESS_HTTP_PORT"), env.port("INGRESS_HTTPS_PORT")
    if not env.profile.serves_pods:
        pytest.skip(NO_PODS_SERVE.format(target=env.target, host=host, http=http, https=https))
    return str(env.values.get("INGRESS_ADDRESS") or host), http, https


def _certificate_for(lists: SharedLists, namespace: str, host: str) -> dict[str, Any]:
    """The Certificate covering ``host``, from the namespace's one list of Certificates."""
    certificates = lists.items(f"/apis/cert-manager.io/v1/namespaces/{namespace}/certificates")
    for certificate in certificates:
        if host in certificate.get("spec", {}).get("dnsNames", []):
            return certificate
    names = [c["metadata"]["name"] for c in certificates]
    raise AssertionError(f"cert-manager: no Certificate in {namespace} covers {host} (found: {names})")


def _stored_certificate(lists: SharedLists, namespace: str, certificate: dict[str, Any], host: str) -> bytes:
    """The ``tls.crt`` of ``certificate``'s Secret, from the namespace's one list of TLS Secrets."""
    secret_name = certificate["spec"]["secretName"]
    secret = lists.named(f"/api/v1/namespaces/{namespace}/secrets", secret_name, TLS_SECRETS)
    assert secret is not None, (
        f"cert-manager: Secret {namespace}/{secret_name} (type kubernetes.io/tls) of the Certificate for {host} not found"
    )
    return base64.b64decode(secret["data"]["tls.crt"])


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c.get("type") == kind), {})


@pytest.mark.parametrize("service", SERVICES)
def test_certificate_ready_from_env_issuer_and_not_expiring(
    env: Environment, kube_lists: SharedLists, service: str
) -> None:
    namespace, host = env.text("NAMESPACE"), env.host(service)
    certificate = _certificate_for(kube_lists, namespace, host)
    name = f"{namespace}/{certificate['metadata']['name']}"
    ready = _condition(certificate, "Ready")
    assert ready.get("status") == "True", (
        f"cert-manager: Certificate {name} for {host} is not Ready: "
        f"expected status True, got {ready.get('status')!r} ({ready.get('reason')}: {ready.get('message')})"
    )
    issuer = certificate["spec"].get("issuerRef", {})
    actual_issuer = (issuer.get("kind"), issuer.get("name"))
    assert actual_issuer == ("ClusterIssuer", env.text("CLUSTER_ISSUER")), (
        f"cert-manager: Certificate {name} is issued by {actual_issuer}, expected ('ClusterIssuer', {env.text('CLUSTER_ISSUER')!r})"
    )
    not_after = datetime.fromisoformat(certificate["status"]["notAfter"].replace("Z", "+00:00"))
    days = (not_after - datetime.now(UTC)).total_seconds() / 86400
    assert days >= env.integer("CERT_MIN_DAYS"), (
        f"cert-manager: Certificate {name} for {host} expires in {days:.1f} days ({not_after:%Y-%m-%d}), "
        f"expected at least {env.integer('CERT_MIN_DAYS')}"
    )
    assert certificate["status"].get("renewalTime"), f"cert-manager: Certificate {name} has no renewalTime"


@pytest.mark.parametrize("service", SERVICES)
def test_secret_certificate_covers_host(env: Environment, kube_lists: SharedLists, service: str) -> None:
    namespace, host = env.text("NAMESPACE"), env.host(service)
    certificate = _certificate_for(kube_lists, namespace, host)
    secret_name = certificate["spec"]["secretName"]
    info = parse_certificate(_stored_certificate(kube_lists, namespace, certificate, host))
    assert info.covers(host), (
        f"TLS: Secret {namespace}/{secret_name} has SANs {list(info.sans)}, expected one covering {host}"
    )
    assert info.days_left() >= env.integer("CERT_MIN_DAYS"), (
        f"TLS: Secret {namespace}/{secret_name} certificate expires in {info.days_left():.1f} days, "
        f"expected at least {env.integer('CERT_MIN_DAYS')}"
    )


def test_ingresses_use_the_env_ingress_class(env: Environment, kube: KubernetesClient) -> None:
    namespace = env.text("NAMESPACE")
    ingresses = kube.items(f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses")
    assert ingresses, f"ingress: no Ingress in {namespace}"
    classes = {i["metadata"]["name"]: i["spec"].get("ingressClassName") for i in ingresses}
    wrong = {name: cls for name, cls in classes.items() if cls != env.text("INGRESS_CLASS")}
    assert not wrong, f"ingress: class expected {env.text('INGRESS_CLASS')!r}, got {wrong}"


@pytest.mark.handshake
@pytest.mark.parametrize("service", SERVICES)
def test_handshake_serves_the_secret_certificate(env: Environment, kube_lists: SharedLists, service: str) -> None:
    namespace, host = env.text("NAMESPACE"), env.host(service)
    address, _, port = _ingress(env, host)
    certificate = _certificate_for(kube_lists, namespace, host)
    stored = parse_certificate(_stored_certificate(kube_lists, namespace, certificate, host))
    served, verdict = served_certificate(host, port, env.duration("HTTP_TIMEOUT").seconds, address=address)
    assert served.sha256 == stored.sha256, (
        f"TLS: {host}:{port} (via {address}) serves {served.subject} (sha256 {served.sha256[:16]}...), "
        f"expected the Secret's {stored.subject} (sha256 {stored.sha256[:16]}...)"
    )
    if env.text("ISSUER_TYPE") == "acme":
        assert verdict == "verified", (
            f"TLS: {host}:{port} chain does not verify against the system trust store: {verdict}"
        )


@pytest.mark.handshake
@pytest.mark.parametrize("service", SERVICES)
def test_plain_http_redirects_to_https(env: Environment, kube: KubernetesClient, service: str) -> None:
    host = env.host(service)
    address, port, _ = _ingress(env, host)
    url = f"http://{address}:{port}/"
    response = requests.get(
        url, headers={"Host": host}, allow_redirects=False, timeout=env.duration("HTTP_TIMEOUT").seconds
    )
    location = response.headers.get("Location", "")
    assert response.status_code in {301, 302, 307, 308} and location.startswith("https://"), (
        f"ingress: http://{host}/ (via {url}) answered {response.status_code} Location={location!r}, expected a redirect to https://"
    )
