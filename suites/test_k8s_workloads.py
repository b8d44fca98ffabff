"""Workloads and operator resources: pods Ready with the env's resources, the collector and
instrumentation resources in place, ServiceMonitors selectable by prom-stack's Prometheus."""

from __future__ import annotations

from typing import Any

import pytest

from obs_conformance.clients.kubernetes import KubernetesClient, SharedLists
from obs_conformance.envconf import Environment
from obs_conformance.envconf.stack_facts import WORKLOADS
from obs_conformance.envconf.values import k8s_quantity_value
from obs_conformance.fixtures.options import env_of

pytestmark = [pytest.mark.k8s]

REQUIRED_PROCESSORS = ("memory_limiter", "resource", "batch")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One check per namespace of the env's APP_NAMESPACES."""
    if "app_namespace" in metafunc.fixturenames:
        metafunc.parametrize("app_namespace", env_of(metafunc.config).app_namespaces)


def normalized(resources: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Kubernetes stores quantities in canonical form (1.9Gi -> 2040109465600m): compare values."""
    return {
        kind: {name: k8s_quantity_value(str(v)) for name, v in values.items()} for kind, values in resources.items()
    }


def _pods(env: Environment, lists: SharedLists) -> list[dict[str, Any]]:
    """The stack namespace's pods: one list, shared by the checks of this file."""
    return lists.items(f"/api/v1/namespaces/{env.text('NAMESPACE')}/pods")


def test_every_pod_ready_and_not_restarting(env: Environment, kube_lists: SharedLists) -> None:
    pods = _pods(env, kube_lists)
    assert pods, f"Kubernetes: no pods in namespace {env.text('NAMESPACE')}"
    problems = []
    for pod in pods:
        name = pod["metadata"]["name"]
        ready = next((c["status"] for c in pod["status"].get("conditions", []) if c["type"] == "Ready"), "missing")
        for container in pod["status"].get("containerStatuses", []):
            waiting = container.get("state", {}).get("waiting", {}).get("reason")
            if waiting:
                problems.append(f"{name}/{container['name']}: waiting ({waiting}), expected running")
            if container.get("restartCount", 0) > env.integer("POD_RESTARTS_MAX"):
                problems.append(
                    f"{name}/{container['name']}: {container['restartCount']} restarts, "
                    f"expected at most {env.integer('POD_RESTARTS_MAX')}"
                )
        if ready != "True" and pod["status"].get("phase") != "Succeeded":
            problems.append(f"{name}: Ready={ready}, expected True (phase {pod['status'].get('phase')})")
    assert not problems, "Kubernetes pods not healthy:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("component", sorted(WORKLOADS))
def test_resources_equal_the_env(env: Environment, kube_lists: SharedLists, component: str) -> None:
    prefix, container_name = WORKLOADS[component]
    pods = [p for p in _pods(env, kube_lists) if p["metadata"]["name"].startswith(prefix)]
    assert pods, f"{component}: no pod named {prefix}* in {env.text('NAMESPACE')}"
    expected = {
        "requests": {
            "cpu": env.text(f"{component}_CPU_REQUEST"),
            "memory": str(env.quantity(f"{component}_MEMORY_REQUEST")),
        },
        "limits": {"cpu": env.text(f"{component}_CPU_LIMIT"), "memory": str(env.quantity(f"{component}_MEMORY_LIMIT"))},
    }
    for pod in pods:
        container = next((c for c in pod["spec"]["containers"] if c["name"] == container_name), None)
        assert container is not None, f"{component}: pod {pod['metadata']['name']} has no container {container_name}"
        actual = container.get("resources", {})
        assert normalized(actual) == normalized(expected), (
            f"{component}: {pod['metadata']['name']}/{container_name} resources {actual}, expected {expected}"
        )


def test_collector_resource_exports_to_tempo_and_loki(env: Environment, kube: KubernetesClient) -> None:
    namespace = env.text("NAMESPACE")
    path = f"/apis/opentelemetry.io/v1beta1/namespaces/{namespace}/opentelemetrycollectors/otel-collector"
    collector = kube.get(path)
    assert collector is not None, (
        f"OpenTelemetry operator: OpenTelemetryCollector {namespace}/otel-collector (v1beta1) not found"
    )
    exporters = collector["spec"]["config"].get("exporters", {})
    endpoints = {name: cfg.get("endpoint") or cfg.get("logs_endpoint") for name, cfg in exporters.items() if cfg}
    assert any(str(e).startswith(f"tempo.{namespace}:4317") for e in endpoints.values()), (
        f"OpenTelemetryCollector {namespace}/otel-collector: exporters {endpoints}, expected one to tempo.{namespace}:4317"
    )
    assert any("loki" in str(e) and str(e).endswith("/otlp/v1/logs") for e in endpoints.values()), (
        f"OpenTelemetryCollector {namespace}/otel-collector: exporters {endpoints}, expected one to Loki's /otlp/v1/logs"
    )
    pipelines = collector["spec"]["config"]["service"]["pipelines"]
    signals = {name.split("/", 1)[0] for name in pipelines}
    assert {"traces", "logs", "metrics"} <= signals, (
        f"OpenTelemetryCollector {namespace}/otel-collector: pipelines {sorted(pipelines)}, expected traces, logs and metrics"
    )
    for name, pipeline in sorted(pipelines.items()):
        processors = pipeline.get("processors") or []
        missing = [p for p in REQUIRED_PROCESSORS if p not in processors]
        assert not missing, (
            f"OpenTelemetryCollector {namespace}/otel-collector: pipeline {name} runs processors {processors}, "
            f"missing {missing} (every pipeline needs {list(REQUIRED_PROCESSORS)})"
        )


def test_instrumentation_for_java_and_python(env: Environment, kube: KubernetesClient) -> None:
    namespace = env.text("NAMESPACE")
    items = kube.items(f"/apis/opentelemetry.io/v1alpha1/namespaces/{namespace}/instrumentations")
    assert items, f"OpenTelemetry operator: no Instrumentation (v1alpha1) in {namespace}"
    spec = items[0]["spec"]
    collector = f"otel-collector-collector.{namespace}"
    assert collector in spec.get("exporter", {}).get("endpoint", ""), (
        f"Instrumentation {items[0]['metadata']['name']}: exporter {spec.get('exporter')}, expected the collector {collector}:4317"
    )
    for language, port in (("java", "4317"), ("python", "4318")):
        env_vars = {e["name"]: e.get("value", "") for e in spec.get(language, {}).get("env", [])}
        endpoint = env_vars.get("OTEL_EXPORTER_OTLP_ENDPOINT", spec.get("exporter", {}).get("endpoint", ""))
        assert endpoint.endswith(f":{port}"), (
            f"Instrumentation {language}: endpoint {endpoint!r}, expected the collector on {port}"
        )


@pytest.mark.parametrize("name", ["otel-collector", "postgres-exporter"])
def test_service_monitor_selected_every_scrape_interval(env: Environment, kube_lists: SharedLists, name: str) -> None:
    namespaces = [env.text("NAMESPACE")]
    found: dict[str, dict[str, Any]] = {}
    for namespace in namespaces:
        for monitor in kube_lists.items(f"/apis/monitoring.coreos.com/v1/namespaces/{namespace}/servicemonitors"):
            if monitor["metadata"]["name"] == name:
                found[namespace] = monitor
    assert found, f"ServiceMonitor {name} not found in {namespaces}"
    for namespace, monitor in found.items():
        labels = monitor["metadata"].get("labels", {})
        assert labels.get("release") == "prom-stack", (
            f"ServiceMonitor {namespace}/{name}: label release={labels.get('release')!r}, expected 'prom-stack' "
            "(prom-stack's Prometheus ignores it otherwise)"
        )
        intervals = [e.get("interval") for e in monitor["spec"]["endpoints"]]
        assert intervals == [str(env.duration("SCRAPE_INTERVAL"))] * len(intervals), (
            f"ServiceMonitor {namespace}/{name}: intervals {intervals}, expected {env.duration('SCRAPE_INTERVAL')}"
        )


def test_app_namespace_service_monitors(kube: KubernetesClient, app_namespace: str) -> None:
    monitors = kube.items(f"/apis/monitoring.coreos.com/v1/namespaces/{app_namespace}/servicemonitors")
    assert monitors, f"ServiceMonitor: none in app namespace {app_namespace}"
    for monitor in monitors:
        labels = monitor["metadata"].get("labels", {})
        assert labels.get("release") == "prom-stack", (
            f"ServiceMonitor {app_namespace}/{monitor['metadata']['name']}: label release={labels.get('release')!r}, expected 'prom-stack'"
        )
