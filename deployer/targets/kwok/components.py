"""The kwok target: a real Kubernetes control plane on loopback, with kwok's fake nodes.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler run as built from the
Kubernetes module; kwok plays the kubelets (nodes Ready, pods Running and Ready, leases).
Every listener is 127.0.0.1, and every address something could dial stays on loopback:
the nodes' InternalIPs (127.0.0.x), the Service range and kwok's pod range (127/8).
Nothing runs inside the pods: no images, containers, logs, exec or port-forward.

More components (the operators) join the target through kube_target.KUBE_PROVIDERS: a
provider takes the :class:`KubePlane` and returns its components.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import requests

from obs_conformance.clients.errors import BackendError
from obs_conformance.clients.kubernetes import KubernetesClient
from obs_conformance.deployer.engine.component import Component, Rendered
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.engine.processes import ProcessSpec
from obs_conformance.deployer.errors import StackError
from obs_conformance.deployer.targets.kwok import pki as kube_pki
from obs_conformance.deployer.targets.kwok.pki import Identity, KubePki
from obs_conformance.deployer.toolchain import kube_build
from obs_conformance.deployer.toolchain.kube_build import KubeBinaries
from obs_conformance.envconf import Environment

LOOPBACK = "127.0.0.1"
# Service ClusterIPs and pod IPs inside 127/8: whatever dials one stays on this machine
SERVICE_CIDR = "127.96.0.0/16"
KUBERNETES_SERVICE_IP = "127.96.0.1"
POD_CIDR = "127.100.0.0/16"
NODES = 1  # kwok-node-0 .. : InternalIP 127.0.0.2, 127.0.0.3, ...
NODE_LEASE_SECONDS = 40  # without leases the node lifecycle controller marks every node NotReady
DISABLED_CONTROLLERS = ("node-ipam-controller", "service-lb-controller", "cloud-node-lifecycle-controller")
HOSTPATH_PROVISIONER = "kubernetes.io/host-path"
HOSTPATH_ROOT = Path("/tmp/hostpath_pv")  # noqa: S108 - fixed in the provisioner (pkg/volume/hostpath)
FIELD_MANAGER = "obs-conformance"
API_TIMEOUT = 5.0


@dataclass(frozen=True)
class KubePlane:
    """Where the control plane is and how to reach it: what a component provider needs."""

    env: Environment
    layout: Layout
    bins: KubeBinaries

    @property
    def server(self) -> str:
        return f"https://{LOOPBACK}:{self.env.port('LOCAL_KUBE_APISERVER_PORT')}"

    @property
    def pki(self) -> KubePki:
        return KubePki(self.layout.secrets / "pki")

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (system:masters), context KUBE_CONTEXT: what users, helm and the suites use."""
        return self.env.repo_path("KUBECONFIG_FILE")

    @property
    def context(self) -> str:
        return self.env.text("KUBE_CONTEXT")

    def kubeconfig_for(self, identity: Identity) -> Rendered:
        """A kubeconfig for one identity; certificates are referenced by path (renewal needs no rewrite)."""
        path = self.kubeconfig if identity == kube_pki.ADMIN else self.layout.secrets / f"{identity.name}.kubeconfig"
        text = kube_pki.kubeconfig(
            self.server, self.context, self.pki.ca.cert, self.pki.client(identity), identity.user
        )
        return Rendered(path, text, private=True)

    @cached_property
    def api(self) -> KubernetesClient:
        """The admin's client of the API server (the control plane's own steps: GET, create, apply)."""
        admin = self.pki.client(kube_pki.ADMIN)
        return KubernetesClient.with_client_certificate(
            self.server, self.pki.ca.cert, admin.cert, admin.key, API_TIMEOUT
        )


def volume_directories(api: KubernetesClient) -> list[Path]:
    """Directories of the hostpath provisioner's volumes (it makes them under /tmp/hostpath_pv/);
    none when the API does not answer."""
    try:
        volumes = api.items("/api/v1/persistentvolumes")
    except (OSError, BackendError):
        return []
    paths = [Path(v["spec"]["hostPath"]["path"]) for v in volumes if "hostPath" in v.get("spec", {})]
    return [path for path in paths if path.parent == HOSTPATH_ROOT]


def node_names() -> list[str]:
    return [f"kwok-node-{index}" for index in range(NODES)]


def node_document(name: str, index: int) -> dict[str, Any]:
    """A fake node kwok manages; capacity and conditions come from kwok's node-initialize stage."""
    address = f"127.0.0.{index + 2}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/agent": "",
            },
        },
        "status": {"addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}]},
    }


