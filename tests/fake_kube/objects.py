"""A healthy dev cluster's objects, shaped as the API returns them.

Operator resources come from the deployer's own rendered manifests, so the
deployer's output is held to the same checks as a live cluster.
"""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from deployer.cluster.manifests import render_cluster, resources
from deployer.local import tls
from envconf import Environment
from envconf.stack_facts import PVCS, WORKLOADS

Objects = dict[str, Any]
POD_NAMES = {
    "PROMETHEUS": "prometheus-prom-stack-kube-prometheus-prometheus-0",
    "ALERTMANAGER": "alertmanager-prom-stack-kube-prometheus-alertmanager-0",
    "LOKI": "loki-stack-0",
    "TEMPO": "tempo-0",
    "OTEL_COLLECTOR": "otel-collector-collector-7d9f8c-x2k4q",
    "POSTGRES_EXPORTER": "postgres-exporter-prometheus-postgres-exporter-5c6b7d-p9z2m",
}


def certificate_pem(host: str, days: float, workdir: Path) -> bytes:
    """A certificate for ``host`` valid ``days`` from now, from a fake ACME CA (no CA in the secret)."""
    ca = tls.ensure_ca(workdir / "fake-acme", "Fake ACME R3")
    now = datetime.now(UTC)
    issued = tls.issue(ca, workdir / "certs", host, now - timedelta(days=1), now + timedelta(days=days))
    return issued.cert.read_bytes()


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod(name: str, container: str, resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": container, "resources": resources}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": container, "restartCount": 0, "state": {"running": {}}}],
        },
    }


def healthy_cluster(env: Environment, workdir: Path) -> tuple[Objects, set[str]]:
    ns = env.text("NAMESPACE")
    rendered = render_cluster(env, workdir)
    objects: Objects = {}
    core = f"/api/v1/namespaces/{ns}"
    for component, name in PVCS.items():
        objects[f"{core}/persistentvolumeclaims/{name}"] = {
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "storageClassName": env.text("STORAGE_CLASS"),
                "resources": {"requests": {"storage": str(env.quantity(f"{component}_STORAGE_SIZE"))}},
            },
            "status": {"phase": "Bound"},
        }
    now = datetime.now(UTC)
    for service in ("prometheus", "alertmanager", "loki", "tempo"):
        host, secret = env.host(service), f"{service}-tls"
        objects[f"/apis/cert-manager.io/v1/namespaces/{ns}/certificates/{secret}"] = {
            "metadata": {"name": secret, "namespace": ns},
            "spec": {
                "dnsNames": [host],
                "secretName": secret,
                "issuerRef": {"kind": "ClusterIssuer", "name": env.text("CLUSTER_ISSUER")},
            },
            "status": {
                "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "up to date"}],
                "notAfter": _iso(now + timedelta(days=80)),
                "renewalTime": _iso(now + timedelta(days=50)),
            },
        }
        objects[f"{core}/secrets/{secret}"] = {
            "metadata": {"name": secret},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": base64.b64encode(certificate_pem(host, 80, workdir)).decode(), "tls.key": ""},
        }
        objects[f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/{service}"] = {
            "metadata": {"name": service},
            "spec": {"ingressClassName": env.text("INGRESS_CLASS"), "rules": [{"host": host}]},
        }
    all_resources = resources(env)
    for component, (_, container) in WORKLOADS.items():
        name = POD_NAMES[component]
        canonical = copy.deepcopy(all_resources[component])
        if component == "PROMETHEUS":  # what the API server hands back for 1.9Gi
            canonical["limits"]["memory"] = canonical["requests"]["memory"] = "2040109465600m"
        objects[f"{core}/pods/{name}"] = _pod(name, container, canonical)
    for doc in yaml.safe_load_all(rendered.files["service-monitors.yaml"]):
        meta = doc["metadata"]
        objects[f"/apis/monitoring.coreos.com/v1/namespaces/{meta['namespace']}/servicemonitors/{meta['name']}"] = doc
    [collector] = yaml.safe_load_all(rendered.files["otel-collector.yaml"])
    objects[f"/apis/opentelemetry.io/v1beta1/namespaces/{ns}/opentelemetrycollectors/otel-collector"] = collector
    [instrumentation] = yaml.safe_load_all(rendered.files["instrumentation.yaml"])
    objects[f"/apis/opentelemetry.io/v1alpha1/namespaces/{ns}/instrumentations/instrumentation"] = instrumentation
    return objects, set()


def broken(objects: Objects, env: Environment, variant: str, workdir: Path) -> Objects:
    """The healthy objects with one thing broken, as the issue lists them."""
    broken = copy.deepcopy(objects)
    ns = env.text("NAMESPACE")
    prom_pvc = broken[f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{PVCS['PROMETHEUS']}"]
    loki_cert = broken[f"/apis/cert-manager.io/v1/namespaces/{ns}/certificates/loki-tls"]
    if variant == "pvc-20Gi":
        prom_pvc["spec"]["resources"]["requests"]["storage"] = "20Gi"
    elif variant == "pvc-wrong-class":
        prom_pvc["spec"]["storageClassName"] = "standard"
    elif variant == "pvc-pending":
        prom_pvc["status"]["phase"] = "Pending"
    elif variant == "certificate-not-ready":
        loki_cert["status"]["conditions"] = [
            {"type": "Ready", "status": "False", "reason": "Failed", "message": "ACME challenge failed"}
        ]
    elif variant == "certificate-expiring":
        loki_cert["status"]["notAfter"] = _iso(datetime.now(UTC) + timedelta(days=3))
        secret = broken[f"/api/v1/namespaces/{ns}/secrets/loki-tls"]
        secret["data"]["tls.crt"] = base64.b64encode(certificate_pem(env.host("loki"), 3, workdir)).decode()
    elif variant == "san-mismatch":
        secret = broken[f"/api/v1/namespaces/{ns}/secrets/loki-tls"]
        secret["data"]["tls.crt"] = base64.b64encode(certificate_pem(env.host("grafana"), 80, workdir)).decode()
    elif variant == "crashloop":
        pod = next(v for k, v in broken.items() if "/pods/loki-stack-0" in k)
        pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
        pod["status"]["containerStatuses"] = [
            {"name": "loki", "restartCount": 12, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
        ]
    elif variant == "servicemonitor-no-release":
        monitor = broken[f"/apis/monitoring.coreos.com/v1/namespaces/{ns}/servicemonitors/postgres-exporter"]
        del monitor["metadata"]["labels"]["release"]
    else:
        raise ValueError(variant)
    return broken
