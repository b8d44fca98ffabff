"""The k8s suites against a fake Kubernetes API: healthy objects pass, each broken variant fails
with a message naming the object, the expected and the actual value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clients import registry
from clients.polling import Patience
from envconf import Environment, load_environment
from envconf.stack_facts import PVCS
from fixtures.emitters import OtlpEmitter
from fixtures.readback import read_promql
from tests.fake_kube.objects import Objects, broken, healthy_cluster
from tests.fake_kube.server import kubeconfig, serving

ROOT = Path(__file__).resolve().parent.parent
SELECT = ["-m", "k8s and not handshake", "-k", "not usage"]


@pytest.fixture(scope="module")
def dev() -> Environment:
    return load_environment("dev", environ={})


@pytest.fixture(scope="module")
def healthy(dev: Environment, tmp_path_factory: pytest.TempPathFactory) -> Objects:
    return healthy_cluster(dev, tmp_path_factory.mktemp("rendered"))[0]


def run_k8s_suites(objects: Objects, env: Environment, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    with serving(objects) as server:
        config = tmp_path / "kubeconfig"
        config.write_text(kubeconfig(server.url, str(env.values["KUBE_CONTEXT"])))
        argv = [sys.executable, "-m", "pytest", "suites", "--env", "dev", "-q", "--no-reports", *SELECT]
        return subprocess.run(
            argv, cwd=ROOT, env={**os.environ, "KUBECONFIG": str(config)},
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip


def test_healthy_cluster_passes(healthy: Objects, dev: Environment, tmp_path: Path) -> None:
    result = run_k8s_suites(healthy, dev, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


BROKEN = [
    ("pvc-20Gi", "test_pvc_bound_with_env_size_and_class[PROMETHEUS]", ["'size': '20Gi'", "'size': '35Gi'", "prometheus-prom-stack"]),
    ("pvc-wrong-class", "test_pvc_bound_with_env_size_and_class[PROMETHEUS]", ["'storageClassName': 'standard'", "'sbs-default'"]),
    ("pvc-pending", "test_pvc_bound_with_env_size_and_class[PROMETHEUS]", ["'phase': 'Pending'", "'phase': 'Bound'"]),
    ("certificate-not-ready", "test_certificate_ready_from_env_issuer_and_not_expiring[loki]", ["loki-tls", "not Ready", "ACME challenge failed"]),
    ("certificate-expiring", "test_certificate_ready_from_env_issuer_and_not_expiring[loki] test_secret_certificate_covers_host[loki]", ["loki-tls", "expires in 3.0 days", "at least 14"]),
    ("san-mismatch", "test_secret_certificate_covers_host[loki]", ["loki-tls", "dev-poc-odooswfjips-grafana.jips.io", "covering dev-poc-odooswfjips-loki.jips.io"]),
    ("crashloop", "test_every_pod_ready_and_not_restarting", ["loki-stack-0/loki: waiting (CrashLoopBackOff)", "12 restarts"]),
    ("servicemonitor-no-release", "test_service_monitor_selected_every_scrape_interval[postgres-exporter]", ["postgres-exporter: label release=None", "expected 'prom-stack'"]),
]  # fmt: skip


@pytest.mark.parametrize(("variant", "failing", "needles"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_variant_fails_with_a_precise_message(
    healthy: Objects, dev: Environment, tmp_path: Path, variant: str, failing: str, needles: list[str]
) -> None:
    result = run_k8s_suites(broken(healthy, dev, variant, tmp_path), dev, tmp_path)
    failed = [line.split("::")[1].split(" ")[0] for line in result.stdout.splitlines() if line.startswith("FAILED ")]
    assert failed == failing.split(), result.stdout[-4000:]
    for needle in needles:
        assert needle in result.stdout, f"{needle!r} missing from:\n{result.stdout[-4000:]}"


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
def test_pvc_usage_check_against_real_prometheus(healthy: Objects, dev: Environment, tmp_path: Path) -> None:
    """kubelet_volume_stats series go through the real collector into the real Prometheus; the dev
    env (pointed at it) passes at 10% use and fails, naming the PVC and its headroom, at 95%."""
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
    env_file.write_text(dev.path.read_text().replace(dev.text("PROMETHEUS_URL"), local.text("PROMETHEUS_URL")))
    with serving(healthy) as server:
        config = tmp_path / "kubeconfig"
        config.write_text(kubeconfig(server.url, str(dev.values["KUBE_CONTEXT"])))
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
