"""Every rendered object of dev, kind and kwok through a real API server's strict validation.

``kubectl apply --dry-run=server --validate=strict`` against the kwok target's control
plane (``python -m deployer local up --env kwok``, Kubernetes at ``pins.KUBERNETES_VERSION``):
the server decodes each object with unknown fields rejected and runs its validation, and
persists nothing. Namespaced objects are checked in ``default`` (validation does not depend
on the namespace, and the design's namespaces need not exist there); cluster-wide objects under
a prefixed name. Custom resources whose
CRDs that control plane has not installed are reported as unchecked here; their schemas are
also checked offline (tests/test_cluster_tools.py). Skipped when that control plane is not running.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from obs_conformance.deployer.toolchain.kube_build import kubectl
from obs_conformance.envconf import load_environment
from tests.cluster_render import CLUSTER_ENVS, rendered

# it needs the kwok target running (make kube): a stack test, not a unit test
pytestmark = [pytest.mark.slow, pytest.mark.stack]

KUBECTL_TIMEOUT = 300


def _kubeconfig() -> Path:
    env = load_environment("kwok", environ={})
    return env.repo_path("KUBECONFIG_FILE")


def _reachable(binary: Path, kubeconfig: Path) -> bool:
    if not kubeconfig.is_file():
        return False
    done = subprocess.run(
        [str(binary), "--kubeconfig", str(kubeconfig), "get", "--raw", "/readyz"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return done.returncode == 0 and done.stdout.strip() == "ok"


def _for_validation(doc: dict[str, Any]) -> dict[str, Any]:
    """In ``default`` if namespaced; cluster-wide ones renamed, so a dry-run creates rather than
    updates what a deploy on that control plane may have made (immutable fields)."""
    meta = dict(doc.get("metadata", {}))
    if "namespace" in meta:
        meta["namespace"] = "default"
    else:
        meta["name"] = f"v-{meta['name']}"
    return {**doc, "metadata": meta}


DryRun = Callable[[Path], "subprocess.CompletedProcess[str]"]


@pytest.fixture
def dry_run() -> DryRun:
    """``kubectl apply --dry-run=server --validate=strict -f PATH`` on the kwok target (skipped when it is not up)."""
    binary = kubectl()
    kubeconfig = _kubeconfig()
    if not _reachable(binary, kubeconfig):
        pytest.skip(f"no kwok control plane answering at {kubeconfig}: python -m deployer local up --env kwok")

    def run(manifest: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(binary), "--kubeconfig", str(kubeconfig), "apply", "--dry-run=server", "--validate=strict",
             "-f", str(manifest)],
            capture_output=True, text=True, timeout=KUBECTL_TIMEOUT, check=False,
        )  # fmt: skip

    return run


@pytest.mark.parametrize("name", CLUSTER_ENVS)
def test_rendered_objects_pass_the_api_servers_strict_validation(name: str, dry_run: DryRun, tmp_path: Path) -> None:
    deploy = rendered(name)
    docs = [_for_validation(doc) for _, doc in deploy.objects() if doc.get("kind") != "CustomResourceDefinition"]
    manifest = tmp_path / "all.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    done = dry_run(manifest)
    # warnings (e.g. objects already there without kubectl's last-applied annotation) are not refusals
    errors = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("Warning:")]
    unchecked = [line for line in errors if "no matches for kind" in line or "ensure CRDs are installed" in line]
    refused = [line for line in errors if line not in unchecked]
    assert not refused, f"{name}: the API server refused rendered objects:\n" + "\n".join(refused)
    validated = [line for line in done.stdout.splitlines() if "(server dry run)" in line]
    assert len(validated) + len(unchecked) >= len(docs) * 0.9, (done.stdout[-2000:], done.stderr[-2000:])
    assert len(validated) > len(docs) // 2, f"{name}: only {len(validated)} of {len(docs)} objects validated"


def test_the_api_server_check_can_fail(dry_run: DryRun, tmp_path: Path) -> None:
    """A misspelt field in a rendered Service is refused, so the check above can fail."""
    service = _for_validation(rendered("dev").one("Service", "tempo", "tempo"))
    service["spec"]["portz"] = service["spec"].pop("ports")
    manifest = tmp_path / "broken.yaml"
    manifest.write_text(yaml.safe_dump(service))
    done = dry_run(manifest)
    assert done.returncode != 0 and 'unknown field "spec.portz"' in done.stderr, done.stderr
