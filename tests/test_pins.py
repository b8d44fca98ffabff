"""The versions the local stack builds equal what the pinned charts ship to the clusters.

A chart bump that changes Prometheus, Alertmanager, an exporter, an operator or the collector image
without deployer/pins.py following fails here, read straight out of the chart packages
of the offline mirror (``../shared/charts``, or ``$OBSCONF_CHARTS``).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from obs_conformance.deployer import pins
from obs_conformance.deployer.cluster.manifests import render_cluster
from obs_conformance.deployer.engine.layout import REPO_ROOT
from obs_conformance.deployer.toolchain.charts import CHARTS_ENV, ChartSource
from obs_conformance.envconf import load_environment

MIRROR = Path(os.environ.get(CHARTS_ENV) or REPO_ROOT.parent / "shared" / "charts")
CLUSTER_ENVS = ("dev", "kind", "kwok")
OPERATOR_VALUES = "opentelemetry-operator-values.yaml"
SECRETS = {
    "SLACK_WEBHOOK_URL": "https://hooks.example.invalid/services/T0/B0/pins",
    "POSTGRES_EXPORTER_PASSWORD": "pins",
}


def chart_files(package: Path, *names: str) -> list[dict[str, Any]]:
    """YAML files of a packaged chart (``<chart>/<name>`` inside the .tgz), in one pass over it."""
    chart = package.name.rsplit("-", 1)[0]
    with tarfile.open(package) as tgz:
        found = []
        for name in names:
            member = tgz.extractfile(f"{chart}/{name}")
            assert member is not None, f"{package}: no {chart}/{name}"
            found.append(yaml.load(member, Loader=yaml.CSafeLoader))  # libyaml: values.yaml is 180 kB
    return found


def dig(values: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        values = values[key]
    return values


@dataclass(frozen=True)
class Shipped:
    """What the pinned chart packages ship, read out of them."""

    kube_prometheus_stack: dict[str, Any]  # values.yaml
    prometheus_operator: str  # kube-prometheus-stack's appVersion
    opentelemetry_operator: str  # opentelemetry-operator's appVersion
    node_exporter: str  # kube-prometheus-stack's prometheus-node-exporter subchart's appVersion
    postgres_exporter: str  # prometheus-postgres-exporter's appVersion

    @classmethod
    def read(cls, charts: ChartSource) -> Shipped:
        values, chart, node = chart_files(
            charts.package("kube-prometheus-stack"),
            "values.yaml",
            "Chart.yaml",
            "charts/prometheus-node-exporter/Chart.yaml",
        )
        [otel] = chart_files(charts.package("opentelemetry-operator"), "Chart.yaml")
        [postgres] = chart_files(charts.package("prometheus-postgres-exporter"), "Chart.yaml")
        return cls(values, *(str(c["appVersion"]) for c in (chart, otel, node, postgres)))


def drift(shipped: Shipped) -> list[str]:
    """Every pin that differs from what the charts ship, as 'what: the chart ships X, pins say Y'."""
    kps = f"kube-prometheus-stack {pins.CHARTS['kube-prometheus-stack'].version}"
    otel = f"opentelemetry-operator {pins.CHARTS['opentelemetry-operator'].version}"
    postgres = f"prometheus-postgres-exporter {pins.CHARTS['prometheus-postgres-exporter'].version}"
    compared = (
        ("PROMETHEUS_VERSION", kps, dig(shipped.kube_prometheus_stack, "prometheus.prometheusSpec.image.tag"),
         f"v{pins.PROMETHEUS_VERSION}"),
        ("ALERTMANAGER_VERSION", kps, dig(shipped.kube_prometheus_stack, "alertmanager.alertmanagerSpec.image.tag"),
         f"v{pins.ALERTMANAGER_VERSION}"),
        ("PROMETHEUS_OPERATOR_VERSION", kps, shipped.prometheus_operator, pins.PROMETHEUS_OPERATOR_VERSION),
        ("OPENTELEMETRY_OPERATOR_VERSION", otel, shipped.opentelemetry_operator, pins.OPENTELEMETRY_OPERATOR_VERSION),
        ("NODE_EXPORTER_VERSION", kps, shipped.node_exporter, pins.NODE_EXPORTER_VERSION),
        ("POSTGRES_EXPORTER_VERSION", postgres, shipped.postgres_exporter, f"v{pins.POSTGRES_EXPORTER_VERSION}"),
    )  # fmt: skip
    return [
        f"{pin}: {chart} ships {actual}, pins say {pinned}"
        for pin, chart, actual, pinned in compared
        if str(actual) != pinned
    ]


@pytest.fixture(scope="module")
def shipped() -> Shipped:
    if not MIRROR.is_dir():
        pytest.skip(f"no offline chart mirror at {MIRROR} (set {CHARTS_ENV})")
    return Shipped.read(ChartSource.from_option(str(MIRROR)))


def test_pins_equal_what_the_charts_ship(shipped: Shipped) -> None:
    assert drift(shipped) == []


def test_a_chart_bump_without_the_pin_fails(shipped: Shipped) -> None:
    values = copy.deepcopy(shipped.kube_prometheus_stack)
    values["prometheus"]["prometheusSpec"]["image"]["tag"] = "v3.6.0"
    bumped = dataclasses.replace(shipped, kube_prometheus_stack=values, opentelemetry_operator="0.132.0")
    assert drift(bumped) == [
        f"PROMETHEUS_VERSION: kube-prometheus-stack 75.15.1 ships v3.6.0, pins say v{pins.PROMETHEUS_VERSION}",
        f"OPENTELEMETRY_OPERATOR_VERSION: opentelemetry-operator 0.93.0 ships 0.132.0, "
        f"pins say {pins.OPENTELEMETRY_OPERATOR_VERSION}",
    ]


def test_prometheus_module_version_is_the_release() -> None:
    """Prometheus 3.x.y is the Go module v0.3xx.y (its VERSION file): 3.5.0 = v0.305.0."""
    major, minor, patch = (int(part) for part in pins.PROMETHEUS_VERSION.split("."))
    assert pins.PROMETHEUS.version == f"v0.{major * 100 + minor}.{patch}"
    assert pins.PROMTOOL.version == pins.PROMETHEUS.version
    assert pins.PROMETHEUS.stamp == pins.PROMTOOL.stamp == pins.PROMETHEUS_VERSION
    assert pins.ALERTMANAGER.version == pins.AMTOOL.version == f"v{pins.ALERTMANAGER_VERSION}"


@pytest.mark.parametrize("env_name", CLUSTER_ENVS)
def test_cluster_collectors_run_the_locally_built_version(env_name: str, tmp_path: Path) -> None:
    """One collector version: the operator's collector image is the version the local stack builds."""
    env = load_environment(env_name, environ=SECRETS)
    files = render_cluster(env, tmp_path).files
    image = dig(yaml.safe_load(files[OPERATOR_VALUES]), "manager.collectorImage")
    assert (image["repository"], str(image["tag"])) == (pins.COLLECTOR_IMAGE, pins.OTELCOL_VERSION.lstrip("v")), (
        f"{env_name}: {OPERATOR_VALUES} runs collectors from {image}, the local stack builds {pins.OTELCOL_VERSION}"
    )
