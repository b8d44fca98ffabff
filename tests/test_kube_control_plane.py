"""The kwok target for real: a private control plane on free ports, its own state dir and kubeconfig.

Builds the pinned binaries on first use (minutes, cached), then starts etcd, kube-apiserver,
controller-manager, scheduler and kwok, and proves what the k8s suites rely on: a Deployment
gets Ready pods from kwok, a PVC of the env's class is Bound by the hostpath provisioner, and
``down`` stops only what this stack started.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from obs_conformance.clients.kubernetes import KubernetesClient
from obs_conformance.clients.polling import Observation, wait_for
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.local import LocalStack
from obs_conformance.deployer.targets.kwok import target as kube_target
from obs_conformance.deployer.targets.kwok.components import control_plane
from obs_conformance.deployer.toolchain import kube_build
from obs_conformance.envconf import Environment, load_environment
from obs_conformance.envconf.environment import ENVIRONMENTS_DIR

ROOT = Path(__file__).resolve().parent.parent
KWOK_ENV = ENVIRONMENTS_DIR / "kwok" / "obs-conformance.env"
NAMESPACE = "default"

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def private_env(tmp_path: Path) -> Path:
    """The kwok env file on free ports, its kubeconfig under ``tmp_path``."""
    text = KWOK_ENV.read_text()
    # every listener of the target, the operators' too
    text = re.sub(r'^(LOCAL_\w+_PORT)=".*"$', lambda m: f'{m[1]}="{free_port()}"', text, flags=re.MULTILINE)
    text = re.sub(r'^KUBECONFIG_FILE=".*"$', f'KUBECONFIG_FILE="{tmp_path / "kubeconfig"}"', text, flags=re.MULTILINE)
    path = tmp_path / "kwok.env"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def built() -> None:
    kube_build.build_kube()  # first run only: minutes (fixtures are outside the test timeout)


@pytest.fixture
def plane(
    built: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Environment, LocalStack, Path]]:
    """Started in the fixture (a cold start may take longer than the test timeout); one per test, so
    parallel workers never share it. The control plane alone: the operators have tests of their own."""
    monkeypatch.setattr(kube_target, "KUBE_PROVIDERS", (control_plane,))
    env_file = private_env(tmp_path)
    env = load_environment(str(env_file), environ={})
    # what the CLI finds with OBSCONF_STATE=<tmp>/state (the kwok target lives in <state>/kube)
    stack = LocalStack(env, Layout(tmp_path / "state" / "kube"))
    try:
        stack.up()
        yield env, stack, env_file
    finally:
        stack.down(delete_data=True)  # no volume directories left behind in /tmp/hostpath_pv


def kubectl(env: Environment, *args: str, stdin: str | None = None) -> str:
    argv = [str(kube_build.kubectl()), f"--kubeconfig={env.repo_path('KUBECONFIG_FILE')}", *args]
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"`{' '.join(argv)}` exited {done.returncode}: {done.stderr.strip()}"
    return done.stdout


def wait_until(what: str, where: str, probe: Any, deadline: float = 60.0) -> Any:
    return wait_for(probe, expected=what, where=where, deadline=deadline, max_interval=0.5).value


def test_kwok_target_end_to_end(plane: tuple[Environment, LocalStack, Path], tmp_path: Path) -> None:
    """One test (one private control plane): status, idempotent up, workloads, volumes, then down."""
    env, stack, env_file = plane
    check_status_and_version(env, stack, env_file)
    check_workloads(env)
    check_down_stops_only_what_it_started(env, stack, tmp_path)


def check_status_and_version(env: Environment, stack: LocalStack, env_file: Path) -> None:

    # status through the CLI, as a user sees it: every component ready, on its own pid
    done = subprocess.run(
        [sys.executable, "-m", "deployer", "local", "status", "--env", str(env_file)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "OBSCONF_STATE": str(stack.layout.root.parent)},
        check=False,
    )
    lines = done.stdout.splitlines()[:5]  # then whatever else the target runs (the operators)
    assert [line.split()[0] for line in lines] == [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    ]
    assert all(line.split()[1] == "ready" for line in lines), lines
    assert "Ready=True" in lines[-1] and "StorageClass standard present" in lines[2], lines

    # a second up starts nothing and keeps every pid
    pids = {s.name: s.pid for s in stack.status()}
    assert {s.name: s.pid for s in stack.up()} == pids

    # the suites' client reaches it with the env's kubeconfig file and context
    client = KubernetesClient.from_kubeconfig(env.text("KUBE_CONTEXT"), 5.0, str(env.repo_path("KUBECONFIG_FILE")))
    assert client.version() == "v1.33.13"
    assert kubectl(env, "version", "--client", "-o", "json").count("v1.33.13") >= 1


def check_workloads(env: Environment) -> None:
    """A Deployment gets Ready pods from kwok; a PVC of the env's class is Bound, and its volume deleted with it."""
    client = KubernetesClient.from_kubeconfig(env.text("KUBE_CONTEXT"), 5.0, str(env.repo_path("KUBECONFIG_FILE")))
    storage_class = env.text("STORAGE_CLASS")
    manifests = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "probe", "namespace": NAMESPACE},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "probe"}},
                "template": {
                    "metadata": {"labels": {"app": "probe"}},
                    "spec": {"containers": [{"name": "probe", "image": "registry.invalid/probe:1"}]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "probe-data", "namespace": NAMESPACE},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": storage_class,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    ]
    kubectl(env, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}))

    pods_path = f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=app%3Dprobe"

    def pods_ready() -> Observation[list[dict[str, Any]]]:
        pods = client.items(pods_path)
        ready = [
            p
            for p in pods
            if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
        ]
        shown = [(p["metadata"]["name"], p["status"].get("phase")) for p in pods]
        return Observation(ready, len(ready) == 2, f"pods (name, phase): {shown}")

    ready = wait_until("2 Ready pods of Deployment probe", pods_path, pods_ready)
    for pod in ready:
        assert pod["status"]["phase"] == "Running"
        assert ipaddress.ip_address(pod["status"]["podIP"]).is_loopback, pod["status"]["podIP"]
        assert ipaddress.ip_address(pod["status"]["hostIP"]).is_loopback, pod["status"]["hostIP"]

    pvc_path = f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims/probe-data"

    def pvc_bound() -> Observation[dict[str, Any]]:
        pvc = client.get(pvc_path) or {}
        phase = pvc.get("status", {}).get("phase")
        return Observation(pvc, phase == "Bound", f"phase {phase}")

    pvc = wait_until("PVC probe-data Bound", pvc_path, pvc_bound)
    assert pvc["spec"]["storageClassName"] == storage_class
    volume = client.get(f"/api/v1/persistentvolumes/{pvc['spec']['volumeName']}") or {}
    host_path = Path(volume["spec"]["hostPath"]["path"])
    assert host_path.is_dir(), f"the hostpath provisioner made no {host_path}"

    # deleting the claim deletes the volume and its directory (reclaim policy Delete)
    kubectl(env, "delete", "deployment/probe", "pvc/probe-data", "-n", NAMESPACE, "--wait=false")

    def volume_gone() -> Observation[bool]:
        gone = client.get(f"/api/v1/persistentvolumes/{volume['metadata']['name']}") is None
        return Observation(
            gone, gone and not host_path.exists(), f"PV deleted: {gone}; dir exists: {host_path.exists()}"
        )

    wait_until("the volume and its directory deleted", str(host_path), volume_gone)


