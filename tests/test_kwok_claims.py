"""On a real API server: ``diff`` names the PVCs our values would change but Kubernetes cannot (touching
none), and the deploy's runner says per object what a helm upgrade changed.

A PRIVATE kwok control plane (free ports, own state and kubeconfig; no operators, no deploy): the
Prometheus and Alertmanager PVCs an earlier deploy made are created as they would be (5Gi and 2Gi of
class standard), then ``python -m deployer diff`` runs with values asking 8Gi and class fast-ssd. It must
print one warning per PVC with what to do, exit 0, and leave both PVCs as they were. Then one real
release (offline chart) is installed and upgraded through the runner, as ``up`` does it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from obs_conformance.clients.kubernetes import KubernetesClient
from obs_conformance.deployer.cluster import release_changes
from obs_conformance.deployer.cluster.plan import Step, Tools
from obs_conformance.deployer.cluster.readiness import client
from obs_conformance.deployer.cluster.runner import Runner
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.local import LocalStack
from obs_conformance.deployer.targets.kwok import target as kube_target
from obs_conformance.deployer.targets.kwok.components import control_plane
from obs_conformance.deployer.toolchain import kube_build
from obs_conformance.deployer.toolchain.charts import ChartSource
from obs_conformance.envconf import Environment, load_environment
from obs_conformance.envconf.stack_facts import PVCS
from tests.test_kube_control_plane import private_env

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.stack, pytest.mark.slow]


@pytest.fixture
def plane(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Environment, Path]]:
    """The control plane alone on free ports, with an env file whose values change both storage templates."""
    kube_build.build_kube()
    monkeypatch.setattr(kube_target, "KUBE_PROVIDERS", (control_plane,))
    env_file = private_env(tmp_path)
    text = re.sub(r'^PROMETHEUS_STORAGE_SIZE=".*"$', 'PROMETHEUS_STORAGE_SIZE="8Gi"', env_file.read_text(),
                  flags=re.MULTILINE)  # fmt: skip
    env_file.write_text(text + 'ALERTMANAGER_STORAGE_CLASS="fast-ssd"\n')
    env = load_environment(str(env_file), environ={})
    stack = LocalStack(env, Layout(tmp_path / "state" / "kube"))
    try:
        stack.up()
        yield env, env_file
    finally:
        stack.down(delete_data=True)


def _pvc(name: str, size: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "standard",
            "resources": {"requests": {"storage": size}},
        },
    }


def _claims(api: KubernetesClient, ns: str) -> dict[str, tuple[str, str]]:
    """Each PVC's class and requested size (its volumeName is the provisioner's to set meanwhile)."""
    pvcs = api.items(f"/api/v1/namespaces/{ns}/persistentvolumeclaims")
    return {
        p["metadata"]["name"]: (p["spec"]["storageClassName"], p["spec"]["resources"]["requests"]["storage"])
        for p in pvcs
    }


def test_diff_names_each_pvc_our_values_cannot_change_and_touches_none(
    plane: tuple[Environment, Path], tmp_path: Path
) -> None:
    env, env_file = plane
    ns = env.text("NAMESPACE")
    api = KubernetesClient.from_kubeconfig(env.text("KUBE_CONTEXT"), 10.0, str(env.repo_path("KUBECONFIG_FILE")))
    api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    for component, size in (("PROMETHEUS", "5Gi"), ("ALERTMANAGER", "2Gi")):
        api.create(f"/api/v1/namespaces/{ns}/persistentvolumeclaims", _pvc(PVCS[component], size))
    before = _claims(api, ns)

    done = subprocess.run(
        [sys.executable, "-m", "deployer", "diff", "--env", str(env_file)],
        cwd=ROOT,
        env={**os.environ, "OBSCONF_DEPLOY_DIR": str(tmp_path / "deploy")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    warnings = [line for line in done.stdout.splitlines() if line.startswith("warning: PVC ")]
    prometheus, alertmanager = PVCS["PROMETHEUS"], PVCS["ALERTMANAGER"]
    assert [w.split(" keeps ")[0] for w in warnings] == [
        f"warning: PVC {ns}/{prometheus}",
        f"warning: PVC {ns}/{alertmanager}",
    ], done.stdout[-3000:]
    assert "keeps 5Gi (our values: 8Gi)" in warnings[0] and f"kubectl patch pvc {prometheus}" in warnings[0]
    assert "--cascade=orphan" in warnings[0]
    assert "keeps StorageClass standard (our values: fast-ssd)" in warnings[1]

    after = _claims(api, ns)
    assert after == before == {prometheus: ("standard", "5Gi"), alertmanager: ("standard", "2Gi")}


def test_up_reports_per_object_what_a_helm_upgrade_changed(plane: tuple[Environment, Path], tmp_path: Path) -> None:
    """One real release (the Postgres exporter chart, offline) installed then upgraded with another memory
    limit by the deploy's runner: the upgrade names the Deployment and the changed field, the rest unchanged."""
    charts = ROOT.parent / "shared" / "charts"
    if not (charts / "SHA256SUMS").is_file():
        pytest.skip(f"the offline chart directory {charts} is missing")
    env, _ = plane
    ns = "release-changes"
    api = client(env)
    api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    tools = Tools(env, ChartSource.from_option(str(charts)))
    printed: list[str] = []
    for memory in ("64Mi", "96Mi"):
        values = tmp_path / f"values-{memory}.yaml"
        values.write_text(f"resources:\n  limits:\n    memory: {memory}\n")
        install = tools.install("exporter", "prometheus-postgres-exporter", ns, "--values", str(values))
        Runner(env, printed.append, releases=release_changes.reader(lambda: api)).run([Step(8, "exporter", (install,))])
    first, second = printed.index("step 8: exporter"), len(printed) - 1 - printed[::-1].index("step 8: exporter")
    assert any(line.startswith("    release created (revision 1): ") for line in printed[first:second]), printed
    lines = [line.strip() for line in printed[second:] if line.startswith("    ") and ": " in line]
    deployment = [line for line in lines if line.startswith(f"Deployment {ns}/")]
    assert len(deployment) == 1 and "changed (" in deployment[0], lines
    assert "spec.template.spec.containers" in deployment[0], deployment
    assert all(line.endswith(": unchanged") for line in lines if line not in deployment), lines
