"""Chart sources: the repositories by default, a local mirror checked against its SHA256SUMS."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from obs_conformance.deployer import pins
from obs_conformance.deployer.engine.layout import REPO_ROOT
from obs_conformance.deployer.toolchain import helm_build
from obs_conformance.deployer.toolchain.charts import ChartError, ChartSource

MIRROR = REPO_ROOT.parent / "shared" / "charts"


def _mirror(tmp_path: Path) -> Path:
    copy = tmp_path / "charts"
    shutil.copytree(MIRROR, copy)
    for path in copy.iterdir():
        path.chmod(0o644)
    return copy


def test_repositories_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OBSCONF_CHARTS", raising=False)
    source = ChartSource.from_option(None)
    chart = pins.CHARTS["tempo"]
    assert source.reference("tempo") == ("tempo", "--repo", chart.repo, "--version", chart.version)


def test_local_mirror_relative_to_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSCONF_CHARTS", "../shared/charts")
    source = ChartSource.from_option(None)
    assert source.directory == MIRROR.resolve()
    for name in pins.CHARTS:
        [package] = source.reference(name)
        assert Path(package).name == f"{name}-{pins.CHARTS[name].version}.tgz"


def test_a_tampered_package_is_refused(tmp_path: Path) -> None:
    mirror = _mirror(tmp_path)
    package = mirror / f"tempo-{pins.CHARTS['tempo'].version}.tgz"
    package.write_bytes(package.read_bytes() + b"\0")
    with pytest.raises(ChartError) as caught:
        ChartSource(mirror).reference("tempo")
    actual = hashlib.sha256(package.read_bytes()).hexdigest()
    assert f"sha256 {actual}, but {mirror / 'SHA256SUMS'} says " in str(caught.value)


def test_an_unlisted_or_missing_package_is_refused(tmp_path: Path) -> None:
    mirror = _mirror(tmp_path)
    sums = mirror / "SHA256SUMS"
    sums.write_text("".join(line + "\n" for line in sums.read_text().splitlines() if "loki-stack" not in line))
    with pytest.raises(ChartError, match="is not listed in"):
        ChartSource(mirror).reference("loki-stack")
    (mirror / f"tempo-{pins.CHARTS['tempo'].version}.tgz").unlink()
    with pytest.raises(ChartError, match="is missing from the chart directory"):
        ChartSource(mirror).reference("tempo")


def test_plan_with_a_bad_mirror_fails_before_anything(tmp_path: Path) -> None:
    mirror = _mirror(tmp_path)
    (mirror / f"tempo-{pins.CHARTS['tempo'].version}.tgz").write_bytes(b"not a chart")
    done = subprocess.run(
        [sys.executable, "-m", "deployer", "plan", "--env", "dev", "--charts", str(mirror), "--no-manifests"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "charts from the local chart directory" in done.stderr and "tempo-1.23.3.tgz: sha256" in done.stderr
    assert "step 3" not in done.stdout


def test_pinned_helm_is_version_stamped() -> None:
    """Unstamped, helm assumes Kubernetes v1.20.0 and refuses charts whose kubeVersion wants more."""
    helm = helm_build.build_helm()
    assert helm_build.helm_version(helm) == pins.HELM_VERSION
    package = ChartSource(MIRROR).reference("kube-prometheus-stack")[0]
    done = subprocess.run(
        [str(helm), "template", "prom-stack", package, "--show-only", "templates/prometheus/prometheus.yaml"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "kind: Prometheus" in done.stdout


def test_helm_default_kube_version_follows_its_client_go() -> None:
    go_mod = "module helm.sh/helm/v3\n\nrequire (\n\tk8s.io/api v0.37.0\n\tk8s.io/client-go v0.37.2\n)\n"
    assert helm_build.default_kube_version(go_mod) == ("1", "37")
    flags = helm_build.ldflags(go_mod)
    assert f"-X helm.sh/helm/v3/internal/version.version={pins.HELM_VERSION}" in flags
    assert "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37" in flags
    assert "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37" in flags
