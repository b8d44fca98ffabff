"""The k8s suites against the real API of the kwok control plane: every broken variant is made for real.

Each variant lives in a namespace of its own on the shared kwok target (``python -m deployer local up
--env kwok``: control plane and operators; the deployed stack is not touched), and the suites run
against a copy of the kwok env whose ``NAMESPACE`` (and, for a certificate, ``CLUSTER_ISSUER``) names
it. PVCs are Bound (or not) by the controller-manager's hostpath provisioner, Certificates issued (or
not) by the real cert-manager controllers, a pod made Ready by kwok and then told it crash-loops by a
status patch (kwok has no container to crash), a ServiceMonitor accepted by the real CRD schema.
The PVC usage check (kubelet_volume_stats) runs in tests/test_k8s_checks.py against the real Prometheus.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from obs_conformance.clients.polling import Observation, wait_for
from obs_conformance.deployer.local import LocalStack
from obs_conformance.deployer.toolchain import kube_build
from obs_conformance.envconf import Environment, load_environment
from obs_conformance.envconf.environment import ENVIRONMENTS_DIR
from obs_conformance.envconf.stack_facts import PVCS

ROOT = Path(__file__).resolve().parent.parent
KWOK_ENV = ENVIRONMENTS_DIR / "kwok" / "obs-conformance.env"

pytestmark = [pytest.mark.stack, pytest.mark.slow]


@pytest.fixture(scope="module")
def kwok() -> Environment:
    env = load_environment("kwok", environ={})
    LocalStack(env).ensure_started()  # the shared target: started if it is not running, never stopped here
    return env


def kubectl(env: Environment, *args: str, stdin: str | None = None) -> str:
    argv = [str(kube_build.kubectl()), f"--kubeconfig={env.repo_path('KUBECONFIG_FILE')}", *args]
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"`{' '.join(argv)}` exited {done.returncode}: {done.stderr.strip()}"
    return done.stdout


def apply(env: Environment, *objects: dict[str, Any]) -> None:
    kubectl(env, "apply", "--server-side", "-f", "-", stdin="\n".join(json.dumps(o) for o in objects))


def get(env: Environment, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    where = ("-n", namespace) if namespace else ()
    found: dict[str, Any] = json.loads(kubectl(env, "get", kind, name, *where, "-o", "json"))
    return found


def wait_until(what: str, where: str, probe: Any, deadline: float = 60.0) -> Any:
    return wait_for(probe, expected=what, where=where, deadline=deadline, max_interval=0.3).value


def ready_condition(obj: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c.get("type") == "Ready"), {})


def variant_env(kwok: Environment, tmp_path: Path, namespace: str, issuer: str) -> Path:
    text = KWOK_ENV.read_text()
    text = re.sub(r'^NAMESPACE=".*"$', f'NAMESPACE="{namespace}"', text, flags=re.MULTILINE)
    text = re.sub(r'^CLUSTER_ISSUER=".*"$', f'CLUSTER_ISSUER="{issuer}"', text, flags=re.MULTILINE)
    path = tmp_path / f"{namespace}.env"
    path.write_text(text)
    return path


def run_suites(env_file: Path, selected: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pytest", "suites", "--env", str(env_file), "-q", "--no-reports", "-m", "k8s"]
    return subprocess.run(
        [*argv, "-k", selected], cwd=ROOT, env=dict(os.environ),
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def pvc(namespace: str, size: str, storage_class: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": PVCS["PROMETHEUS"], "namespace": namespace},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": storage_class,
            "resources": {"requests": {"storage": size}},
            **spec,
        },
    }


def certificate(namespace: str, name: str, host: str, issuer: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "secretName": name,
            "dnsNames": [host],
            "issuerRef": {"kind": "ClusterIssuer", "name": issuer, "group": "cert-manager.io"},
            **spec,
        },
    }


def issuer(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": name}, "spec": spec}


class Variant:
    """One broken variant: its namespace, its cluster-scoped objects (deleted after) and its env copy."""

    def __init__(self, kwok: Environment, name: str, tmp_path: Path) -> None:
        self.kwok = kwok
        self.namespace = f"obsconf-brk-{name.lower()}"
        self.issuer = f"obsconf-brk-{name.lower()}"
        self.cluster_scoped: list[tuple[str, str]] = []
        self.env_file = variant_env(kwok, tmp_path, self.namespace, self.issuer)
        self.env = load_environment(str(self.env_file), environ={})
        kubectl(kwok, "delete", "namespace", self.namespace, "--ignore-not-found", "--wait=true")
        apply(kwok, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}})

    def cluster_object(self, obj: dict[str, Any]) -> None:
        self.cluster_scoped.append((obj["kind"], obj["metadata"]["name"]))
        apply(self.kwok, obj)

    def selfsigned_issuer(self) -> None:
        self.cluster_object(issuer(self.issuer, {"selfSigned": {}}))

    def issued(self, name: str, host: str, **spec: Any) -> dict[str, Any]:
        apply(self.kwok, certificate(self.namespace, name, host, self.issuer, **spec))

        def probe() -> Observation[dict[str, Any]]:
            cert = get(self.kwok, "certificate", name, self.namespace)
            ready = ready_condition(cert)
            return Observation(cert, ready.get("status") == "True", f"Ready={ready}")

        cert: dict[str, Any] = wait_until("Ready=True", f"Certificate {self.namespace}/{name}", probe)
        return cert

    def cleanup(self) -> None:
        kubectl(self.kwok, "delete", "namespace", self.namespace, "--ignore-not-found", "--wait=false")
        for kind, name in self.cluster_scoped:
            kubectl(self.kwok, "delete", kind, name, "--ignore-not-found")


@pytest.fixture
def variant(kwok: Environment, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Variant]:
    made = Variant(kwok, request.node.callspec.id, tmp_path)
    try:
        yield made
    finally:
        made.cleanup()


def make_pvc_variant(v: Variant, kind: str) -> None:
    size = str(v.env.quantity("PROMETHEUS_STORAGE_SIZE"))
    want = "Bound"
    if kind == "pvc-20Gi":
        apply(v.kwok, pvc(v.namespace, "20Gi", "standard"))
    elif kind == "pvc-wrong-class":
        other = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": v.issuer},
            "provisioner": "kubernetes.io/host-path",
            "reclaimPolicy": "Delete",
        }
        v.cluster_object(other)
        apply(v.kwok, pvc(v.namespace, size, v.issuer))
    else:  # pvc-pending: bound to a volume that does not exist, so nothing provisions it: Pending for real
        apply(v.kwok, pvc(v.namespace, size, "standard", volumeName="obsconf-no-such-volume"))
        want = "Pending"

    def probe() -> Observation[str]:
        claim = get(v.kwok, "pvc", PVCS["PROMETHEUS"], v.namespace)
        phase = claim.get("status", {}).get("phase", "")
        return Observation(phase, phase == want, f"phase {phase}")

    wait_until(want, f"PVC {v.namespace}/{PVCS['PROMETHEUS']}", probe)


def make_certificate_variant(v: Variant, kind: str) -> None:
    host = v.env.host("loki")
    if kind == "certificate-not-ready":
        # a CA issuer whose CA Secret does not exist: cert-manager cannot issue, says why in Ready
        v.cluster_object(issuer(v.issuer, {"ca": {"secretName": "obsconf-no-such-ca"}}))
        apply(v.kwok, certificate(v.namespace, "loki-tls", host, v.issuer))

        def probe() -> Observation[dict[str, Any]]:
            ready = ready_condition(get(v.kwok, "certificate", "loki-tls", v.namespace))
            return Observation(ready, ready.get("status") == "False", f"Ready={ready}")

        wait_until("Ready=False", f"Certificate {v.namespace}/loki-tls", probe)
    elif kind == "certificate-expiring":
        v.selfsigned_issuer()
        v.issued("loki-tls", host, duration="72h", renewBefore="1h")
    else:  # san-mismatch: loki-tls holds another host's real certificate (a Secret left from elsewhere)
        v.selfsigned_issuer()
        v.issued("grafana-tls", v.env.host("grafana"))
        other = get(v.kwok, "secret", "grafana-tls", v.namespace)
        stale = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": "loki-tls", "namespace": v.namespace},
            "data": {k: other["data"][k] for k in ("tls.crt", "tls.key")},
        }
        apply(v.kwok, stale)
        # its Certificate names an issuer that does not exist, so cert-manager leaves the Secret as it is
        apply(v.kwok, certificate(v.namespace, "loki-tls", host, "obsconf-brk-absent-issuer"))


def make_crashloop(v: Variant) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "loki-stack-0", "namespace": v.namespace},
        "spec": {"containers": [{"name": "loki", "image": "grafana/loki:3.5.0"}]},
    }
    apply(v.kwok, pod)

    def ready() -> Observation[str]:
        status = ready_condition(get(v.kwok, "pod", "loki-stack-0", v.namespace)).get("status", "")
        return Observation(status, status == "True", f"Ready={status}")

    wait_until("Ready=True (kwok)", f"pod {v.namespace}/loki-stack-0", ready)
    now = "2026-01-01T00:00:00Z"
    status = {
        "status": {
            "conditions": [
                {"type": "Ready", "status": "False", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": "False", "lastTransitionTime": now},
            ],
            "containerStatuses": [
                {
                    "name": "loki",
                    "image": "grafana/loki:3.5.0",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 12,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                }
            ],
        }
    }
    kubectl(
        v.kwok, "patch", "pod", "loki-stack-0", "-n", v.namespace,
        "--subresource=status", "--type=merge", "-p", json.dumps(status),
    )  # fmt: skip

    def crashing() -> Observation[str]:
        statuses = get(v.kwok, "pod", "loki-stack-0", v.namespace)["status"].get("containerStatuses", [])
        waiting = statuses[0].get("state", {}).get("waiting", {}).get("reason", "") if statuses else ""
        return Observation(waiting, waiting == "CrashLoopBackOff", f"waiting reason {waiting!r}")

    wait_until("CrashLoopBackOff kept", f"pod {v.namespace}/loki-stack-0", crashing)


def make_monitor_without_release(v: Variant) -> None:
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "postgres-exporter", "namespace": v.namespace, "labels": {"app": "postgres-exporter"}},
        "spec": {
            "selector": {"matchLabels": {"app": "prometheus-postgres-exporter"}},
            "endpoints": [{"port": "http", "interval": str(v.env.duration("SCRAPE_INTERVAL"))}],
        },
    }
    apply(v.kwok, monitor)


def make_monitor_selecting(v: Variant, app: str) -> None:
    """A postgres-exporter Service with a metrics port, and a ServiceMonitor (``release: prom-stack``,
    port ``http-metrics``) whose selector asks for ``app``: the Service's own label, or a typo of it."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "postgres-exporter",
            "namespace": v.namespace,
            "labels": {"app": "prometheus-postgres-exporter"},
        },
        "spec": {
            "selector": {"app": "prometheus-postgres-exporter"},
            "ports": [{"name": "http-metrics", "port": 9187, "targetPort": 9187}],
        },
    }
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "postgres-exporter", "namespace": v.namespace, "labels": {"release": "prom-stack"}},
        "spec": {
            "selector": {"matchLabels": {"app": app}},
            "endpoints": [{"port": "http-metrics", "interval": str(v.env.duration("SCRAPE_INTERVAL"))}],
        },
    }
    apply(v.kwok, service, monitor)


