"""The operators reconcile for real on a private kwok control plane (its own ports, state and kubeconfig).

Builds on first use (minutes, cached), starts the control plane and the three operator
processes, then proves what the k8s suites rely on: Prometheus and Alertmanager CRs become
StatefulSets whose PVCs are Bound at the asked size and class; a selfSigned ClusterIssuer
issues a CA, a CA ClusterIssuer a leaf certificate with the asked SANs, held in a Secret;
an OpenTelemetryCollector becomes a Deployment and its Services. And that no operator
holds a connection to anything but loopback.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from obs_conformance.clients.kubernetes import KubernetesClient
from obs_conformance.clients.polling import Observation, wait_for
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.local import LocalStack
from obs_conformance.deployer.targets.kwok import operators
from obs_conformance.deployer.targets.kwok.components import FIELD_MANAGER, KubePlane
from obs_conformance.deployer.toolchain import helm_build, kube_build, operator_build
from obs_conformance.envconf import Environment, load_environment
from obs_conformance.envconf.environment import ENVIRONMENTS_DIR

KWOK_ENV = ENVIRONMENTS_DIR / "kwok" / "obs-conformance.env"
OPERATORS = ("prometheus-operator", "opentelemetry-operator", "cert-manager")
NAME = "conformance"
DEADLINE = 120.0  # a loaded 2-core machine; typically seconds

pytestmark = [pytest.mark.stack, pytest.mark.slow]

# kind -> (API prefix, plural, namespaced)
RESOURCES = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Prometheus": ("/apis/monitoring.coreos.com/v1", "prometheuses", True),
    "Alertmanager": ("/apis/monitoring.coreos.com/v1", "alertmanagers", True),
    "ClusterIssuer": ("/apis/cert-manager.io/v1", "clusterissuers", False),
    "Certificate": ("/apis/cert-manager.io/v1", "certificates", True),
    "OpenTelemetryCollector": ("/apis/opentelemetry.io/v1beta1", "opentelemetrycollectors", True),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def private_env(tmp_path: Path) -> Path:
    """The kwok env on free ports (every LOCAL_*_PORT), its kubeconfig under ``tmp_path``."""
    text = re.sub(r'^(LOCAL_\w+_PORT)=".*"$', lambda m: f'{m.group(1)}="{free_port()}"', KWOK_ENV.read_text(),
                  flags=re.MULTILINE)  # fmt: skip
    text = re.sub(r'^KUBECONFIG_FILE=".*"$', f'KUBECONFIG_FILE="{tmp_path / "kubeconfig"}"', text, flags=re.MULTILINE)
    path = tmp_path / "kwok.env"
    path.write_text(text)
    return path


class Cluster:
    """The private plane: admin writes (server-side apply) and reads, as the suites' client does them."""

    def __init__(self, env: Environment, stack: LocalStack) -> None:
        self.env = env
        self.stack = stack
        self.namespace = env.text("NAMESPACE")
        self.api: KubernetesClient = KubePlane(env, stack.layout, kube_build.kube_binaries()).api
        self.client = KubernetesClient.from_kubeconfig(
            env.text("KUBE_CONTEXT"), 5.0, str(env.repo_path("KUBECONFIG_FILE"))
        )

    def apply(self, document: dict[str, Any]) -> None:
        prefix, plural, namespaced = RESOURCES[document["kind"]]
        metadata = document["metadata"]
        where = f"/namespaces/{metadata['namespace']}" if namespaced else ""
        self.api.apply(f"{prefix}{where}/{plural}/{metadata['name']}", document, FIELD_MANAGER)

    def delete_volumes(self) -> None:
        """Delete the Prometheus/Alertmanager CRs and their claims, and wait until the hostpath provisioner
        removed the volumes' directories (under /tmp/hostpath_pv, outside this test's state)."""
        ns = self.namespace
        claims = self.client.items(f"/api/v1/namespaces/{ns}/persistentvolumeclaims")
        volumes = [c["spec"]["volumeName"] for c in claims if c["spec"].get("volumeName")]
        paths = [
            f"/apis/monitoring.coreos.com/v1/namespaces/{ns}/prometheuses/{NAME}",
            f"/apis/monitoring.coreos.com/v1/namespaces/{ns}/alertmanagers/{NAME}",
            *(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{c['metadata']['name']}" for c in claims),
        ]
        for path in paths:
            status = self.api.with_timeout(30).delete(path)
            assert status in (200, 202, 404), f"DELETE {path}: HTTP {status}"

        def gone() -> Observation[list[str]]:
            left = [v for v in volumes if self.client.get(f"/api/v1/persistentvolumes/{v}") is not None]
            return Observation(left, not left, f"PersistentVolumes left: {left}")

        wait_for(gone, expected="the test's volumes deleted", where="/api/v1/persistentvolumes", deadline=DEADLINE)

    def wait(self, expected: str, path: str, check: Any) -> dict[str, Any]:
        """Poll ``path`` until ``check(obj)`` returns (ok, shown)."""

        def probe() -> Observation[dict[str, Any]]:
            found = self.client.get(path)
            if found is None:
                return Observation({}, False, "not found (404)")
            ok, shown = check(found)
            return Observation(found, ok, shown)

        value: dict[str, Any] = wait_for(
            probe, expected=expected, where=path, deadline=DEADLINE, max_interval=0.5
        ).value
        return value


def condition(obj: dict[str, Any], kind: str) -> str:
    for found in obj.get("status", {}).get("conditions", []):
        if found.get("type") == kind:
            return str(found.get("status"))
    return "(absent)"


def conditions(obj: dict[str, Any]) -> str:
    return (
        ", ".join(f"{c.get('type')}={c.get('status')}" for c in obj.get("status", {}).get("conditions", [])) or "none"
    )


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """The private plane, built and started in the fixture (outside the test timeout); one test uses it,
    so parallel workers never start two."""
    env = load_environment(str(private_env(tmp_path)), environ={})
    stack = LocalStack(env, Layout(tmp_path / "state" / "kube"))
    try:
        stack.up()
        cluster = Cluster(env, stack)
        cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": cluster.namespace}})
        yield cluster
        cluster.delete_volumes()
    finally:
        stack.down()


@pytest.mark.timeout(600)  # five reconciliations in a row, each with its own deadline
def test_operators_reconcile_on_the_kwok_target(cluster: Cluster, tmp_path: Path) -> None:
    """One test (one private plane): each operator's reconciling, then the network rule, then helm's adoption."""
    check_operators_run_ready_on_loopback(cluster)
    for kind, size_key, prefix in (
        ("Prometheus", "PROMETHEUS_STORAGE_SIZE", "prometheus"),
        ("Alertmanager", "ALERTMANAGER_STORAGE_SIZE", "alertmanager"),
    ):
        check_prometheus_operator_makes_statefulsets_with_bound_claims(cluster, kind, size_key, prefix)
    check_cert_manager_issues_from_self_signed_and_ca_cluster_issuers(cluster)
    check_opentelemetry_operator_makes_the_collector_deployment_and_services(cluster)
    check_no_operator_holds_a_connection_off_loopback(cluster)
    check_helm_adopts_the_crds_the_operator_applied(cluster, tmp_path)


def check_operators_run_ready_on_loopback(cluster: Cluster) -> None:
    statuses = {s.name: s for s in cluster.stack.status()}
    for name in OPERATORS:
        assert statuses[name].ready, f"{name}: not ready at {statuses[name].where}: {statuses[name].seen}"
    specs = {c.name: c.spec for c in cluster.stack.target.components()}
    assert specs["cert-manager"].argv[0] == str(operator_build.cert_manager_binary())


def storage(size: str, storage_class: str) -> dict[str, Any]:
    return {
        "volumeClaimTemplate": {
            "spec": {
                "storageClassName": storage_class,
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": size}},
            }
        }
    }


def check_prometheus_operator_makes_statefulsets_with_bound_claims(
    cluster: Cluster, kind: str, size_key: str, prefix: str
) -> None:
    env, namespace = cluster.env, cluster.namespace
    size, storage_class = str(env.quantity(size_key)), env.text("STORAGE_CLASS")
    cluster.apply(
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": kind,
            "metadata": {"name": NAME, "namespace": namespace},
            "spec": {"replicas": 1, "storage": storage(size, storage_class)},
        }
    )
    sts_path = f"/apis/apps/v1/namespaces/{namespace}/statefulsets/{prefix}-{NAME}"

    def sts_ready(sts: dict[str, Any]) -> tuple[bool, str]:
        ready = sts.get("status", {}).get("readyReplicas", 0)
        return ready == 1, f"readyReplicas {ready}"

    sts = cluster.wait(f"StatefulSet {prefix}-{NAME} with 1 ready replica", sts_path, sts_ready)
    templates = sts["spec"]["volumeClaimTemplates"]
    assert [t["metadata"]["name"] for t in templates] == [f"{prefix}-{NAME}-db"], templates
    assert templates[0]["spec"]["resources"]["requests"]["storage"] == size
    assert templates[0]["spec"]["storageClassName"] == storage_class

    pvc_name = f"{prefix}-{NAME}-db-{prefix}-{NAME}-0"
    pvc_path = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{pvc_name}"

    def bound(pvc: dict[str, Any]) -> tuple[bool, str]:
        phase = pvc.get("status", {}).get("phase")
        return phase == "Bound", f"phase {phase}"

    pvc = cluster.wait(f"PVC {pvc_name} Bound", pvc_path, bound)
    assert pvc["spec"]["storageClassName"] == storage_class
    assert pvc["status"]["capacity"]["storage"] == size, f"PVC {pvc_name}: capacity {pvc['status']['capacity']}"

    cr_path = f"/apis/monitoring.coreos.com/v1/namespaces/{namespace}/{RESOURCES[kind][1]}/{NAME}"

    def available(cr: dict[str, Any]) -> tuple[bool, str]:
        ok = condition(cr, "Available") == "True" and condition(cr, "Reconciled") == "True"
        return ok, conditions(cr)

    cluster.wait(f"{kind} {NAME} Available and Reconciled", cr_path, available)


