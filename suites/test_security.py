"""Who may come in through the front door, and how strong its TLS is, on every target with one
(the local nginx; ingress-nginx on kind and dev): every ingress host refuses an anonymous request
and takes the env's credentials; Alertmanager refuses an anonymous silence; TLS 1.0/1.1 refused,
no SHA-1 signature in the chain, the chain verifies against the env's CA; HTTP only redirects.

On clusters (kwok proves it), the Slack webhook, the exporter's, the front door's and the OTLP
senders' passwords (with the OTLP credentials' base64 and header forms) appear only in Secrets: never
in a ConfigMap, a pod's env value, an annotation, the stack's OpenTelemetry custom resources, nor a
helm release's stored values; the check reads the real values the deployer used and prints ``****``.

An env that turned authentication off (``INGRESS_AUTH="off"``) gets each exposure reported as a
waived risk (terminal, summary.json, report.html), never a silent pass.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from obs_conformance.clients.front_door import Answer, FrontDoor, link
from obs_conformance.clients.kubernetes import KubernetesClient
from obs_conformance.clients.tls import served_certificate
from obs_conformance.envconf import Environment
from obs_conformance.envconf.secrets import Secret
from obs_conformance.fixtures.front_door import SERVICES

pytestmark = [pytest.mark.security]

REFUSED = {401, 403}
WEAK_HASHES = {"sha1", "md5"}
# a harmless read per service that the backend answers 200 (by the env's logs and traces backends)
READS: dict[str, dict[str, str]] = {
    "prometheus": {"": "/api/v1/status/buildinfo"},
    "alertmanager": {"": "/api/v2/status"},
    "loki": {"loki": "/ready", "victorialogs": "/health"},
    "tempo": {"tempo": "/ready", "jaeger": "/api/v3/services"},
}
BACKEND_KEY = {"loki": "LOGS_BACKEND", "tempo": "TRACES_BACKEND"}


def read_path(env: Environment, service: str) -> str:
    key = BACKEND_KEY.get(service)
    return READS[service][env.text(key) if key else ""]


def refused(answer: Answer) -> bool:
    """401/403 only: a redirect to a login page that answers is no refusal."""
    return answer.status in REFUSED


@pytest.mark.parametrize("service", SERVICES)
def test_ingress_host_refuses_anonymous_and_accepts_the_env_credentials(
    env: Environment,
    front_door: FrontDoor,
    front_door_credentials: tuple[str, Secret] | None,
    waive_risk: Callable[[str], None],
    service: str,
) -> None:
    host, path = env.host(service), read_path(env, service)
    anonymous = front_door.request(host, "GET", path)
    if front_door_credentials is None:
        waive_risk(
            f"{host}: {anonymous.request} answered {anonymous.status}: anyone who reaches the front door reads "
            f'{service} (INGRESS_AUTH="off")'
        )
        return
    assert refused(anonymous), (
        f"front door {host}: {anonymous.request} answered {anonymous.shown()}, expected 401 or 403 "
        f"(basic authentication, INGRESS_AUTH={env.values.get('INGRESS_AUTH', 'basic')!r})"
    )
    authenticated = front_door.request(host, "GET", path, front_door_credentials)
    assert authenticated.status == 200, (
        f"front door {host}: {authenticated.request} as {front_door_credentials[0]!r} answered {authenticated.shown()}, "
        "expected 200 (the env's credentials must be let in)"
    )


def _silence(run_id: str, comment: str) -> str:
    """A silence of nothing that exists: one label no alert carries, named after the run."""
    now = datetime.now(UTC)
    return json.dumps(
        {
            "matchers": [{"name": "obs_conformance_security_probe", "value": run_id, "isRegex": False}],
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(minutes=5)).isoformat(),
            "createdBy": "obs-conformance",
            "comment": comment,
        }
    )


def test_alertmanager_refuses_an_anonymous_silence(
    env: Environment,
    front_door: FrontDoor,
    front_door_credentials: tuple[str, Secret] | None,
    waive_risk: Callable[[str], None],
    run_id: str,
) -> None:
    host = env.host("alertmanager")
    anonymous = front_door.request(host, "POST", "/api/v2/silences", body=_silence(run_id, "anonymous probe"))
    exposed = anonymous.status == 200
    if exposed:  # it took it: take it back at once, with whatever lets us in
        silence_id = json.loads(anonymous.body).get("silenceID", "")
        front_door.request(host, "DELETE", f"/api/v2/silence/{silence_id}", front_door_credentials)
    if front_door_credentials is None:
        waive_risk(
            f"{host}: {anonymous.request} answered {anonymous.status}: anyone can silence every alert "
            '(INGRESS_AUTH="off")'
        )
        return
    assert refused(anonymous), (
        f"front door {host}: {anonymous.request} (a silence) answered {anonymous.shown()}, expected 401 or 403"
        + ("; the silence it created was expired again" if exposed else "")
    )
    created = front_door.request(
        host, "POST", "/api/v2/silences", front_door_credentials, body=_silence(run_id, "authenticated probe")
    )
    assert created.status == 200, (
        f"front door {host}: {created.request} (a silence) answered {created.shown()}, expected 200 with a silenceID"
    )
    silence_id = json.loads(created.body)["silenceID"]
    expired = front_door.request(host, "DELETE", f"/api/v2/silence/{silence_id}", front_door_credentials)
    assert expired.status == 200, (
        f"front door {host}: {expired.request} (expiring the probe's silence) answered {expired.shown()}"
    )
    state = front_door.request(host, "GET", f"/api/v2/silence/{silence_id}", front_door_credentials)
    assert json.loads(state.body)["status"]["state"] == "expired", (
        f"front door {host}: {state.request} answered {state.shown()}, expected the probe's silence expired"
    )


@pytest.mark.tls
@pytest.mark.parametrize("service", SERVICES)
def test_tls_below_1_2_is_refused(env: Environment, front_door: FrontDoor, service: str) -> None:
    host = env.host(service)
    accepted, seen = front_door.legacy_handshake(host)
    assert not accepted, (
        f"front door {host}: a TLS 1.0/1.1-only handshake with {front_door.where(host)} was {seen}, "
        "expected it refused (TLS >= 1.2 only)"
    )


@pytest.mark.tls
@pytest.mark.parametrize("service", SERVICES)
def test_chain_has_no_sha1_signature_and_verifies_against_the_env_ca(
    env: Environment, front_door: FrontDoor, service: str
) -> None:
    host = env.host(service)
    chain = front_door.served_chain(host)
    weak = [f"{link.subject} ({link.signature_hash})" for link in chain if link.signature_hash in WEAK_HASHES]
    assert chain and not weak, (
        f"front door {host}: {front_door.where(host)} serves a chain with certificates signed by a broken hash: "
        f"{weak or 'no certificate at all'}"
    )
    if front_door.ca_file is not None:
        with open(front_door.ca_file, "rb") as ca:
            anchor = link(ca.read())
        assert anchor.signature_hash not in WEAK_HASHES, (
            f"front door {host}: the env's CA {front_door.ca_file} ({anchor.subject}) is signed with {anchor.signature_hash}"
        )
    served, verdict = served_certificate(
        host, front_door.https_port, front_door.timeout, ca_file=front_door.ca_file, address=front_door.address
    )
    trust = front_door.ca_file or "the system trust store"
    assert verdict == "verified", (
        f"front door {host}: the chain of {served.subject} does not verify against {trust}: {verdict}"
    )


@pytest.mark.tls
@pytest.mark.parametrize("service", SERVICES)
def test_plain_http_redirects_without_serving_content(
    env: Environment,
    front_door: FrontDoor,
    front_door_credentials: tuple[str, Secret] | None,
    service: str,
) -> None:
    host, path = env.host(service), read_path(env, service)
    plain = front_door.request(host, "GET", path, front_door_credentials, https=False)
    location = plain.headers.get("location", "")
    assert plain.status in {301, 302, 307, 308} and location.startswith(f"https://{host}"), (
        f"front door {host}: {plain.request} answered {plain.shown()}, expected a redirect to https://{host}"
    )
    served = front_door.request(host, "GET", path, front_door_credentials)
    sample = served.body.strip()[:40]
    assert not (served.status == 200 and sample and sample in plain.body), (
        f"front door {host}: {plain.request} redirected but also served the backend's content ({sample!r}) over plain HTTP"
    )


# workloads whose pod templates carry env values; the pods themselves are listed too
WORKLOADS = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}


def deployed_secret_values(env: Environment) -> dict[str, str]:
    """The values the deployer hands the cluster as Secrets (deployer/cluster/plan.py decides them)."""
    from obs_conformance.deployer.cluster import plan  # the deployer loads where the k8s checks run
    from obs_conformance.deployer.cluster.basic_auth import secret_forms

    found = {"SLACK_WEBHOOK_URL": plan.slack_webhook(env).reveal()}
    if "POSTGRES_EXPORTER_PASSWORD" in env.secrets:
        found["POSTGRES_EXPORTER_PASSWORD"] = env.secret("POSTGRES_EXPORTER_PASSWORD").reveal()
    elif env.profile.generated_postgres_password:
        found["POSTGRES_EXPORTER_PASSWORD"] = plan.kwok_postgres_password().reveal()
    if env.front_door_auth and "INGRESS_AUTH_PASSWORD" in env.secrets:
        found["INGRESS_AUTH_PASSWORD"] = env.secret("INGRESS_AUTH_PASSWORD").reveal()
    elif env.front_door_auth and env.profile.generated_postgres_password:
        found["INGRESS_AUTH_PASSWORD"] = plan.kwok_ingress_password().reveal()
    if env.otlp_auth and ("OTLP_AUTH_PASSWORD" in env.secrets or env.profile.generated_postgres_password):
        # the password, its base64 and the instrumented pods' header: what an htpasswd or header Secret holds
        found.update(secret_forms(env.otlp_user, plan.otlp_password(env)))
    return {key: value for key, value in found.items() if len(value) >= 8}


def _needles(value: str) -> list[str]:
    """The value, and a URL's last path segment (a webhook's token) when long enough to mean something."""
    tail = value.rstrip("/").rsplit("/", 1)[-1]
    return [value, tail] if "/" in value and len(tail) >= 8 else [value]


def helm_release(secret: dict[str, Any]) -> str:
    """A helm v3 release Secret's stored release (values and manifest): base64 of gzip, in the Secret's base64."""
    raw = base64.b64decode(base64.b64decode(secret.get("data", {}).get("release", "")))
    return gzip.decompress(raw).decode("utf-8", "replace") if raw[:2] == b"\x1f\x8b" else raw.decode("utf-8", "replace")


def places(kube: KubernetesClient, namespace: str) -> Iterator[tuple[str, str]]:
    """(where, text) for every place outside a Secret's data a value could leak to in ``namespace``."""
    for cm in kube.list_all(f"/api/v1/namespaces/{namespace}/configmaps"):
        name = cm["metadata"]["name"]
        for key, value in {**cm.get("data", {}), **cm.get("binaryData", {})}.items():
            yield f"ConfigMap {namespace}/{name} data.{key}", str(value)
        yield f"ConfigMap {namespace}/{name} annotations", json.dumps(cm["metadata"].get("annotations") or {})
    templates = [("Pod", pod["metadata"]["name"], pod) for pod in kube.list_all(f"/api/v1/namespaces/{namespace}/pods")]
    for kind, plural in WORKLOADS.items():
        for obj in kube.list_all(f"/apis/apps/v1/namespaces/{namespace}/{plural}"):
            templates.append((kind, obj["metadata"]["name"], obj))
    for kind, name, obj in templates:
        spec = obj["spec"]["template"]["spec"] if "template" in obj.get("spec", {}) else obj.get("spec", {})
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            for variable in container.get("env", []):
                if "value" in variable:
                    where = f"{kind} {namespace}/{name} container {container['name']} env {variable['name']}"
                    yield where, str(variable["value"])
            yield f"{kind} {namespace}/{name} container {container['name']} args", json.dumps(container.get("args", []))
        yield f"{kind} {namespace}/{name} annotations", json.dumps(obj["metadata"].get("annotations") or {})
    for secret in kube.list_all(f"/api/v1/namespaces/{namespace}/secrets"):
        name = secret["metadata"]["name"]
        yield f"Secret {namespace}/{name} annotations", json.dumps(secret["metadata"].get("annotations") or {})
        if secret.get("type") == "helm.sh/release.v1":
            labels = secret["metadata"].get("labels", {})
            where = (
                f"helm release {labels.get('name', name)} v{labels.get('version', '?')} ({namespace}/{name}, decoded)"
            )
            yield where, helm_release(secret)


