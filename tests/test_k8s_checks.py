"""The k8s suites' edges: the local env skips them with a reason, and the PVC usage check (which
needs kubelet_volume_stats, which the kwok target has no kubelet to export) against the real
Prometheus. The healthy deploy and every broken variant run on the real API: tests/test_kwok_deploy.py
and tests/test_k8s_kwok.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from obs_conformance.clients import registry
from obs_conformance.clients.polling import Patience
from obs_conformance.deployer.local import LocalStack
from obs_conformance.envconf import Environment, load_environment
from obs_conformance.envconf.stack_facts import PVCS
from obs_conformance.fixtures.emitters import OtlpEmitter
from obs_conformance.fixtures.readback import read_promql

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dev() -> Environment:
    return load_environment("dev", environ={})


@pytest.fixture(scope="module")
def kwok() -> Environment:
    """The shared kwok control plane: a real API server for the suites' client (started if needed)."""
    env = load_environment("kwok", environ={})
    LocalStack(env).ensure_started()
    return env


@pytest.mark.slow  # a pytest run of its own
def test_local_env_skips_k8s_checks_with_a_reason() -> None:
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "suites/test_k8s_storage.py",
        "--env",
        "local",
        "--no-stack-up",
        "-q",
        "-rs",
        "-k",
        "not usage",
    ]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 5, result.stdout[-2000:]  # every check skipped: "no checks ran", not a pass
    assert "needs a Kubernetes cluster: run with --env" in result.stdout


@pytest.mark.stack
@pytest.mark.usefixtures("stack")
def test_pvc_usage_check_against_real_prometheus(dev: Environment, kwok: Environment, tmp_path: Path) -> None:
    """kubelet_volume_stats series go through the real collector into the real Prometheus; the dev
    env (pointed at it, its cluster client at the kwok API server) passes at 10% use and fails,
    naming the PVC and its headroom, at 95%."""
    local = load_environment("local", environ={})
    emitter = OtlpEmitter(local, "pvc-usage")

    def set_usage(fractions: dict[str, float]) -> None:
        for component, name in PVCS.items():
            labels = {"namespace": dev.text("NAMESPACE"), "persistentvolumeclaim": name}
            capacity = float(dev.quantity(f"{component}_STORAGE_SIZE").bytes)
            emitter.send_gauge(
                "kubelet", "kubelet_volume_stats_capacity_bytes", labels, capacity, instance="fake-kubelet"
            )
            used = capacity * fractions.get(component, 0.1)
            emitter.send_gauge("kubelet", "kubelet_volume_stats_used_bytes", labels, used, instance="fake-kubelet")
        # wait until Prometheus has scraped the latest values
        prometheus = registry.prometheus(local)
        loki = PVCS["LOKI"]
        want = fractions.get("LOKI", 0.1)
        promql = f'kubelet_volume_stats_used_bytes{{persistentvolumeclaim="{loki}"}} / kubelet_volume_stats_capacity_bytes{{persistentvolumeclaim="{loki}"}}'
        read_promql(
            prometheus,
            promql,
            lambda s: bool(s) and abs(max(x.value for x in s) - want) < 1e-6,
            Patience(30, 0.1),
            "usage",
        )

    env_file = tmp_path / "dev-local-prometheus.env"
    text = dev.path.read_text().replace(dev.text("PROMETHEUS_URL"), local.text("PROMETHEUS_URL"))
    env_file.write_text(text.replace(str(dev.values["KUBE_CONTEXT"]), str(kwok.values["KUBE_CONTEXT"])))
    config = kwok.repo_path("KUBECONFIG_FILE")
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "suites/test_k8s_storage.py",
        "-k",
        "usage",
        "--env",
        str(env_file),
        "-q",
        "--no-reports",
    ]

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            cwd=ROOT,
            env={**os.environ, "KUBECONFIG": str(config)},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    set_usage({})
    healthy_run = run()
    set_usage({"LOKI": 0.95})
    full_run = run()
    set_usage({})
    assert healthy_run.returncode == 0, healthy_run.stdout[-3000:]
    assert "4 passed" in healthy_run.stdout
    assert "1 failed, 3 passed" in full_run.stdout, full_run.stdout[-3000:]
    assert "LOKI: PVC storage-loki-stack-0 is 95% full, expected below 80% (headroom 5%)" in full_run.stdout
