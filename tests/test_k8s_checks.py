"""The k8s suites against a fake Kubernetes API: healthy objects pass, each broken variant fails
with a message naming the object, the expected and the actual value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from envconf import Environment, load_environment
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
    assert result.returncode == 0, result.stdout[-2000:]
    assert "needs a Kubernetes cluster: run with --env kind or --env dev" in result.stdout
