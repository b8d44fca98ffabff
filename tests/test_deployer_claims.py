"""Volume claims our values change but Kubernetes cannot (issue 21): what ``diff`` and ``up`` say, per PVC;
and what a helm upgrade changed, per object of the release's manifest.

The comparison runs on fake PVCs against the values the deployer really renders from an env file
(the kwok env with its storage keys changed), and on a fake API that counts its list calls.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from obs_conformance.clients.errors import BackendError
from obs_conformance.clients.kubernetes import KubernetesClient
from obs_conformance.deployer.cluster import claims, release_changes
from obs_conformance.deployer.cluster.manifests import RenderedSet, render_cluster
from obs_conformance.envconf import Environment, load_environment
from obs_conformance.envconf.stack_facts import PVCS

ROOT = Path(__file__).resolve().parent.parent
NS = "kube-prometheus-stack"
PROM_PVC = PVCS["PROMETHEUS"]
AM_PVC = PVCS["ALERTMANAGER"]


def _env(tmp_path: Path, **changed: str) -> Environment:
    """The kwok env with ``changed`` keys set (in place, or added when the file lacks them)."""
    lines = (ROOT / "environments" / "kwok" / "obs-conformance.env").read_text().splitlines()
    for key, value in changed.items():
        at = [i for i, line in enumerate(lines) if line.startswith(f"{key}=")]
        if at:
            lines[at[0]] = f'{key}="{value}"'
        else:
            lines.append(f'{key}="{value}"')
    path = tmp_path / "obs-conformance.env"
    path.write_text("\n".join(lines) + "\n")
    return load_environment(str(path), environ={})


def _rendered(env: Environment, tmp_path: Path) -> RenderedSet:
    return render_cluster(env, tmp_path / "deploy")


def _pvc(name: str, size: str, storage_class: str | None = "standard") -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {"metadata": {"name": name, "namespace": NS}, "spec": spec, "status": {"phase": "Bound"}}


class FakeApi(KubernetesClient):
    def __init__(self, pvcs: list[dict[str, Any]], fail: bool = False) -> None:
        super().__init__("https://127.0.0.1:1", 1.0)
        self.pvcs = pvcs
        self.fail = fail
        self.paths: list[str] = []

    def items(self, path: str) -> list[dict[str, Any]]:
        self.paths.append(path)
        if self.fail:
            raise BackendError(self.component, "connection refused", status=None)
        return self.pvcs


def test_wanted_reads_the_crs_templates_from_our_rendered_values(tmp_path: Path) -> None:
    env = _env(tmp_path, PROMETHEUS_STORAGE_SIZE="50Gi", ALERTMANAGER_STORAGE_CLASS="fast")
    wants = {w.component: w for w in claims.wanted(_rendered(env, tmp_path))}
    assert set(wants) == {"PROMETHEUS", "ALERTMANAGER"}
    assert (wants["PROMETHEUS"].size, wants["PROMETHEUS"].storage_class) == ("50Gi", "standard")
    assert (wants["ALERTMANAGER"].size, wants["ALERTMANAGER"].storage_class) == ("2Gi", "fast")
    assert PROM_PVC.startswith(wants["PROMETHEUS"].prefix) and AM_PVC.startswith(wants["ALERTMANAGER"].prefix)
    assert not AM_PVC.startswith(wants["PROMETHEUS"].prefix)


def test_matching_pvcs_give_no_warning_whatever_the_quantity_spelling(tmp_path: Path) -> None:
    rendered = _rendered(_env(tmp_path), tmp_path)
    # 5Gi as the API server may write it back; Loki's PVC is no CR's and never compared
    pvcs = [_pvc(PROM_PVC, "5120Mi"), _pvc(AM_PVC, "2Gi"), _pvc("storage-loki-stack-0", "1Gi", "other")]
    assert claims.drift(claims.wanted(rendered), pvcs) == []


def test_a_bigger_size_says_expand_then_orphan_the_statefulset(tmp_path: Path) -> None:
    rendered = _rendered(_env(tmp_path, PROMETHEUS_STORAGE_SIZE="50Gi"), tmp_path)
    lines = claims.drift(claims.wanted(rendered), [_pvc(PROM_PVC, "5Gi"), _pvc(AM_PVC, "2Gi")])
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith(f"PVC {NS}/{PROM_PVC} keeps 5Gi (our values: 50Gi): a volumeClaimTemplate cannot change")
    assert "kubectl patch pvc " + PROM_PVC in line and '"storage":"50Gi"' in line
    assert "allows volume expansion" in line
    statefulset = "prometheus-prom-stack-kube-prometheus-prometheus"
    assert f"kubectl delete statefulset {statefulset} --namespace {NS} --cascade=orphan" in line


def test_a_smaller_size_says_a_pvc_never_shrinks(tmp_path: Path) -> None:
    rendered = _rendered(_env(tmp_path, ALERTMANAGER_STORAGE_SIZE="1Gi"), tmp_path)
    lines = claims.drift(claims.wanted(rendered), [_pvc(AM_PVC, "2Gi")])
    assert len(lines) == 1 and "keeps 2Gi (our values: 1Gi)" in lines[0] and "never shrinks" in lines[0]
    assert "kubectl patch" not in lines[0]
    assert "--cascade=orphan" in lines[0] and "alertmanager-prom-stack-kube-prometheus-alertmanager " in lines[0]


def test_another_class_says_the_class_never_changes_per_pvc(tmp_path: Path) -> None:
    rendered = _rendered(_env(tmp_path, ALERTMANAGER_STORAGE_CLASS="fast"), tmp_path)
    replica = AM_PVC[:-1] + "1"
    lines = claims.drift(claims.wanted(rendered), [_pvc(AM_PVC, "2Gi"), _pvc(replica, "2Gi"), _pvc(PROM_PVC, "5Gi")])
    assert [line.split(" keeps ")[0] for line in lines] == [f"PVC {NS}/{AM_PVC}", f"PVC {NS}/{replica}"]
    for line in lines:
        assert "keeps StorageClass standard (our values: fast)" in line and "class never changes" in line


def test_check_lists_the_pvcs_once_prints_warnings_and_deletes_nothing(tmp_path: Path) -> None:
    env = _env(tmp_path, PROMETHEUS_STORAGE_SIZE="50Gi", ALERTMANAGER_STORAGE_CLASS="fast")
    api = FakeApi([_pvc(PROM_PVC, "5Gi"), _pvc(AM_PVC, "2Gi")])
    printed: list[str] = []
    lines = claims.check(env, _rendered(env, tmp_path), printed.append, api)
    assert api.paths == [f"/api/v1/namespaces/{NS}/persistentvolumeclaims"]
    assert len(lines) == 2 and printed == [f"warning: {line}" for line in lines]


def test_check_says_so_when_all_match_or_when_it_cannot_read(tmp_path: Path) -> None:
    env = _env(tmp_path)
    printed: list[str] = []
    assert claims.check(env, _rendered(env, tmp_path), printed.append, FakeApi([_pvc(PROM_PVC, "5Gi")])) == []
    assert printed == ["volume claims: 1 PVC(s) of Prometheus and Alertmanager as our values ask"]
    printed.clear()
    assert claims.check(env, _rendered(env, tmp_path), printed.append, FakeApi([], fail=True)) == []
    assert len(printed) == 1 and printed[0].startswith("volume claims: not compared, the cluster's PVCs cannot be read")


@pytest.mark.parametrize(
    ("text", "expected"), [("35Gi", 35 * 2**30), ("1.5G", 1.5e9), ("2048Mi", 2 * 2**30), ("10", 10.0), ("x", None)]
)
def test_quantities(text: str, expected: float | None) -> None:
    assert claims.quantity_bytes(text) == expected


# What a helm upgrade changed, per object of the release's manifest (release_changes.py), on fake records.


def _record(revision: int, *docs: dict[str, Any]) -> dict[str, Any]:
    """A helm record Secret as the API returns it: data.release is base64 of base64 of gzip of JSON."""
    release = {"name": "prom-stack", "version": revision, "manifest": yaml.safe_dump_all(docs)}
    stored = base64.b64encode(gzip.compress(json.dumps(release).encode()))
    return {
        "metadata": {"name": f"sh.helm.release.v1.prom-stack.v{revision}", "labels": {"version": str(revision)}},
        "data": {"release": base64.b64encode(stored).decode()},
    }


def _doc(kind: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, **fields}


def test_release_report_names_each_object_and_never_a_value() -> None:
    v1 = [_record(1, _doc("Secret", "am-config", data={"alertmanager.yaml": "c2VjcmV0LW9uZQ=="}),
                  _doc("ConfigMap", "rules", data={"a": "1"}), _doc("Service", "old"))]  # fmt: skip
    v2 = [*v1, _record(2, _doc("Secret", "am-config", data={"alertmanager.yaml": "c2VjcmV0LXR3bw=="}),
                       _doc("ConfigMap", "rules", data={"a": "1"}), _doc("Service", "new", metadata={"name": "new", "namespace": "other"}))]  # fmt: skip
    before, after = release_changes.latest(v1), release_changes.latest(v2)
    assert before is not None and after is not None and (before.revision, after.revision) == (1, 2)
    lines = release_changes.report(before, after, NS)
    assert lines == [
        f"Secret {NS}/am-config: changed (data.alertmanager.yaml)",
        f"ConfigMap {NS}/rules: unchanged",
        "Service other/new: created",
        f"Service {NS}/old: removed",
    ]
    assert not any("c2Vj" in line for line in lines)
    assert release_changes.report(None, after, NS) == ["release created (revision 2): 3 objects"]
    assert release_changes.report(after, after, NS) == ["no new revision (helm did not upgrade)"]
    assert release_changes.latest([]) is None
