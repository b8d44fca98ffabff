"""Issue 25's cluster values, read from what the pinned charts render (helm template) and from the
OpenTelemetryCollector we apply, with the rules the pinned backends apply to them:

- Loki 3.5.3 indexes exactly the design's labels (its default OTLP index attributes are ignored);
- Tempo's memory ballast leaves room under TEMPO_MEMORY_LIMIT;
- the collector's telemetry reader names the port operator v0.131 serves and scrapes;
- the collector derives namespace and team, on clusters as locally (one template).

Each rule is written as the backend's source says, so the chart's defaults fail it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from obs_conformance.deployer import pins
from obs_conformance.deployer.cluster.operator_config import cluster_config
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.targets.stack.components import render_configs
from obs_conformance.deployer.toolchain.gobuild import collector_manifest
from obs_conformance.envconf import load_environment
from obs_conformance.envconf.stack_facts import LOG_INDEX_LABELS, OPERATOR_COLLECTOR_METRICS_PORT
from obs_conformance.envconf.values import parse_quantity
from tests.cluster_render import CHARTS, CLUSTER_ENVS, ClusterRender, rendered

pytestmark = pytest.mark.slow

# Loki v3.5.3 pkg/loghttp/push/otlp_config.go (GlobalOTLPConfig.RegisterFlags): the resource attributes
# Loki indexes unless limits_config.otlp_config.resource_attributes.ignore_defaults is true.
LOKI_DEFAULT_INDEX_ATTRIBUTES = (
    "service.name", "service.namespace", "service.instance.id", "deployment.environment",
    "deployment.environment.name", "cloud.region", "cloud.availability_zone", "k8s.cluster.name",
    "k8s.namespace.name", "k8s.pod.name", "k8s.container.name", "container.name", "k8s.replicaset.name",
    "k8s.deployment.name", "k8s.statefulset.name", "k8s.daemonset.name", "k8s.cronjob.name", "k8s.job.name",
)  # fmt: skip
# opentelemetry-operator v0.131.0 apis/v1beta1/config.go: defaultServiceHost/defaultServicePort.
OPERATOR_DEFAULT_METRICS_PORT = 8888
MIB = 1024 * 1024


@pytest.fixture(params=CLUSTER_ENVS)
def deploy(request: pytest.FixtureRequest) -> ClusterRender:
    return rendered(request.param)


def loki_index_attributes(config: dict[str, Any]) -> list[str]:
    """The resource attributes Loki 3.5.3 makes index labels (OTLPConfig.ApplyGlobalOTLPConfig)."""
    resource = ((config.get("limits_config") or {}).get("otlp_config") or {}).get("resource_attributes") or {}
    defaults = ((config.get("distributor") or {}).get("otlp_config") or {}).get(
        "default_resource_attributes_as_index_labels", list(LOKI_DEFAULT_INDEX_ATTRIBUTES)
    )
    rules = list(resource.get("attributes_config") or [])
    if not resource.get("ignore_defaults", False) and defaults:
        rules = [{"action": "index_label", "attributes": defaults}, *rules]
    indexed: list[str] = []
    for rule in rules:  # the first rule naming an attribute decides (actionForAttribute)
        for name in rule.get("attributes") or []:
            if rule.get("action") == "index_label" and name not in indexed:
                indexed.append(name)
    return indexed


def test_loki_rule_indexes_pod_attributes_on_the_default_otlp_config() -> None:
    """The rule itself: Loki's default config (and ours before issue 25) indexes k8s.pod.name."""
    before = {"limits_config": {"otlp_config": {"resource_attributes": {"attributes_config": [
        {"action": "index_label", "attributes": list(LOG_INDEX_LABELS)}]}}}}  # fmt: skip
    assert "k8s.pod.name" in loki_index_attributes({}) and "service.instance.id" in loki_index_attributes(before)


def test_loki_indexes_exactly_the_design_labels(deploy: ClusterRender) -> None:
    config = yaml.safe_load(deploy.secret_file("loki-stack", "loki.yaml", "loki-stack"))
    indexed = loki_index_attributes(config)
    extra = sorted(set(indexed) - set(LOG_INDEX_LABELS))
    assert sorted(indexed) == sorted(LOG_INDEX_LABELS), (
        f"{deploy.env.name}: Loki indexes {indexed}; beyond the design's {list(LOG_INDEX_LABELS)}: {extra} "
        "(a stream per pod: set otlp_config.resource_attributes.ignore_defaults)"
    )


