"""Scrape coverage on the Kubernetes API: every ServiceMonitor finds its Services' ports, and every
Service that exposes a metrics port is scraped by some ServiceMonitor: through it, or through its
twin (a Service with the same pod selector and target port, as a chart's headless copy of a Service
is; scraping both would scrape each pod twice, under two jobs).

The objects are read with one paged list call per kind across the cluster (never one call per
object), and matched as prometheus-operator does: a ServiceMonitor's ``namespaceSelector``
(``any``, ``matchNames``, else its own namespace), its label ``selector`` (``matchLabels`` and
``matchExpressions``; empty selects every Service), and each endpoint's ``port`` (a Service
port's name) or ``targetPort``. The Services are indexed once (``ServiceIndex``), so the work grows
with the object count, not with its square (issue 22). The monitored namespaces are the stack's
(``NAMESPACE``) and the apps' (``APP_NAMESPACES``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from itertools import chain
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


def _total_length(lists: list[list[int]]) -> int:
    return sum(len(part) for part in lists)


class ServiceIndex:
    """The Services of one list call, indexed by namespace, by label and by pod selector, so that each
    ServiceMonitor is matched against the few Services that can match it (those with one of its
    selector's labels, or in one of its namespaces: the fewest of these), not against every Service.
    Testing every pair grew with the square of the object count: 1,000 monitors x 1,000 Services took
    2 to 4 s of the 10 s the k8s checks may take at that scale (issue 22). The narrowing never
    decides: each candidate is still tested by the namespace rule and ``selector_matches``."""

    def __init__(self, services: list[dict[str, Any]]) -> None:
        self.services = services
        self.by_namespace: dict[str | None, list[int]] = defaultdict(list)
        self.by_label: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.by_key: dict[str, list[int]] = defaultdict(list)
        self.by_pods: dict[tuple[str | None, str], list[int]] = defaultdict(list)
        for i, service in enumerate(services):
            namespace = service["metadata"].get("namespace")
            self.by_namespace[namespace].append(i)
            for key, value in (service["metadata"].get("labels") or {}).items():
                self.by_label[(key, value)].append(i)
                self.by_key[key].append(i)
            pods = service.get("spec", {}).get("selector")
            if pods:
                self.by_pods[(namespace, repr(sorted(pods.items())))].append(i)

    def _candidates(self, allowed: set[str] | None, selector: dict[str, Any]) -> Iterable[int]:
        """The shortest list of Services that holds every one the monitor can select. Each way to
        narrow is a few index lists, measured before any is read: a namespace holding most Services
        is never copied for each monitor."""
        options: list[list[list[int]]] = []
        if allowed is not None:
            options.append([self.by_namespace.get(namespace, []) for namespace in allowed])
        for key, value in (selector.get("matchLabels") or {}).items():
            if isinstance(value, str):
                options.append([self.by_label.get((key, value), [])])
        for expression in selector.get("matchExpressions") or []:
            values = expression.get("values") or []
            if expression["operator"] == "In" and all(isinstance(v, str) for v in values):
                options.append([self.by_label.get((expression["key"], v), []) for v in set(values)])
            elif expression["operator"] == "Exists":
                options.append([self.by_key.get(expression["key"], [])])
        if not options:
            return range(len(self.services))
        narrowest = min(options, key=_total_length)
        return chain.from_iterable(narrowest)

    def selected(self, monitor: dict[str, Any]) -> list[int]:
        """The positions of the Services a ServiceMonitor selects, by its namespaceSelector and label
        selector, in list order."""
        spec = monitor.get("spec", {})
        namespaces = spec.get("namespaceSelector") or {}
        own = [monitor["metadata"]["namespace"]]
        allowed = None if namespaces.get("any") else set(namespaces.get("matchNames") or own)
        selector = spec.get("selector") or {}
        return sorted(
            i
            for i in self._candidates(allowed, selector)
            if (allowed is None or self.services[i]["metadata"].get("namespace") in allowed)
            and selector_matches(selector, self.services[i]["metadata"].get("labels") or {})
        )

    def monitor_problems(self, monitor: dict[str, Any]) -> list[str]:
        """What a ServiceMonitor fails to find: no Service at all, or none with an endpoint's port."""
        spec = monitor.get("spec", {})
        selected = [self.services[i] for i in self.selected(monitor)]
        where = f"selector {spec.get('selector') or {}}, namespaceSelector {spec.get('namespaceSelector') or {}}"
        if not selected:
            return [f"ServiceMonitor {_name(monitor)}: selects no Service ({where})"]
        problems = []
        for endpoint in spec.get("endpoints") or []:
            if not any(serves_endpoint(service, endpoint) for service in selected):
                offered = sorted(
                    {str(p.get("name", p.get("port"))) for s in selected for p in s["spec"].get("ports", [])}
                )
                problems.append(
                    f"ServiceMonitor {_name(monitor)}: no selected Service "
                    f"({', '.join(_name(s) for s in selected)}) has port {endpoint_port(endpoint)!r} "
                    f"(their ports: {offered}; {where})"
                )
        return problems

    def twins(self, i: int) -> list[int]:
        """The Services that may be ``i``'s twin: the same namespace and pod selector."""
        service = self.services[i]
        pods = service.get("spec", {}).get("selector")
        if not pods:
            return []
        return self.by_pods.get((service["metadata"].get("namespace"), repr(sorted(pods.items()))), [])


def ports_scraped(service: dict[str, Any], endpoints: list[dict[str, Any]]) -> set[str]:
    """The names of the Service's ports some endpoint scrapes (``port``: by name; ``targetPort``: by
    the port's target or name)."""
    scraped: set[str] = set()
    seen: set[str] = set()
    for spec in service.get("spec", {}).get("ports") or []:
        name = spec.get("name")
        if name is None or name in seen:  # the first port of a name is the one a name means
            continue
        seen.add(name)
        target = str(spec.get("targetPort", spec.get("port")))
        for endpoint in endpoints:
            if endpoint.get("port"):
                hit = endpoint["port"] == name
            else:
                hit = str(endpoint.get("targetPort", "")) in (target, name)
            if hit:
                scraped.add(str(name))
                break
    return scraped


class Coverage:
    """Which (Service, port name) pairs some ServiceMonitor scrapes: built in one pass over the monitors
    (each matched through the index), so that asking about every Service's every metrics port costs
    one set lookup each instead of a pass over every monitor. Services are named by their position in
    the indexed list, so two objects that share a name are never confused."""

    def __init__(self, index: ServiceIndex, monitors: list[dict[str, Any]]) -> None:
        self.index = index
        self.scraped: set[tuple[int, str]] = set()
        for monitor in monitors:
            endpoints = monitor.get("spec", {}).get("endpoints") or []
            if endpoints:
                for i in index.selected(monitor):
                    self.scraped.update((i, name) for name in ports_scraped(index.services[i], endpoints))

    def scraped_through(self, i: int, port: str) -> bool:
        """Whether the pods' port behind Service ``i``'s ``port`` is scraped: through it, or through a twin
        Service (scraping both would scrape each pod twice, as two jobs)."""
        if (i, port) in self.scraped:
            return True
        service = self.index.services[i]
        for j in self.index.twins(i):
            name = twin_port(service, port, self.index.services[j])
            if name is not None and (j, name) in self.scraped:
                return True
        return False


def selected_services(monitor: dict[str, Any], services: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Services a ServiceMonitor selects, by its namespaceSelector and label selector."""
    return [services[i] for i in ServiceIndex(services).selected(monitor)]


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
    """What one ServiceMonitor fails to find (for many, index the Services once: ``monitors_problems``)."""
    return ServiceIndex(services).monitor_problems(monitor)


def monitors_problems(monitors: list[dict[str, Any]], services: list[dict[str, Any]]) -> list[str]:
    """What each ServiceMonitor fails to find, the Services indexed once."""
    index = ServiceIndex(services)
    return [problem for monitor in monitors for problem in index.monitor_problems(monitor)]


def metrics_ports(service: dict[str, Any]) -> list[str]:
    return [
        str(p["name"]) for p in service.get("spec", {}).get("ports") or [] if METRICS_PORT.search(p.get("name", ""))
    ]


def covered(service: dict[str, Any], port: str, monitors: list[dict[str, Any]]) -> bool:
    """Whether some ServiceMonitor selects the Service with an endpoint on ``port``."""
    return (0, port) in Coverage(ServiceIndex([service]), monitors).scraped


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
    """Whether the pods' port behind ``service``'s ``port`` is scraped, through it or a twin among
    ``services`` (for many, build one ``Coverage``: ``unscraped_ports``)."""
    return Coverage(ServiceIndex([service, *services]), monitors).scraped_through(0, port)


def unscraped_ports(
    services: list[dict[str, Any]], monitors: list[dict[str, Any]], namespaces: list[str]
) -> list[tuple[dict[str, Any], str]]:
    """The metrics ports of the Services in ``namespaces`` that no ServiceMonitor scrapes, directly or
    through a twin; the Services indexed and the monitors matched once."""
    coverage = Coverage(ServiceIndex(services), monitors)
    return [
        (service, port)
        for i, service in enumerate(services)
        if service["metadata"]["namespace"] in namespaces
        for port in metrics_ports(service)
        if not coverage.scraped_through(i, port)
    ]


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
    problems = monitors_problems(mine, services)
    assert not problems, (
        f"Kubernetes API: ServiceMonitors that scrape nothing (GET {SERVICE_MONITORS}, {SERVICES}):\n  "
        + "\n  ".join(problems)
    )


def test_every_metrics_service_is_scraped_by_a_service_monitor(
    env: Environment, scrape_objects: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    monitors, services = scrape_objects
    namespaces = monitored_namespaces(env)
    uncovered = [
        f"Service {_name(service)} port {port!r}" for service, port in unscraped_ports(services, monitors, namespaces)
    ]
    assert not uncovered, (
        f"Kubernetes API: metrics ports in {namespaces} no ServiceMonitor scrapes "
        f"(GET {SERVICES}, {SERVICE_MONITORS}):\n  " + "\n  ".join(uncovered)
    )