def issuer(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": name}, "spec": spec}


def certificate(namespace: str, name: str, issuer_name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"secretName": name, "issuerRef": {"kind": "ClusterIssuer", "name": issuer_name}, **spec},
    }


def check_cert_manager_issues_from_self_signed_and_ca_cluster_issuers(cluster: Cluster) -> None:
    namespace = cluster.namespace
    hosts = [cluster.env.host("prometheus"), cluster.env.host("alertmanager")]
    cluster.apply(issuer(f"{NAME}-selfsigned", {"selfSigned": {}}))
    cluster.apply(
        certificate(namespace, f"{NAME}-ca", f"{NAME}-selfsigned", {"isCA": True, "commonName": "conformance CA"})
    )
    # the CA issuer's Secret lives in the cluster resource namespace (--cluster-resource-namespace)
    cluster.apply(issuer(f"{NAME}-ca", {"ca": {"secretName": f"{NAME}-ca"}}))
    cluster.apply(certificate(namespace, f"{NAME}-leaf", f"{NAME}-ca", {"dnsNames": hosts, "duration": "2160h"}))

    def ready(obj: dict[str, Any]) -> tuple[bool, str]:
        return condition(obj, "Ready") == "True", conditions(obj)

    for name in (f"{NAME}-selfsigned", f"{NAME}-ca"):
        cluster.wait(f"ClusterIssuer {name} Ready", f"/apis/cert-manager.io/v1/clusterissuers/{name}", ready)
    leaf = cluster.wait(
        f"Certificate {NAME}-leaf Ready",
        f"/apis/cert-manager.io/v1/namespaces/{namespace}/certificates/{NAME}-leaf",
        ready,
    )

    secret = cluster.client.get(f"/api/v1/namespaces/{namespace}/secrets/{NAME}-leaf") or {}
    data = {key: base64.b64decode(value) for key, value in secret.get("data", {}).items()}
    assert sorted(data) == ["ca.crt", "tls.crt", "tls.key"], f"Secret {NAME}-leaf holds keys {sorted(data)}"
    cert = x509.load_pem_x509_certificate(data["tls.crt"])
    ca = x509.load_pem_x509_certificate(data["ca.crt"])
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sorted(sans) == sorted(hosts), f"Certificate {NAME}-leaf: SANs {sans}, asked {hosts}"
    cert.verify_directly_issued_by(ca)  # signed by the CA the selfSigned issuer made
    assert ca.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "conformance CA"
    key = serialization.load_pem_private_key(data["tls.key"], password=None)
    assert key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo), (
        f"Secret {NAME}-leaf: tls.key does not match tls.crt"
    )
    not_after = datetime.fromisoformat(leaf["status"]["notAfter"].replace("Z", "+00:00"))
    assert not_after == cert.not_valid_after_utc, f"status.notAfter {not_after}, certificate {cert.not_valid_after_utc}"
    days = (not_after - datetime.now(UTC)).days
    assert 88 <= days <= 90, f"Certificate {NAME}-leaf expires in {days} days, asked 2160h"