def otel_resources(kube: KubernetesClient, namespace: str) -> Iterator[tuple[str, str]]:
    """(where, text) for the stack's OpenTelemetry custom resources, which name Secrets and must hold no value:
    the Instrumentations (their env goes into every instrumented pod) and the collector (its config)."""
    for instrumentation in kube.list_all(f"/apis/opentelemetry.io/v1alpha1/namespaces/{namespace}/instrumentations"):
        yield f"Instrumentation {namespace}/{instrumentation['metadata']['name']}", json.dumps(instrumentation)
    collector = kube.get(
        f"/apis/opentelemetry.io/v1beta1/namespaces/{namespace}/opentelemetrycollectors/otel-collector"
    )
    if collector is not None:
        yield f"OpenTelemetryCollector {namespace}/otel-collector", json.dumps(collector)


def leaks(values: dict[str, str], found: Iterator[tuple[str, str]]) -> list[str]:
    """Where each value shows outside Secrets' data, named by its key and ``****``."""
    return [
        f"{key} (****) in {where}"
        for where, text in found
        for key, value in values.items()
        if any(needle in text for needle in _needles(value))
    ]


@pytest.mark.k8s
def test_secret_values_appear_only_in_secrets(env: Environment, kube: KubernetesClient) -> None:
    values = deployed_secret_values(env)
    assert values, f"{env.name}: no secret value to look for (SLACK_WEBHOOK_URL, POSTGRES_EXPORTER_PASSWORD)"
    namespaces = sorted({env.text("NAMESPACE"), env.text("TEST_NAMESPACE")})
    found = [leak for namespace in namespaces for leak in leaks(values, places(kube, namespace))]
    found += leaks(values, otel_resources(kube, env.text("NAMESPACE")))
    assert not found, (
        f"{env.name}: secret values outside Secrets (looked for {', '.join(sorted(values))} in {', '.join(namespaces)}):\n  "
        + "\n  ".join(found)
    )
