"""Which metric sources each target has: a rule over a source its target lacks is skipped there, with the reason.

The rule-coverage check (suites/test_rule_coverage.py) fails on an alert rule whose selector matches
no series, unless the selector reads a source declared absent for the env's target below. A source
is known by the ``job`` its scrape gives its series (kube-prometheus-stack's names) and, for rules
that name no job, by the metric-name prefixes only it exports.
"""

from __future__ import annotations

from dataclasses import dataclass

from obs_conformance.envconf.schema import TARGETS


@dataclass(frozen=True)
class MetricSource:
    """A producer of series: the jobs its targets are scraped as, the metric-name prefixes only it exports."""

    name: str
    jobs: tuple[str, ...]
    prefixes: tuple[str, ...] = ()

    def reads(self, metric: str, job: str | None) -> bool:
        """Whether a selector on ``metric`` (with ``job`` when it requires one) reads this source."""
        if job is not None:
            return job in self.jobs
        return metric.startswith(self.prefixes) if self.prefixes else False


SOURCES = (
    MetricSource("kube-state-metrics", ("kube-state-metrics",), ("kube_",)),
    MetricSource("kubelet", ("kubelet",), ("kubelet_", "container_", "machine_", "storage_operation_")),
    MetricSource("kube-apiserver", ("apiserver",), ("apiserver_", "aggregator_")),
    MetricSource("kube-controller-manager", ("kube-controller-manager",)),
    MetricSource("kube-scheduler", ("kube-scheduler",), ("scheduler_",)),
    MetricSource("kube-proxy", ("kube-proxy",), ("kubeproxy_",)),
    MetricSource("coredns", ("coredns", "kube-dns"), ("coredns_",)),
    MetricSource("etcd", ("kube-etcd",), ("etcd_",)),
)

_NO_KUBERNETES = "the local stack's Prometheus scrapes processes on loopback: no Kubernetes component exports to it"
_KWOK = (
    "the kwok target is checked through the local stack's Prometheus (its pods never run): "
    "no Kubernetes component exports to it"
)

# target -> {source name: why the target has none}; a target absent here lacks nothing
ABSENT_SOURCES: dict[str, dict[str, str]] = {
    "local": dict.fromkeys((source.name for source in SOURCES), _NO_KUBERNETES),
    "kwok": dict.fromkeys((source.name for source in SOURCES), _KWOK),
    "kind": {},
    "scaleway": dict.fromkeys(
        ("kube-controller-manager", "kube-scheduler", "etcd"),
        "a managed control plane (Scaleway Kapsule): its components are not scraped from the cluster",
    ),
}


def source_of(metric: str, job: str | None) -> MetricSource | None:
    """The declared source a selector reads, or None when it is none of them (then it must match)."""
    return next((source for source in SOURCES if source.reads(metric, job)), None)


def absent_sources(target: str) -> dict[str, str]:
    """The sources ``target`` lacks, each with its reason."""
    if target not in TARGETS:
        raise KeyError(f"unknown target {target!r} (known: {', '.join(TARGETS)})")
    return dict(ABSENT_SOURCES.get(target, {}))