def check_opentelemetry_operator_makes_the_collector_deployment_and_services(cluster: Cluster) -> None:
    namespace = cluster.namespace
    cluster.apply(
        {
            "apiVersion": "opentelemetry.io/v1beta1",
            "kind": "OpenTelemetryCollector",
            "metadata": {"name": NAME, "namespace": namespace},
            "spec": {
                "mode": "deployment",
                # without the operator's defaulting webhook these must be explicit
                "upgradeStrategy": "automatic",
                "config": {
                    "receivers": {
                        "otlp": {
                            "protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {"endpoint": "0.0.0.0:4318"}}
                        }
                    },
                    "processors": {"batch": {}},
                    "exporters": {"debug": {}},
                    "service": {
                        "pipelines": {
                            "traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["debug"]}
                        }
                    },
                },
            },
        }
    )
    deployment_path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{NAME}-collector"

    def available(deployment: dict[str, Any]) -> tuple[bool, str]:
        ready = deployment.get("status", {}).get("readyReplicas", 0)
        return ready == 1 and condition(
            deployment, "Available"
        ) == "True", f"readyReplicas {ready}; {conditions(deployment)}"

    deployment = cluster.wait(f"Deployment {NAME}-collector available", deployment_path, available)
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    components = {c.name: c for c in cluster.stack.target.components()}
    assert f"--collector-image={image}" in components["opentelemetry-operator"].spec.argv, image

    services = {
        f"{NAME}-collector": {4317, 4318},
        f"{NAME}-collector-headless": {4317, 4318},
        f"{NAME}-collector-monitoring": {8888},
    }
    for name, ports in services.items():
        service = cluster.client.get(f"/api/v1/namespaces/{namespace}/services/{name}")
        assert service is not None, f"Service {name} not created by the operator"
        found = {p["port"] for p in service["spec"]["ports"]}
        assert found == ports, f"Service {name}: ports {sorted(found)}, expected {sorted(ports)}"


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return ipaddress.IPv4Address(raw[::-1])
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    address = ipaddress.IPv6Address(words)
    return address.ipv4_mapped or address