def storage_class_document(name: str) -> dict[str, Any]:
    """The env's StorageClass, default, bound by the controller-manager's hostpath provisioner."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": HOSTPATH_PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def _healthz(url: str, ca: Path) -> Callable[[float], tuple[bool, str]]:
    def probe(timeout: float) -> tuple[bool, str]:
        try:
            response = requests.get(url, timeout=timeout, verify=str(ca))
        except requests.RequestException as e:
            return False, type(e).__name__
        return response.status_code == 200, f"HTTP {response.status_code} {response.text[:60].strip()}"

    return probe


def _seen(what: Callable[[float], tuple[bool, str]]) -> Callable[[float], tuple[bool, str]]:
    """An API probe that reports a refused or failing API as not ready, with what it saw."""

    def probe(timeout: float) -> tuple[bool, str]:
        try:
            return what(timeout)
        except (OSError, StackError, BackendError, ValueError) as e:  # requests' errors are OSErrors
            return False, str(e)[:160] or type(e).__name__

    return probe


def control_plane(plane: KubePlane) -> list[Component]:
    """etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, in start order."""
    env, layout, bins, pki = plane.env, plane.layout, plane.bins, plane.pki
    etcd = f"http://{LOOPBACK}:{env.port('LOCAL_ETCD_PORT')}"
    etcd_peer = f"http://{LOOPBACK}:{env.port('LOCAL_ETCD_PEER_PORT')}"
    cm_port = env.port("LOCAL_KUBE_CONTROLLER_MANAGER_PORT")
    scheduler_port = env.port("LOCAL_KUBE_SCHEDULER_PORT")
    kwok_address = f"{LOOPBACK}:{env.port('LOCAL_KWOK_PORT')}"
    storage_class = env.text("STORAGE_CLASS")
    cm_kubeconfig = plane.kubeconfig_for(kube_pki.CONTROLLER_MANAGER)
    scheduler_kubeconfig = plane.kubeconfig_for(kube_pki.SCHEDULER)
    kwok_kubeconfig = plane.kubeconfig_for(kube_pki.KWOK)
    admin_kubeconfig = plane.kubeconfig_for(kube_pki.ADMIN)
    api = plane.api

    def apiserver_ready(timeout: float) -> tuple[bool, str]:
        try:
            status = api.with_timeout(timeout).request("GET", "/readyz").status_code
        except BackendError as e:
            if e.status is None:
                raise  # no answer: _seen shows why
            status = e.status
        return status == 200, f"readyz: HTTP {status}"

    def cluster_objects() -> None:
        """The env's StorageClass and the fake nodes: applied on every up (a deleted one comes back)."""
        path = f"/apis/storage.k8s.io/v1/storageclasses/{storage_class}"
        api.apply(path, storage_class_document(storage_class), FIELD_MANAGER)
        for index, name in enumerate(node_names()):
            if api.get(f"/api/v1/nodes/{name}") is None:  # a node's status (its addresses) is taken on create only
                api.create("/api/v1/nodes", node_document(name, index))

    def controller_manager_ready(timeout: float) -> tuple[bool, str]:
        healthy, seen = _healthz(f"https://{LOOPBACK}:{cm_port}/healthz", pki.ca.cert)(timeout)
        if not healthy:
            return False, f"healthz: {seen}"
        path = f"/apis/storage.k8s.io/v1/storageclasses/{storage_class}"
        provisioner = (api.with_timeout(timeout).get(path) or {}).get("provisioner")
        if provisioner != HOSTPATH_PROVISIONER:
            return False, f"StorageClass {storage_class}: provisioner {provisioner}, expected {HOSTPATH_PROVISIONER}"
        return True, f"healthz ok; StorageClass {storage_class} present"

    def nodes_ready(timeout: float) -> tuple[bool, str]:
        healthy, seen = _healthz(f"http://{kwok_address}/healthz", pki.ca.cert)(timeout)
        if not healthy:
            return False, f"healthz: {seen}"
        ready = []
        for name in node_names():
            node = api.with_timeout(timeout).get(f"/api/v1/nodes/{name}") or {}
            conditions = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
            ready.append(f"{name} Ready={conditions.get('Ready', 'unknown')}")
        return all(line.endswith("=True") for line in ready), "; ".join(ready)

    def build() -> None:  # one module copy builds them all: the first asks, the others find them built
        kube_build.build_kube()

    def client_flags(kubeconfig: Rendered) -> tuple[str, ...]:
        return tuple(
            f"--{flag}={kubeconfig.path}"
            for flag in ("kubeconfig", "authentication-kubeconfig", "authorization-kubeconfig")
        )

    return [
        Component(
            ProcessSpec(
                "etcd",
                (
                    str(bins.etcd),
                    "--name=obs-conformance",
                    f"--data-dir={layout.data('etcd')}",
                    f"--listen-client-urls={etcd}",
                    f"--advertise-client-urls={etcd}",
                    f"--listen-peer-urls={etcd_peer}",
                    f"--initial-advertise-peer-urls={etcd_peer}",
                    f"--initial-cluster=obs-conformance={etcd_peer}",
                    "--log-level=warn",
                ),
                ready_url=f"{etcd}/health",
            ),
            build=build,
        ),
        Component(
            ProcessSpec(
                "kube-apiserver",
                (
                    str(bins.kube_apiserver),
                    f"--bind-address={LOOPBACK}",
                    f"--advertise-address={LOOPBACK}",
                    f"--secure-port={env.port('LOCAL_KUBE_APISERVER_PORT')}",
                    f"--etcd-servers={etcd}",
                    # a loopback advertise address may not be written to the kubernetes Endpoints
                    "--endpoint-reconciler-type=none",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    f"--client-ca-file={pki.ca.cert}",
                    f"--tls-cert-file={pki.apiserver.cert}",
                    f"--tls-private-key-file={pki.apiserver.key}",
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    f"--service-account-key-file={pki.service_account_pub}",
                    f"--service-account-signing-key-file={pki.service_account_key}",
                    "--authorization-mode=Node,RBAC",
                    "--allow-privileged=true",
                ),
                ready_url=f"{plane.server}/readyz",
                ready_probe=_seen(apiserver_ready),
            ),
            build=build,
            after_ready=cluster_objects,
            rendered=(admin_kubeconfig,),
        ),
        Component(
            ProcessSpec(
                "kube-controller-manager",
                (
                    str(bins.kube_controller_manager),
                    *client_flags(cm_kubeconfig),
                    f"--bind-address={LOOPBACK}",
                    f"--secure-port={cm_port}",
                    f"--tls-cert-file={pki.serving('kube-controller-manager').cert}",
                    f"--tls-private-key-file={pki.serving('kube-controller-manager').key}",
                    "--leader-elect=false",
                    "--use-service-account-credentials=true",
                    f"--service-account-private-key-file={pki.service_account_key}",
                    f"--root-ca-file={pki.ca.cert}",
                    f"--cluster-signing-cert-file={pki.ca.cert}",
                    f"--cluster-signing-key-file={pki.ca.key}",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    "--controllers=*," + ",".join(f"-{name}" for name in DISABLED_CONTROLLERS),
                    "--enable-hostpath-provisioner=true",
                ),
                ready_url=f"https://{LOOPBACK}:{cm_port}/healthz",
                ready_probe=_seen(controller_manager_ready),
            ),
            build=build,
            rendered=(cm_kubeconfig,),
        ),
        Component(
            ProcessSpec(
                "kube-scheduler",
                (
                    str(bins.kube_scheduler),
                    *client_flags(scheduler_kubeconfig),
                    f"--bind-address={LOOPBACK}",
                    f"--secure-port={scheduler_port}",
                    f"--tls-cert-file={pki.serving('kube-scheduler').cert}",
                    f"--tls-private-key-file={pki.serving('kube-scheduler').key}",
                    "--leader-elect=false",
                ),
                ready_url=f"https://{LOOPBACK}:{scheduler_port}/healthz",
                ready_probe=_seen(_healthz(f"https://{LOOPBACK}:{scheduler_port}/healthz", pki.ca.cert)),
            ),
            build=build,
            rendered=(scheduler_kubeconfig,),
        ),
        Component(
            ProcessSpec(
                "kwok",
                (
                    str(bins.kwok),
                    f"--kubeconfig={kwok_kubeconfig.path}",
                    f"--config={bins.kwok_stages}",
                    "--manage-all-nodes=false",
                    "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                    f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
                    f"--cidr={POD_CIDR}",
                    "--node-ip=127.0.0.2",
                    f"--node-port={env.port('LOCAL_KWOK_PORT')}",
                    f"--server-address={kwok_address}",
                ),
                ready_url=f"{plane.server}/api/v1/nodes",
                ready_probe=_seen(nodes_ready),
                # its work dir holds a default config it would read (~/.kwok/kwok.yaml): keep it ours
                env={"KWOK_WORKDIR": str(layout.data("kwok"))},
            ),
            build=build,
            rendered=(kwok_kubeconfig,),
        ),
    ]
