"""Scrape coverage on the Kubernetes API: every ServiceMonitor finds its Services' ports, and every
Service that exposes a metrics port is scraped by some ServiceMonitor: through it, or through its
twin (a Service with the same pod selector and target port, as a chart's headless copy of a Service
is; scraping both would scrape each pod twice, under two jobs).

The objects are read with one paged list call per kind across the cluster (never one call per
object), and matched as prometheus-operator does: a ServiceMonitor's ``namespaceSelector``
(``any``, ``matchNames``, else its own namespace), its label ``selector`` (``matchLabels`` and
``matchExpressions``; empty selects every Service), and each endpoint's ``port`` (a Service
port's name) or ``targetPort``. The monitored namespaces are the stack's (``NAMESPACE``) and the
apps' (``APP_NAMESPACES``).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from obs_conformance.clients.kubernetes import KubernetesClient
from obs_conformance.envconf import Environment

pytestmark = [pytest.mark.k8s]

SERVICE_MONITORS = "/apis/monitoring.coreos.com/v1/servicemonitors"
SERVICES = "/api/v1/services"
# a metrics port by the charts' names: http-metrics, https-metrics, tempo-prom-metrics, metrics; the
# OpenTelemetry operator names its collectors' own telemetry port "monitoring"
METRICS_PORT = re.compile(r"(^|-)metrics(-|$)|^monitoring$")


def monitored_namespaces(env: Environment) -> list[str]:
    return [env.text("NAMESPACE"), *env.app_namespaces]


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes LabelSelector against an object's labels (an empty selector matches everything)."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _name(obj: dict[str, Any]) -> str:
    return f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


def selected_services(monitor: dict[str, Any], services: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Services a ServiceMonitor selects, by its namespaceSelector and label selector."""
    spec = monitor.get("spec", {})
    namespaces = spec.get("namespaceSelector") or {}
    own = [monitor["metadata"]["namespace"]]
    allowed = None if namespaces.get("any") else set(namespaces.get("matchNames") or own)
    return [
        service
        for service in services
        if (allowed is None or service["metadata"]["namespace"] in allowed)
        and selector_matches(spec.get("selector") or {}, service["metadata"].get("labels") or {})
    ]


def endpoint_port(endpoint: dict[str, Any]) -> str:
    return str(endpoint.get("port") or endpoint.get("targetPort") or "")


def serves_endpoint(service: dict[str, Any], endpoint: dict[str, Any]) -> bool:
    """Whether the Service has the port the endpoint names (``port``: its name; ``targetPort``: its target)."""
    ports = service.get("spec", {}).get("ports") or []
    if endpoint.get("port"):
        return any(p.get("name") == endpoint["port"] for p in ports)
    target = str(endpoint.get("targetPort", ""))
    return any(str(p.get("targetPort", p.get("port"))) == target for p in ports)


def monitor_problems(monitor: dict[str, Any], services: list[dict[str, Any]]) -> list[str]:
    """What a ServiceMonitor fails to find: no Service at all, or none with an endpoint's port."""
    spec = monitor.get("spec", {})
    selected = selected_services(monitor, services)
    where = f"selector {spec.get('selector') or {}}, namespaceSelector {spec.get('namespaceSelector') or {}}"
    if not selected:
        return [f"ServiceMonitor {_name(monitor)}: selects no Service ({where})"]
    problems = []
    for endpoint in spec.get("endpoints") or []:
        if not any(serves_endpoint(service, endpoint) for service in selected):
            offered = sorted({str(p.get("name", p.get("port"))) for s in selected for p in s["spec"].get("ports", [])})
            problems.append(
                f"ServiceMonitor {_name(monitor)}: no selected Service "
                f"({', '.join(_name(s) for s in selected)}) has port {endpoint_port(endpoint)!r} "
                f"(their ports: {offered}; {where})"
            )
    return problems


def metrics_ports(service: dict[str, Any]) -> list[str]:
    return [
        str(p["name"]) for p in service.get("spec", {}).get("ports") or [] if METRICS_PORT.search(p.get("name", ""))
    ]


def covered(service: dict[str, Any], port: str, monitors: list[dict[str, Any]]) -> bool:
    """Whether some ServiceMonitor selects the Service with an endpoint on ``port``."""
    spec = next(p for p in service["spec"]["ports"] if p.get("name") == port)
    target = str(spec.get("targetPort", spec.get("port")))

    def on_port(endpoint: dict[str, Any]) -> bool:
        if endpoint.get("port"):
            return bool(endpoint["port"] == port)
        return str(endpoint.get("targetPort", "")) in (target, port)

    return any(
        any(on_port(e) for e in monitor.get("spec", {}).get("endpoints") or [])
        and selected_services(monitor, [service])
        for monitor in monitors
    )


def twin_port(service: dict[str, Any], port: str, other: dict[str, Any]) -> str | None:
    """The port of ``other`` that reaches the same pods' same port as ``service``'s ``port``: the same
    namespace and pod selector (a chart's headless copy of a Service), the same target port."""
    if other is service or other["metadata"].get("namespace") != service["metadata"].get("namespace"):
        return None
    selector = service.get("spec", {}).get("selector")
    if not selector or other.get("spec", {}).get("selector") != selector:
        return None
    spec = next(p for p in service["spec"]["ports"] if p.get("name") == port)
    target = str(spec.get("targetPort", spec.get("port")))
    return next(
        (str(p["name"]) for p in other["spec"].get("ports") or [] if str(p.get("targetPort", p.get("port"))) == target),
        None,
    )


def scraped_through(
    service: dict[str, Any], port: str, services: list[dict[str, Any]], monitors: list[dict[str, Any]]
) -> bool:
    """Whether the pods' port behind ``service``'s ``port`` is scraped: through it, or through a twin
    Service (scraping both would scrape each pod twice, as two jobs)."""
    if covered(service, port, monitors):
        return True
    for other in services:
        name = twin_port(service, port, other)
        if name is not None and covered(other, name, monitors):
            return True
    return False


@pytest.fixture(scope="module")
def scrape_objects(kube: KubernetesClient) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every ServiceMonitor and every Service of the cluster: one paged list call per kind."""
    return kube.list_all(SERVICE_MONITORS), kube.list_all(SERVICES)


def test_every_service_monitor_selects_a_service_with_its_port(
    env: Environment, scrape_objects: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    monitors, services = scrape_objects
    namespaces = monitored_namespaces(env)
    mine = [m for m in monitors if m["metadata"]["namespace"] in namespaces]
    assert mine, f"Kubernetes API: no ServiceMonitor in {namespaces} (GET {SERVICE_MONITORS})"
    problems = [problem for monitor in mine for problem in monitor_problems(monitor, services)]
    assert not problems, (
        f"Kubernetes API: ServiceMonitors that scrape nothing (GET {SERVICE_MONITORS}, {SERVICES}):\n  "
        + "\n  ".join(problems)
    )


def test_every_metrics_service_is_scraped_by_a_service_monitor(
    env: Environment, scrape_objects: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    monitors, services = scrape_objects
    namespaces = monitored_namespaces(env)
    exposing = [s for s in services if s["metadata"]["namespace"] in namespaces and metrics_ports(s)]
    uncovered = [
        f"Service {_name(service)} port {port!r}"
        for service in exposing
        for port in metrics_ports(service)
        if not scraped_through(service, port, services, monitors)
    ]
    assert not uncovered, (
        f"Kubernetes API: metrics ports in {namespaces} no ServiceMonitor scrapes "
        f"(GET {SERVICES}, {SERVICE_MONITORS}):\n  " + "\n  ".join(uncovered)
    )
