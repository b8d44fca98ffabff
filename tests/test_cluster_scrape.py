"""ServiceMonitors against the Services the charts render: what Prometheus would scrape, and as which job.

Prometheus (operator v0.83) selects ServiceMonitors by the Prometheus CR's
``serviceMonitorSelector``; each monitor selects Services by labels in its namespaces;
each endpoint names a Service port; the target's ``job`` is the Service's ``jobLabel``
label if the monitor names one, else the Service's name.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from obs_conformance.deployer.toolchain.kube_build import kubectl
from obs_conformance.envconf import load_environment
from obs_conformance.suites.test_k8s_scrape_coverage import (
    metrics_ports,
    monitor_problems,
    monitored_namespaces,
    scraped_through,
)
from tests.cluster_render import CLUSTER_ENVS, ClusterRender, rendered

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Target:
    monitor: str
    namespace: str
    service: str
    port: str
    job: str
    pods: frozenset[tuple[str, str]]  # the Service's pod selector
    target_port: str


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector:
        return True
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if not {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]:
            return False
    return True


def collector_services(collector: dict[str, Any]) -> list[dict[str, Any]]:
    """The Services the OpenTelemetry operator v0.131.0 makes for a collector (not a chart's: modelled).

    From its internal/manifests/collector/service.go: base, headless and monitoring, all
    with the collector's labels and the component label; the base and headless ones carry
    the receivers' ports and spec.ports, the monitoring one port ``monitoring`` 8888;
    ``operator.opentelemetry.io/collector-service-type`` tells them apart. Checked against
    the Services the real operator makes on the kwok target when one runs (the test below).
    """
    name, namespace = collector["metadata"]["name"], collector["metadata"]["namespace"]
    selector = {
        "app.kubernetes.io/managed-by": "opentelemetry-operator",
        "app.kubernetes.io/instance": f"{namespace}.{name}",
        "app.kubernetes.io/part-of": "opentelemetry",
        "app.kubernetes.io/component": "opentelemetry-collector",
    }
    receivers = collector["spec"]["config"]["receivers"]["otlp"]["protocols"]
    ports = [{"name": p["name"], "port": p["port"]} for p in collector["spec"].get("ports", [])]
    ports += [
        {"name": f"otlp-{proto}", "port": int(cfg["endpoint"].rsplit(":", 1)[1])} for proto, cfg in receivers.items()
    ]

    def service(suffix: str, kind: str, service_ports: list[dict[str, Any]], extra: dict[str, str]) -> dict[str, Any]:
        full = f"{name}-collector{suffix}"
        # the headless Service is a copy of the base one: it keeps the base one's name label
        named = f"{name}-collector" if kind == "headless" else full
        labels = {**selector, "app.kubernetes.io/name": named, "operator.opentelemetry.io/collector-service-type": kind}
        return {
            "kind": "Service",
            "metadata": {"name": full, "namespace": namespace, "labels": {**labels, **extra}},
            "spec": {"selector": selector, "ports": service_ports},
        }

    return [
        service("", "base", ports, {}),
        service("-headless", "headless", ports, {"operator.opentelemetry.io/collector-headless-service": "Exists"}),
        service("-monitoring", "monitoring", [{"name": "monitoring", "port": 8888}],
                {"operator.opentelemetry.io/collector-monitoring-service": "Exists"}),
    ]  # fmt: skip


def services_and_monitors(deploy: ClusterRender) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The Services the deploy makes (with the operator's collector Services) and the ServiceMonitors
    the Prometheus of prom-stack selects, each with the namespace it lands in."""
    namespace = deploy.env.text("NAMESPACE")

    def placed(release: str, doc: dict[str, Any]) -> dict[str, Any]:
        """The object with the namespace it lands in (a copy: the render is shared by every test)."""
        meta = doc.get("metadata") or {}
        default = deploy.releases[release].namespace if release in deploy.releases else namespace
        return {**doc, "metadata": {"namespace": default, **meta}}

    services = [placed(where, doc) for where, doc in deploy.objects() if doc.get("kind") == "Service"]
    for collector in deploy.find("OpenTelemetryCollector"):
        services += collector_services(collector)
    prometheus = deploy.one("Prometheus", "prom-stack-kube-prometheus-prometheus", "prom-stack")
    monitors = [
        placed(where, doc)
        for where, doc in deploy.objects()
        if doc.get("kind") == "ServiceMonitor"
        and _selects(prometheus["spec"]["serviceMonitorSelector"], doc["metadata"].get("labels", {}))
    ]
    return services, monitors


def scrape_targets(deploy: ClusterRender) -> list[Target]:
    services, monitors = services_and_monitors(deploy)
    targets = []
    for monitor in monitors:
        spec = monitor["spec"]
        names = spec.get("namespaceSelector", {})
        in_namespaces = None if names.get("any") else set(names.get("matchNames") or [monitor["metadata"]["namespace"]])
        for service in services:
            meta = service["metadata"]
            if in_namespaces is not None and meta["namespace"] not in in_namespaces:
                continue
            if not _selects(spec["selector"], meta.get("labels", {})):
                continue
            ports = {p.get("name"): p for p in service["spec"].get("ports", [])}
            job = meta.get("labels", {}).get(spec.get("jobLabel", ""), meta["name"])
            for endpoint in spec["endpoints"]:
                port = ports.get(endpoint.get("port"))
                if port is None:
                    continue
                targets.append(Target(
                    monitor=monitor["metadata"]["name"], namespace=meta["namespace"], service=meta["name"],
                    port=endpoint["port"], job=job,
                    pods=frozenset(service["spec"].get("selector", {}).items()),
                    target_port=str(port.get("targetPort", port["port"])),
                ))  # fmt: skip
    return targets


@pytest.fixture(params=CLUSTER_ENVS)
def deploy(request: pytest.FixtureRequest) -> ClusterRender:
    return rendered(request.param)


# 6. The monitors select the Services the charts (and the operator) make, each pod port once.
def test_service_monitors_select_the_exporter_and_the_collector_once(deploy: ClusterRender) -> None:
    targets = scrape_targets(deploy)
    ours = [t for t in targets if t.monitor in {"otel-collector", "postgres-exporter"}]
    assert {(t.monitor, t.service, t.port) for t in ours} == {
        ("otel-collector", "otel-collector-collector-monitoring", "monitoring"),
        ("otel-collector", "otel-collector-collector", "prometheus"),
        ("postgres-exporter", "postgres-exporter-prometheus-postgres-exporter", "http"),
    }, ours
    scraped = Counter((t.namespace, t.pods, t.target_port) for t in targets if t.pods)
    twice = [(t.monitor, t.service, t.port) for t in targets if scraped[(t.namespace, t.pods, t.target_port)] > 1]
    assert not twice, f"pod ports scraped more than once: {twice}"


# 7. Every job SCRAPE_JOBS expects up is a job some monitor creates (on the clusters whose own
# Prometheus the suites query; kwok's suites read the local stack's Prometheus).
@pytest.mark.parametrize("name", ["dev", "kind"])
def test_every_expected_scrape_job_is_created(name: str) -> None:
    deploy = rendered(name)
    jobs = {t.job for t in scrape_targets(deploy)}
    expected = {j.strip() for j in deploy.env.text("SCRAPE_JOBS").split(",")}
    assert expected <= jobs, (
        f"SCRAPE_JOBS not created by any ServiceMonitor: {sorted(expected - jobs)}; created: {sorted(jobs)}"
    )
    assert deploy.env.text("COLLECTOR_JOB") in jobs


# 8. On the render, what the k8s suite checks on the deployed cluster (suites/test_k8s_scrape_coverage.py):
# every monitor of the stack's and apps' namespaces finds a Service with each endpoint's port, and every
# Service there with a metrics port is scraped (directly or through its twin: loki-stack's headless copy).
# The operator's own metrics (opentelemetry-operator port metrics) are scraped; tempo's monitor names only
# the port its Service has (no jaeger-metrics without tempo-query); where no kubelet runs (kwok) there is
# no kubelet monitor (it would select the kubelet Service the operator keeps, and the kwok one keeps none).
def test_every_monitor_finds_its_port_and_every_metrics_port_is_scraped(deploy: ClusterRender) -> None:
    services, monitors = services_and_monitors(deploy)
    # Services of every cluster, not of the deploy: the API server's; the kubelets' one the operator keeps
    services.append({"kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
                     "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 6443}]}})  # fmt: skip
    has_kubelets = deploy.env.profile.has_kubelet_stats
    if has_kubelets:
        services.append({"kind": "Service", "metadata": {"name": "prom-stack-kube-prometheus-kubelet",
                         "namespace": "kube-system", "labels": {"app.kubernetes.io/name": "kubelet", "k8s-app": "kubelet"}},
                         "spec": {"ports": [{"name": "https-metrics", "port": 10250}, {"name": "http-metrics", "port": 10255},
                                            {"name": "cadvisor", "port": 4194}]}})  # fmt: skip
    namespaces = set(monitored_namespaces(deploy.env))
    # the apps' exporter Services are the apps' (dev), not the deploy's, except where the deployer makes the
    # app namespaces (kind, kwok): no app runs there, and an exporter of the deploy's stands in for each app's
    apps = deploy.env.app_namespaces if deploy.env.profile.app_namespaces else ()
    mine = [m for m in monitors if m["metadata"]["namespace"] in {deploy.env.text("NAMESPACE"), *apps}]
    assert {f"{app}-postgres-exporter" for app in apps} <= {m["metadata"]["name"] for m in mine}
    problems = [problem for monitor in mine for problem in monitor_problems(monitor, services)]
    assert not problems, problems
    uncovered = [
        (s["metadata"]["namespace"], s["metadata"]["name"], port)
        for s in services
        if s["metadata"]["namespace"] in namespaces
        for port in metrics_ports(s)
        if not scraped_through(s, port, services, monitors)
    ]
    assert not uncovered, f"metrics ports no ServiceMonitor scrapes: {uncovered}"
    names = {m["metadata"]["name"] for m in monitors}
    assert "opentelemetry-operator" in names
    assert ("prom-stack-kube-prometheus-kubelet" in names) is has_kubelets, sorted(names)
    tempo = next(m for m in monitors if m["metadata"]["name"] == "tempo-metrics")
    assert [e["port"] for e in tempo["spec"]["endpoints"]] == ["tempo-prom-metrics"]
    assert "tempo" not in names, "the tempo chart's monitor names port jaeger-metrics, which its Service lacks"


def test_collector_services_model_matches_the_operator() -> None:
    """The modelled collector Services against those the real operator (v0.131.0, kwok target) made."""
    env = load_environment("kwok", environ={})
    kubeconfig = env.repo_path("KUBECONFIG_FILE")
    argv = [str(kubectl()), "--kubeconfig", str(kubeconfig), "-n", env.text("NAMESPACE"), "get", "services",
            "-l", "app.kubernetes.io/component=opentelemetry-collector", "-o", "json"]  # fmt: skip
    done = (
        subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False) if kubeconfig.is_file() else None
    )
    real = {s["metadata"]["name"]: s for s in json.loads(done.stdout)["items"]} if done and done.returncode == 0 else {}
    if not real:
        pytest.skip("no collector deployed on a running kwok target: python -m deployer up --env kwok")
    collector = rendered("kwok").one("OpenTelemetryCollector", "otel-collector", "kubectl")
    for model in collector_services(collector):
        name = model["metadata"]["name"]
        assert name in real, f"operator made {sorted(real)}, not {name}"
        labels = real[name]["metadata"]["labels"]
        assert model["metadata"]["labels"].items() <= labels.items(), (name, labels)
        ports = {(p["name"], p["port"]) for p in real[name]["spec"]["ports"]}
        assert ports == {(p["name"], p["port"]) for p in model["spec"]["ports"]}, (name, ports)
        assert real[name]["spec"]["selector"] == model["spec"]["selector"]