# variant, the failing checks, what their messages must name
BROKEN = [
    ("pvc-20Gi", "test_pvc_bound_with_env_size_and_class[PROMETHEUS]", ["prometheus-prom-stack", "'size': '20Gi'", "'size': '5Gi'"]),
    ("pvc-wrong-class", "test_pvc_bound_with_env_size_and_class[PROMETHEUS]", ["'storageClassName': 'obsconf-brk-pvc-wrong-class'", "'storageClassName': 'standard'"]),
    ("pvc-pending", "test_pvc_bound_with_env_size_and_class[PROMETHEUS]", ["'phase': 'Pending'", "'phase': 'Bound'"]),
    ("certificate-not-ready", "test_certificate_ready_from_env_issuer_and_not_expiring[loki]", ["obsconf-brk-certificate-not-ready/loki-tls", "is not Ready: expected status True, got 'False'"]),
    ("certificate-expiring", "test_certificate_ready_from_env_issuer_and_not_expiring[loki] test_secret_certificate_covers_host[loki]", ["loki-tls", "expires in 3.0 days", "expected at least 14"]),
    ("san-mismatch", "test_secret_certificate_covers_host[loki]", ["loki-tls", "kwok-obs-conformance-grafana.localtest.me", "expected one covering kwok-obs-conformance-loki.localtest.me"]),
    ("crashloop", "test_every_pod_ready_and_not_restarting", ["loki-stack-0/loki: waiting (CrashLoopBackOff), expected running", "12 restarts, expected at most 5", "loki-stack-0: Ready=False, expected True"]),
    ("servicemonitor-no-release", "test_service_monitor_selected_every_scrape_interval[postgres-exporter]", ["ServiceMonitor obsconf-brk-servicemonitor-no-release/postgres-exporter: label release=None", "expected 'prom-stack'"]),
    # the monitor's namespace is the variant env's NAMESPACE, so the coverage checks look at it
    ("servicemonitor-selects-nothing", "test_every_service_monitor_selects_a_service_with_its_port test_every_metrics_service_is_scraped_by_a_service_monitor", ["ServiceMonitor obsconf-brk-servicemonitor-selects-nothing/postgres-exporter: selects no Service (selector {'matchLabels': {'app': 'prometheus-postgres-exportr'}}", "Service obsconf-brk-servicemonitor-selects-nothing/postgres-exporter port 'http-metrics'"]),
]  # fmt: skip
SELECTED = {
    "pvc-20Gi": "test_pvc_bound_with_env_size_and_class and PROMETHEUS",
    "pvc-wrong-class": "test_pvc_bound_with_env_size_and_class and PROMETHEUS",
    "pvc-pending": "test_pvc_bound_with_env_size_and_class and PROMETHEUS",
    "certificate-not-ready": "test_certificate_ready_from_env_issuer_and_not_expiring and loki",
    "certificate-expiring": "(test_certificate_ready_from_env_issuer_and_not_expiring or test_secret_certificate_covers_host) and loki",
    "san-mismatch": "test_secret_certificate_covers_host and loki",
    "crashloop": "test_every_pod_ready_and_not_restarting",
    "servicemonitor-no-release": "test_service_monitor_selected_every_scrape_interval and postgres",
    "servicemonitor-selects-nothing": "test_k8s_scrape_coverage",
}  # fmt: skip