def tcp_sockets(pid: int) -> tuple[set[str], set[str]]:
    """(listening addresses, remote addresses of connections) of ``pid``'s TCP sockets."""
    inodes = _socket_inodes(pid)
    listening, remote = set(), set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] not in inodes:
                continue
            if fields[3] == "0A":  # LISTEN
                listening.add(str(_address(fields[1].split(":")[0])))
            else:
                remote.add(str(_address(fields[2].split(":")[0])))
    return listening, remote


def check_no_operator_holds_a_connection_off_loopback(cluster: Cluster) -> None:
    """After reconciling, every operator listens on loopback only and its connections lead to loopback."""
    for name in OPERATORS:
        pid = cluster.stack.processes.pid(name)
        assert pid is not None, f"{name} is not running"
        listening, remote = tcp_sockets(pid)
        assert remote, f"{name} (pid {pid}) holds no TCP connection: expected one to the API server"
        off = sorted(a for a in remote if not ipaddress.ip_address(a).is_loopback)
        assert off == [], f"{name} (pid {pid}) is connected to non-loopback addresses {off}"
        exposed = sorted(a for a in listening if not ipaddress.ip_address(a).is_loopback)
        assert listening and exposed == [], (
            f"{name} (pid {pid}) listens on {sorted(listening)}: expected 127.0.0.1 only"
        )


def check_helm_adopts_the_crds_the_operator_applied(cluster: Cluster, tmp_path: Path) -> None:
    """The chart's own install takes over the CRDs applied before it, instead of failing on ownership."""
    crds = operators.operator_crds(cluster.env)["opentelemetry-operator"]
    charts = operators.chart_source()
    helm, kubeconfig = str(helm_build.build_helm()), f"--kubeconfig={cluster.env.repo_path('KUBECONFIG_FILE')}"
    argv = [
        helm, "upgrade", "--install", crds.release, *charts.reference(crds.chart), "--namespace", crds.namespace, kubeconfig,
        *(f"--set={s}" for s in crds.settings),
    ]  # fmt: skip
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=300, check=False, env={**os.environ, "HOME": str(tmp_path)}
    )
    assert done.returncode == 0, (
        f"helm upgrade --install {crds.release} exited {done.returncode}: {done.stderr[-1500:]}"
    )
    crd = cluster.client.get(f"{operators.CRD_PATH}/opentelemetrycollectors.opentelemetry.io") or {}
    annotations = crd.get("metadata", {}).get("annotations") or {}
    assert annotations.get("meta.helm.sh/release-name") == crds.release, annotations
    # the release now owns it: the CRD is part of its manifest (an unchanged object needs no patch)
    manifest = subprocess.run(
        [helm, "get", "manifest", crds.release, "--namespace", crds.namespace, kubeconfig],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip
    assert "name: opentelemetrycollectors.opentelemetry.io" in manifest.stdout, (
        f"helm release {crds.release} does not own the CRD: {manifest.stderr[-500:]}"
    )
