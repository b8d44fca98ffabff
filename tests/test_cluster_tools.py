"""The rendered cluster configs validated by the real tools at the cluster's versions.

- the OpenTelemetryCollector's config: ``otelcol validate`` with the collector the local
  stack builds, at the version the operator runs on clusters (one version everywhere);
- the Alertmanager config kube-prometheus-stack renders: ``amtool check-config`` (0.28.1,
  the chart's Alertmanager);
- every PrometheusRule rendered or applied: ``promtool check rules`` (3.5.0, the chart's Prometheus);
- every custom resource against its CRD's schema from the pinned charts, unknown fields
  rejected (jsonschema over the CRDs' openAPIV3Schema, see tests/crd_schema.py).
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from obs_conformance.deployer import pins
from obs_conformance.deployer.cluster import slack_mock
from obs_conformance.deployer.toolchain import gobuild
from tests.cluster_render import CLUSTER_ENVS, ClusterRender, rendered
from tests.crd_schema import CrdSchemas

pytestmark = pytest.mark.slow

TOOL_TIMEOUT = 60


@pytest.fixture(params=CLUSTER_ENVS)
def deploy(request: pytest.FixtureRequest) -> ClusterRender:
    return rendered(request.param)


def promtool() -> Path:
    return gobuild.build_source_module(pins.PROMTOOL)


def amtool() -> Path:
    return gobuild.go_install(pins.AMTOOL)


def otelcol() -> Path:
    return gobuild.build_collector()


def _run(argv: list[str | Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False)


def test_cluster_collector_config_passes_otelcol_validate(deploy: ClusterRender, tmp_path: Path) -> None:
    collector = deploy.one("OpenTelemetryCollector", "otel-collector", "kubectl")
    config = tmp_path / "collector.yaml"
    config.write_text(yaml.safe_dump(collector["spec"]["config"]))
    done = _run([otelcol(), "validate", "--config", config])
    assert done.returncode == 0, f"otelcol {pins.OTELCOL_VERSION} validate of the cluster config: {done.stderr[-2000:]}"


def test_rendered_alertmanager_config_passes_amtool(deploy: ClusterRender, tmp_path: Path) -> None:
    config = tmp_path / "alertmanager.yaml"
    config.write_text(
        deploy.secret_file("alertmanager-prom-stack-kube-prometheus-alertmanager", "alertmanager.yaml", "prom-stack")
    )
    done = _run([amtool(), "check-config", config])
    assert done.returncode == 0, f"amtool {pins.AMTOOL.version} check-config: {done.stdout}{done.stderr}"
    assert "SUCCESS" in done.stdout


def test_rendered_rules_pass_promtool(deploy: ClusterRender, tmp_path: Path) -> None:
    rules = [(where, doc) for where, doc in deploy.objects() if doc.get("kind") == "PrometheusRule"]
    assert any(doc["metadata"]["name"] == "obs-conformance" for _, doc in rules)
    files = []
    for where, doc in rules:
        path = tmp_path / f"{where}-{doc['metadata']['name']}.yaml"
        path.write_text(yaml.dump({"groups": doc["spec"]["groups"]}, Dumper=yaml.CSafeDumper))
        files.append(path)
    done = _run([promtool(), "check", "rules", *files])
    assert done.returncode == 0, (
        f"promtool {pins.PROMETHEUS_VERSION} check rules: {done.stdout[-3000:]}{done.stderr[-2000:]}"
    )


@functools.cache
def _crds() -> CrdSchemas:
    docs: list[dict[str, Any]] = []
    for name in CLUSTER_ENVS:  # kind's deploy carries cert-manager's CRDs
        docs += [doc for _, doc in rendered(name).objects() if doc.get("kind") == "CustomResourceDefinition"]
    return CrdSchemas(docs)


def test_custom_resources_match_their_crds_with_unknown_fields_rejected(deploy: ClusterRender) -> None:
    schemas = _crds()
    documents = [(where, doc) for where, doc in deploy.objects()]
    documents += [("slack-mock", doc) for doc in yaml.safe_load_all(slack_mock.manifests(deploy.env, "t0ken")) if doc]
    checked = set()
    problems = []
    for where, doc in documents:
        if not schemas.covers(doc):
            continue
        checked.add(doc["kind"])
        problems += [f"{where}: {doc['kind']} {doc['metadata']['name']}: {e}" for e in schemas.errors(doc)]
    assert not problems, "\n".join(problems)
    assert {"OpenTelemetryCollector", "Instrumentation", "ServiceMonitor", "PrometheusRule", "ClusterIssuer",
            "AlertmanagerConfig", "Prometheus", "Alertmanager"} <= checked, checked  # fmt: skip


def test_crd_schema_check_rejects_an_unknown_field(deploy: ClusterRender) -> None:
    """The check above can fail: a misspelt field in the collector CR is caught."""
    schemas = _crds()
    collector = deploy.one("OpenTelemetryCollector", "otel-collector", "kubectl")
    broken = {**collector, "spec": {**collector["spec"], "upgradeStrategey": "automatic"}}
    assert any("upgradeStrategey" in e for e in schemas.errors(broken))