@pytest.mark.parametrize(("name", "failing", "needles"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_variant_made_for_real_fails_with_a_precise_message(
    variant: Variant, name: str, failing: str, needles: list[str]
) -> None:
    if name.startswith("pvc-"):
        make_pvc_variant(variant, name)
    elif name.startswith("certificate-") or name == "san-mismatch":
        make_certificate_variant(variant, name)
    elif name == "crashloop":
        make_crashloop(variant)
    elif name == "servicemonitor-selects-nothing":
        make_monitor_selecting(variant, "prometheus-postgres-exportr")  # a typo of the Service's label
    else:
        make_monitor_without_release(variant)
    result = run_suites(variant.env_file, SELECTED[name])
    failed = [line.split("::")[1].split(" ")[0] for line in result.stdout.splitlines() if line.startswith("FAILED ")]
    assert failed == failing.split(), result.stdout[-4000:] + result.stderr[-2000:]
    for needle in needles:
        assert needle in result.stdout, f"{needle!r} missing from:\n{result.stdout[-4000:]}"


@pytest.mark.parametrize("name", ["servicemonitor-selects-its-service"])
def test_service_monitor_selecting_its_service_passes_scrape_coverage(variant: Variant, name: str) -> None:
    """The selects-nothing variant's objects with the selector right: both coverage checks pass on them."""
    make_monitor_selecting(variant, "prometheus-postgres-exporter")
    result = run_suites(variant.env_file, "test_k8s_scrape_coverage")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout, result.stdout[-4000:]