def _container(workload: dict[str, Any], name: str) -> dict[str, Any]:
    [container] = [c for c in workload["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return dict(container)


def ballast_mib(args: list[str]) -> int:
    """Tempo's -mem-ballast-size-mbs (its own default: 0, no ballast)."""
    values = [a.split("=", 1)[1] for a in args if a.startswith("-mem-ballast-size-mbs=")]
    return int(values[-1]) if values else 0


def test_tempo_ballast_leaves_room_under_its_memory_limit(deploy: ClusterRender) -> None:
    [tempo] = deploy.find("StatefulSet", "tempo", "tempo")
    container = _container(tempo, "tempo")
    limit = parse_quantity(container["resources"]["limits"]["memory"]).bytes
    ballast = ballast_mib(container.get("args", [])) * MIB
    assert limit == deploy.env.quantity("TEMPO_MEMORY_LIMIT").bytes
    assert ballast <= limit // 4, (
        f"{deploy.env.name}: tempo's ballast {ballast // MIB} MiB against its {limit // MIB} MiB limit "
        "(TEMPO_MEMORY_LIMIT): the heap it reserves leaves the ingester nothing"
    )


def operator_metrics_port(service: dict[str, Any]) -> int:
    """The port operator v0.131 gives the collector's metrics (container port, -monitoring Service):
    ``metrics.address``'s only when no reader is set, else its default (Service.MetricsEndpoint)."""
    metrics = ((service.get("telemetry") or {}).get("metrics")) or {}
    address = str(metrics.get("address") or "")
    if address and not metrics.get("readers"):
        return int(address.rsplit(":", 1)[1])
    return OPERATOR_DEFAULT_METRICS_PORT


def _collector(deploy: ClusterRender) -> dict[str, Any]:
    collector = deploy.one("OpenTelemetryCollector", "otel-collector")
    config: dict[str, Any] = collector["spec"]["config"]
    return config


def test_collector_telemetry_reader_serves_where_the_operator_scrapes(deploy: ClusterRender) -> None:
    service = _collector(deploy)["service"]
    wanted = operator_metrics_port(service)
    readers = service["telemetry"]["metrics"]["readers"]
    served = [r["pull"]["exporter"]["prometheus"]["port"] for r in readers]
    assert served == [wanted], (
        f"{deploy.env.name}: the collector serves its metrics on port(s) {served}; operator v0.131 exposes and "
        f"the -monitoring ServiceMonitor scrapes port {wanted} (readers set: it ignores theirs)"
    )
    assert wanted == OPERATOR_COLLECTOR_METRICS_PORT


def _local_collector(tmp_path: Path) -> dict[str, Any]:
    env = load_environment("local", environ={})
    layout = Layout(tmp_path)
    layout.create()
    hook = layout.secrets / "slack_webhook_url"
    hook.write_text("http://127.0.0.1:1/unused")
    [collector] = [
        c for c in render_configs(env, layout, hook, cluster_config(env, CHARTS)) if c.path.name == "otelcol.yaml"
    ]
    config: dict[str, Any] = yaml.safe_load(collector.text)
    return config


def test_collector_derives_namespace_and_team_on_clusters_as_locally(deploy: ClusterRender, tmp_path: Path) -> None:
    cluster, local = _collector(deploy), _local_collector(tmp_path)
    for signal in ("traces", "logs", "metrics"):
        processors = cluster["service"]["pipelines"][signal]["processors"]
        assert processors == local["service"]["pipelines"][signal]["processors"], (signal, processors)
        assert "transform/design_labels" in processors, (signal, processors)
    transform = cluster["processors"]["transform/design_labels"]
    teams = deploy.env.mapping("TEAM_BY_NAMESPACE")
    for signal in ("trace_statements", "metric_statements", "log_statements"):
        group, *datapoints = transform[signal]
        text = "\n".join(group["statements"])
        assert group["context"] == "resource" and 'attributes["k8s.namespace.name"]' in text, (signal, group)
        for namespace, team in teams.items():
            assert (
                f'set(attributes["team"], "{team}") where attributes["team"] == nil and attributes["namespace"] == "{namespace}"'
                in text
            )
        if signal == "metric_statements":  # the app's namespace on its series, not the collector's
            [datapoint] = datapoints
            assert datapoint["context"] == "datapoint" and datapoint["statements"] == [
                'set(attributes["namespace"], resource.attributes["namespace"]) where attributes["namespace"] == nil '
                'and resource.attributes["namespace"] != nil'
            ], datapoint
        else:
            assert not datapoints, (signal, datapoints)
    manifest = collector_manifest(tmp_path / "out")
    assert f"/processor/transformprocessor {pins.OTELCOL_VERSION}" in manifest, (
        "the local build lacks the transform processor"
    )