def bound_claim(env: Environment, name: str) -> Path:
    """A PVC of the env's class, once Bound: the directory of its volume."""
    client = KubernetesClient.from_kubeconfig(env.text("KUBE_CONTEXT"), 5.0, str(env.repo_path("KUBECONFIG_FILE")))
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": env.text("STORAGE_CLASS"),
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    kubectl(env, "apply", "-f", "-", stdin=json.dumps(claim))
    path = f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims/{name}"

    def bound() -> Observation[str]:
        pvc = client.get(path) or {}
        phase = pvc.get("status", {}).get("phase")
        return Observation(str(pvc.get("spec", {}).get("volumeName", "")), phase == "Bound", f"phase {phase}")

    volume = client.get(f"/api/v1/persistentvolumes/{wait_until(f'PVC {name} Bound', path, bound)}") or {}
    return Path(volume["spec"]["hostPath"]["path"])


def check_down_stops_only_what_it_started(env: Environment, stack: LocalStack, tmp_path: Path) -> None:
    """A process of the same binary that this stack did not start survives ``down``; ``--delete-data``
    removes etcd's data and the directories of the volumes still bound."""
    volume_dir = bound_claim(env, "kept-data")
    assert volume_dir.is_dir()
    etcd = str(kube_build.kube_binaries().etcd)
    client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    decoy = subprocess.Popen(
        [
            etcd,
            f"--data-dir={tmp_path / 'decoy'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        pids = {s.name: s.pid for s in stack.status()}
        lines = stack.down(delete_data=True)
        stopped = [f"{name}: stopped (pid {pids[name]})" for name in reversed(list(pids))]
        assert lines[: len(stopped)] == stopped, lines
        assert f"deleted {stack.layout.data('etcd')}" in lines and f"deleted {volume_dir}" in lines, lines
        assert not volume_dir.exists() and not stack.layout.data("etcd").exists()
        assert decoy.poll() is None, "down stopped an etcd it did not start"
        assert all(s.pid is None for s in stack.status())
    finally:
        decoy.terminate()
        decoy.wait(timeout=30)
