"""Which metric sources each target has: a rule over a source its target lacks is skipped there, with the reason.

The rule-coverage check (suites/test_rule_coverage.py) fails on an alert rule whose selector matches
no series, unless the selector reads a source declared absent for the env's target below, or one
whose series exist only where some hardware or configuration does (``CONDITIONAL``). A source is
known by the ``job`` its scrape gives its series (kube-prometheus-stack's names: an equality or a
regex matcher that selects one of them), and by the metric names only it exports (prefixes, and
exact names shared by several components: ``kubernetes_build_info``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from obs_conformance.envconf.schema import TARGETS

# a selector's job matchers: (operator, value), PromQL's =, !=, =~, !~
JobMatchers = Iterable[tuple[str, str]]


def admits(op: str, value: str, actual: str) -> bool:
    """Whether the PromQL matcher ``op value`` accepts the label value ``actual`` (regexes anchored)."""
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    found = re.fullmatch(value, actual) is not None
    return found if op == "=~" else not found


@dataclass(frozen=True)
class MetricSource:
    """A producer of series: the jobs its targets are scraped as, the metric names it exports.

    ``prefixes`` are name prefixes only it exports, ``metrics`` exact names it exports (with others).
    A source without jobs (a sidecar scraped under its pod's job, a collector of node-exporter) is
    known by its names alone.
    """

    name: str
    jobs: tuple[str, ...]
    prefixes: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()

    def exports(self, metric: str) -> bool:
        return (bool(self.prefixes) and metric.startswith(self.prefixes)) or metric in self.metrics

    def reads(self, metric: str, job_matchers: JobMatchers = ()) -> bool:
        """Whether a selector on ``metric`` with these ``job`` matchers reads this source: a job
        matcher that selects (=, =~) one of its jobs, or a name it exports with no job matcher
        excluding all of its jobs."""
        matchers = list(job_matchers)
        if self.jobs and matchers:
            admitted = [j for j in self.jobs if all(admits(op, value, j) for op, value in matchers)]
            if not admitted:
                return False
            if any(op in ("=", "=~") for op, _ in matchers):
                return True
        return self.exports(metric)

    @property
    def presence(self) -> str:
        """A selector that matches whenever Prometheus scrapes this source: its jobs' ``up``, else its names."""
        if self.jobs:
            return "up{job=~" + json.dumps("|".join(re.escape(j) for j in self.jobs)) + "}"
        names = [re.escape(p) + ".*" for p in self.prefixes] + [re.escape(m) for m in self.metrics]
        return "{__name__=~" + json.dumps("|".join(names)) + "}"


# every Kubernetes component exports its build: kubernetes_build_info, told apart by job only
_BUILD = ("kubernetes_build_info",)
OPERATOR_JOB = "prom-stack-kube-prometheus-operator"

SOURCES = (
    MetricSource("kube-state-metrics", ("kube-state-metrics",), ("kube_",)),
    MetricSource("kubelet", ("kubelet",), ("kubelet_", "container_", "machine_", "storage_operation_"), _BUILD),
    MetricSource("kube-apiserver", ("apiserver",), ("apiserver_", "aggregator_"), _BUILD),
    MetricSource("kube-controller-manager", ("kube-controller-manager",), (), _BUILD),
    MetricSource("kube-scheduler", ("kube-scheduler",), ("scheduler_",), _BUILD),
    MetricSource("kube-proxy", ("kube-proxy",), ("kubeproxy_",), _BUILD),
    MetricSource("coredns", ("coredns", "kube-dns"), ("coredns_",)),
    MetricSource("etcd", ("kube-etcd",), ("etcd_",)),
    MetricSource("prometheus-operator", (OPERATOR_JOB,), ("prometheus_operator_",)),
    # prometheus-config-reloader, a sidecar of the operator's Prometheus and Alertmanager pods
    MetricSource("config-reloader", (), ("reloader_",)),
)
KUBERNETES = tuple(s.name for s in SOURCES if s.name not in ("prometheus-operator", "config-reloader"))

_NO_KUBERNETES = "the local stack's Prometheus scrapes processes on loopback: no Kubernetes component exports to it"
_KWOK = (
    "the kwok target is checked through the local stack's Prometheus (its pods never run): "
    "no Kubernetes component exports to it"
)
_NO_OPERATOR = "the local stack runs Prometheus and Alertmanager as processes: no prometheus-operator manages them"
_NO_RELOADER = (
    "the local stack runs Prometheus and Alertmanager as processes, without the operator's config-reloader sidecar"
)
_KWOK_OPERATOR = (
    "the kwok target runs prometheus-operator as a process on loopback that the local stack's Prometheus "
    "does not scrape (deployer/targets/kwok/operators.py)"
)
_KWOK_RELOADER = "the kwok target's Prometheus and Alertmanager pods never run: no config-reloader sidecar exports"

# target -> {source name: why the target has none}; a target absent here lacks nothing
ABSENT_SOURCES: dict[str, dict[str, str]] = {
    "local": {
        **dict.fromkeys(KUBERNETES, _NO_KUBERNETES),
        "prometheus-operator": _NO_OPERATOR,
        "config-reloader": _NO_RELOADER,
    },
    "kwok": {
        **dict.fromkeys(KUBERNETES, _KWOK),
        "prometheus-operator": _KWOK_OPERATOR,
        "config-reloader": _KWOK_RELOADER,
    },
    "kind": {},
    "scaleway": dict.fromkeys(
        ("kube-controller-manager", "kube-scheduler", "etcd"),
        "a managed control plane (Scaleway Kapsule): its components are not scraped from the cluster",
    ),
}


@dataclass(frozen=True)
class Conditional:
    """Series that exist only where some hardware or configuration does: on ``targets``, for ``reason``."""

    source: MetricSource
    reason: str
    targets: tuple[str, ...]


_ANY = tuple(TARGETS)
# the targets checked through the local stack's Prometheus, which scrapes static configs only
_STATIC = ("local", "kwok")

CONDITIONAL = (
    Conditional(
        MetricSource("node-exporter bonding", (), ("node_bonding_",)),
        "node-exporter exports node_bonding_* only on a host with bonded network interfaces",
        _ANY,
    ),
    Conditional(
        MetricSource("node-exporter md (software RAID)", (), ("node_md_",)),
        "node-exporter exports node_md_* only on a host with Linux software RAID (md) devices",
        _ANY,
    ),
    Conditional(
        MetricSource("node-exporter systemd", (), ("node_systemd_",)),
        "node-exporter's systemd collector is off by default, and neither the chart's node-exporter "
        "(prometheus-node-exporter extraArgs) nor the local stack's turns it on",
        _ANY,
    ),
    Conditional(
        MetricSource("Alertmanager clustering", (), ("alertmanager_cluster_",)),
        "Alertmanager exports its cluster's members only with clustering on: the local one runs with "
        "--cluster.listen-address= (deployer/targets/stack/components.py), the chart's with 1 replica, "
        "for which prometheus-operator turns cluster mode off (forceEnableClusterMode: false)",
        _ANY,
    ),
    Conditional(
        MetricSource("Prometheus service discovery", (), ("prometheus_sd_refresh_",)),
        "Prometheus exports refresh metrics only for a service discovery mechanism: "
        "the local stack's Prometheus scrapes static configs",
        _STATIC,
    ),
    Conditional(
        MetricSource("Prometheus remote write", (), ("prometheus_remote_storage_",)),
        "the design configures no remote write from Prometheus on any target (Tempo writes into it): "
        "no queue exports prometheus_remote_storage_* per-queue series",
        _ANY,
    ),
)


def sources_of(metric: str, job_matchers: JobMatchers = ()) -> tuple[MetricSource, ...]:
    """The declared sources (absent-able and conditional) a selector reads; none means it must match."""
    matchers = list(job_matchers)
    candidates = [*SOURCES, *(c.source for c in CONDITIONAL)]
    return tuple(source for source in candidates if source.reads(metric, matchers))


def source_of(metric: str, job: str | None) -> MetricSource | None:
    """The first declared source a selector on ``metric`` (requiring ``job`` when given) reads, or None."""
    found = sources_of(metric, [("=", job)] if job is not None else [])
    return found[0] if found else None


def absent_sources(target: str) -> dict[str, str]:
    """The sources ``target`` lacks, each with its reason."""
    if target not in TARGETS:
        raise KeyError(f"unknown target {target!r} (known: {', '.join(TARGETS)})")
    return dict(ABSENT_SOURCES.get(target, {}))


def conditional_sources(target: str) -> dict[str, str]:
    """The sources whose series ``target`` may well not have, each with the condition they need."""
    if target not in TARGETS:
        raise KeyError(f"unknown target {target!r} (known: {', '.join(TARGETS)})")
    return {c.source.name: c.reason for c in CONDITIONAL if target in c.targets}
