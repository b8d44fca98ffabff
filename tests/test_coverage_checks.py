"""The coverage checks' own logic: selectors from Prometheus' parse tree, what an ALERTS selector can
match, the per-target declaration of absent metric sources, and ServiceMonitor matching."""

from __future__ import annotations

from typing import Any

import pytest

from obs_conformance.clients.prometheus import Selector, selectors_of
from obs_conformance.envconf.metric_sources import (
    ABSENT_SOURCES,
    CONDITIONAL,
    SOURCES,
    absent_sources,
    conditional_sources,
    source_of,
    sources_of,
)
from obs_conformance.envconf.schema import TARGETS
from obs_conformance.envconf.targets import TARGETS as PROFILES
from suites.test_k8s_scrape_coverage import covered, metrics_ports, monitor_problems, selector_matches
from suites.test_rule_coverage import excused_by, identity_of, names_a_loaded_alert

# GET /api/v1/parse_query?query=sum(rate(foo{job="x"}[5m])) > 0 and absent(bar) unless on() max_over_time(baz:rec[5m:1m])
# as Prometheus 3.5.0 answered it (trimmed of keys the walk does not read)
TREE: dict[str, Any] = {
    "type": "binaryExpr",
    "op": "unless",
    "lhs": {
        "type": "binaryExpr",
        "op": "and",
        "lhs": {
            "type": "binaryExpr",
            "op": ">",
            "lhs": {
                "type": "aggregation",
                "op": "sum",
                "param": None,
                "expr": {
                    "type": "call",
                    "func": {"name": "rate"},
                    "args": [
                        {
                            "type": "matrixSelector",
                            "name": "foo",
                            "matchers": [
                                {"name": "job", "type": "=", "value": "x"},
                                {"name": "__name__", "type": "=", "value": "foo"},
                            ],
                        }
                    ],
                },
            },
            "rhs": {"type": "numberLiteral", "val": "0"},
        },
        "rhs": {
            "type": "call",
            "func": {"name": "absent"},
            "args": [
                {
                    "type": "vectorSelector",
                    "name": "bar",
                    "matchers": [{"name": "__name__", "type": "=", "value": "bar"}],
                }
            ],
        },
    },
    "rhs": {
        "type": "call",
        "func": {"name": "max_over_time"},
        "args": [
            {
                "type": "subquery",
                "expr": {
                    "type": "vectorSelector",
                    "name": "baz:rec",
                    "matchers": [{"name": "__name__", "type": "=", "value": "baz:rec"}],
                },
            }
        ],
    },
}


def test_selectors_of_walks_every_node_and_marks_absence() -> None:
    found = selectors_of(TREE)
    assert [(s.text, s.in_absence) for s in found] == [('foo{job="x"}', False), ("bar", True), ("baz:rec", False)]
    assert found[0].label("job") == "x" and found[0].metric == "foo"


def test_selector_text_quotes_values_as_promql_strings() -> None:
    selector = Selector((("__name__", "=~", "a.*"), ("job", "!=", 'x"y\\z')))
    assert selector.metric == ""
    assert selector.text == '{__name__=~"a.*", job!="x\\"y\\\\z"}'


@pytest.mark.parametrize(
    ("matchers", "matched"),
    [
        ((("__name__", "=", "ALERTS"), ("severity", "=", "info")), True),
        ((("__name__", "=", "ALERTS"), ("alertname", "=", "Renamed")), False),
        (
            (("__name__", "=", "ALERTS"), ("alertname", "!=", "InfoInhibitor"), ("severity", "=~", "warning|critical")),
            True,
        ),
        ((("__name__", "=", "ALERTS"), ("severity", "=~", "warn")), False),  # anchored, as PromQL's
        (
            (("__name__", "=", "ALERTS"), ("alertstate", "=", "firing"), ("namespace", "=", "odoo")),
            True,
        ),  # unset labels
    ],
)
def test_alerts_selector_must_name_a_loaded_alert(matchers: tuple[tuple[str, str, str], ...], matched: bool) -> None:
    alerts = [
        {"name": "NodeCPUHighUsage", "labels": {"severity": "info"}},
        {"name": "TargetDown", "labels": {"severity": "warning"}},
        {"name": "InfoInhibitor", "labels": {"severity": "none"}},
    ]
    assert names_a_loaded_alert(Selector(matchers), alerts) is matched


def test_every_target_declares_the_sources_it_lacks() -> None:
    assert set(ABSENT_SOURCES) == set(TARGETS) == set(PROFILES)
    names = {s.name for s in SOURCES}
    for target in TARGETS:
        assert set(absent_sources(target)) <= names, target
        assert all(absent_sources(target).values()), f"{target}: every declaration says why"
    # a target without kubelet stats in its profile lacks the kubelet source, and the reverse
    for target, profile in PROFILES.items():
        assert ("kubelet" in absent_sources(target)) is not profile.has_kubelet_stats, target
    with pytest.raises(KeyError, match="unknown target"):
        absent_sources("nowhere")


@pytest.mark.parametrize(
    ("metric", "job", "source"),
    [
        ("kube_pod_container_status_waiting_reason", None, "kube-state-metrics"),
        ("kube_pod_info", "kube-state-metrics", "kube-state-metrics"),
        ("kubelet_volume_stats_available_bytes", None, "kubelet"),
        ("container_cpu_usage_seconds_total", "kubelet", "kubelet"),
        ("up", "apiserver", "kube-apiserver"),
        ("node_cpu_seconds_total", "node-exporter", None),  # the local stack runs one: it must match
        ("kube_renamed_metric", "otel-collector", None),  # a job it is not: its selector must match
        ("otelcol_receiver_refused_spans", None, None),
    ],
)
def test_selector_attributed_to_a_source(metric: str, job: str | None, source: str | None) -> None:
    found = source_of(metric, job)
    assert (found.name if found else None) == source


KUBERNETES_BUILD = ["kube-apiserver", "kube-controller-manager", "kube-proxy", "kube-scheduler", "kubelet"]


@pytest.mark.parametrize(
    ("metric", "jobs", "sources"),
    [
        # a job regex that matches a source's job names attributes the selector, whatever its metric
        ("up", [("=~", ".*etcd.*")], ["etcd"]),
        ("grpc_server_handled_total", [("=~", ".*etcd.*")], ["etcd"]),
        ("grpc_server_handling_seconds_bucket", [("=~", "kube-etcd|apiserver")], ["etcd", "kube-apiserver"]),
        ("up", [("=~", "node-exporter|otel-.*")], []),  # anchored, as PromQL's: no source's job
        ("up", [("=~", "etcd")], []),
        # the Kubernetes components' shared metric, told apart by job only
        ("kubernetes_build_info", [("!~", "kube-dns|coredns")], KUBERNETES_BUILD),
        ("kubernetes_build_info", [], KUBERNETES_BUILD),
        ("kubernetes_build_info", [("=", "kubelet")], ["kubelet"]),
        ("kubernetes_build_info", [("!~", "kubelet|apiserver")], KUBERNETES_BUILD[1:4]),
        ("kube_pod_info", [("!=", "kube-state-metrics")], []),  # a negative matcher excluding its only job
        # the operator and its sidecar
        ("prometheus_operator_ready", [("=", "prom-stack-kube-prometheus-operator")], ["prometheus-operator"]),
        ("reloader_last_reload_successful", [], ["config-reloader"]),
        # conditional: known by their names only, whichever job scrapes them
        ("node_md_disks", [("=", "node-exporter")], ["node-exporter md (software RAID)"]),
        ("node_bonding_active", [], ["node-exporter bonding"]),
        ("node_systemd_unit_state", [("=", "node-exporter")], ["node-exporter systemd"]),
        (
            "alertmanager_cluster_members",
            [("=", "prom-stack-kube-prometheus-alertmanager")],
            ["Alertmanager clustering"],
        ),
        ("prometheus_sd_refresh_failures_total", [], ["Prometheus service discovery"]),
        ("prometheus_remote_storage_shards_desired", [], ["Prometheus remote write"]),
        ("node_cpu_seconds_total", [("=", "node-exporter")], []),
        ("alertmanager_notifications_failed_total", [("=", "prom-stack-kube-prometheus-alertmanager")], []),
    ],
)
def test_sources_a_selector_reads(metric: str, jobs: list[tuple[str, str]], sources: list[str]) -> None:
    assert sorted(s.name for s in sources_of(metric, jobs)) == sorted(sources)


@pytest.mark.parametrize(
    ("matchers", "asked"),
    [
        # values that appear only when something is wrong: the metric, job and namespace are asked
        (
            (
                ("integration", "!~", ".*"),
                ("job", "=", "am"),
                ("namespace", "=", "ns"),
                ("__name__", "=", "alertmanager_notifications_failed_total"),
            ),
            'alertmanager_notifications_failed_total{job="am", namespace="ns"}',
        ),
        ((("__name__", "=", "prometheus_operator_syncs"), ("status", "=", "failed")), "prometheus_operator_syncs"),
        # a renamed metric stays asked by its name: still dead
        ((("__name__", "=", "node_cpu_seconds_totals"), ("mode", "=", "idle")), "node_cpu_seconds_totals"),
        ((("__name__", "=", "up"), ("job", "=~", ".*etcd.*")), 'up{job=~".*etcd.*"}'),
        # without a metric name the selector is asked whole (/api/v1/series needs a non-empty matcher)
        ((("__name__", "=~", "node_.*"), ("mode", "=", "idle")), '{__name__=~"node_.*", mode="idle"}'),
        ((("mode", "=", "idle"),), '{mode="idle"}'),
    ],
)
def test_selector_asked_by_its_identity(matchers: tuple[tuple[str, str, str], ...], asked: str) -> None:
    assert identity_of(Selector(matchers)).text == asked


def test_every_conditional_source_says_why_and_where() -> None:
    names = {s.name for s in SOURCES}
    for condition in CONDITIONAL:
        assert condition.source.name not in names and condition.reason and condition.targets
        assert set(condition.targets) <= set(TARGETS), condition.source.name
        assert not condition.source.jobs, f"{condition.source.name}: a condition is known by its metric names"
    for target in TARGETS:
        assert all(conditional_sources(target).values()), target
    # service discovery: only the targets checked through the local stack's Prometheus (static configs)
    sd = "Prometheus service discovery"
    assert [t for t in TARGETS if sd in conditional_sources(t)] == ["local", "kwok"]
    assert "Prometheus remote write" in conditional_sources("scaleway")
    with pytest.raises(KeyError, match="unknown target"):
        conditional_sources("nowhere")


def test_operator_and_reloader_lacked_where_nothing_runs_them() -> None:
    for target in ("local", "kwok"):
        assert {"prometheus-operator", "config-reloader"} <= set(absent_sources(target)), target
    for target in ("kind", "scaleway"):
        assert not {"prometheus-operator", "config-reloader"} & set(absent_sources(target)), target
    presence = {s.name: s.presence for s in SOURCES}
    # PromQL string literals: the regex's backslashes escaped (a bare \- is no PromQL string escape: a 400)
    assert presence["prometheus-operator"] == 'up{job=~"prom\\\\-stack\\\\-kube\\\\-prometheus\\\\-operator"}'
    assert presence["config-reloader"] == '{__name__=~"reloader_.*"}'


@pytest.mark.parametrize(
    ("target", "matchers", "excused"),
    [
        # every component exporting it is lacked on the local stack; scaleway scrapes kubelet and apiserver
        ("local", (("__name__", "=", "kubernetes_build_info"), ("job", "!~", "kube-dns|coredns")), "kube-apiserver"),
        ("scaleway", (("__name__", "=", "kubernetes_build_info"), ("job", "!~", "kube-dns|coredns")), None),
        ("scaleway", (("__name__", "=", "up"), ("job", "=~", ".*etcd.*")), "etcd"),
        ("kind", (("__name__", "=", "up"), ("job", "=~", ".*etcd.*")), None),
        ("local", (("__name__", "=", "prometheus_sd_refresh_failures_total"),), "Prometheus service discovery"),
        ("kind", (("__name__", "=", "prometheus_sd_refresh_failures_total"),), None),
        ("kind", (("__name__", "=", "node_md_disks"), ("state", "=", "failed")), "node-exporter md (software RAID)"),
        ("local", (("__name__", "=", "node_cpu_seconds_totals"), ("mode", "=", "idle")), None),
        # a recorded series: excused when a source behind its recording rules is
        ("local", (("__name__", "=", "apiserver_request:burnrate1h"),), "kube-apiserver"),
        ("kind", (("__name__", "=", "apiserver_request:burnrate1h"),), None),
    ],
)
def test_selector_excused_by_a_source_the_target_lacks(
    target: str, matchers: tuple[tuple[str, str, str], ...], excused: str | None
) -> None:
    unchecked = {*absent_sources(target), *conditional_sources(target)}
    recorded = {"apiserver_request:burnrate1h": {"kube-apiserver"}}
    assert excused_by(Selector(matchers), unchecked, lambda metric: recorded.get(metric, set())) == excused


def service(namespace: str, name: str, labels: dict[str, str], *ports: tuple[str, int]) -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name, "labels": labels},
        "spec": {"ports": [{"name": n, "port": p, "targetPort": p} for n, p in ports]},
    }


def monitor(namespace: str, name: str, selector: dict[str, Any], *ports: str, **spec: Any) -> dict[str, Any]:
    endpoints = [{"port": p} for p in ports]
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"selector": selector, "endpoints": endpoints, **spec},
    }


EXPORTER = service("stack", "exporter", {"app": "exporter", "tier": "db"}, ("http", 9187))
COLLECTOR = service("stack", "collector-monitoring", {"app": "collector"}, ("monitoring", 8888))
NODE = service("stack", "node-exporter", {"app": "node"}, ("http-metrics", 9100))


@pytest.mark.parametrize(
    ("selector", "labels", "matched"),
    [
        ({}, {"a": "1"}, True),
        ({"matchLabels": {"app": "exporter"}}, {"app": "exporter", "x": "y"}, True),
        ({"matchLabels": {"app": "exporter"}}, {"app": "other"}, False),
        ({"matchExpressions": [{"key": "t", "operator": "In", "values": ["base", "monitoring"]}]}, {"t": "base"}, True),
        ({"matchExpressions": [{"key": "t", "operator": "In", "values": ["base"]}]}, {}, False),
        ({"matchExpressions": [{"key": "t", "operator": "NotIn", "values": ["headless"]}]}, {}, True),
        ({"matchExpressions": [{"key": "t", "operator": "Exists"}]}, {"t": ""}, True),
        ({"matchExpressions": [{"key": "t", "operator": "DoesNotExist"}]}, {"t": ""}, False),
    ],
)
def test_label_selector(selector: dict[str, Any], labels: dict[str, str], matched: bool) -> None:
    assert selector_matches(selector, labels) is matched


def test_service_monitor_problems_name_the_monitor_and_what_it_lacks() -> None:
    services = [EXPORTER, COLLECTOR, NODE]
    assert monitor_problems(monitor("stack", "ok", {"matchLabels": {"app": "exporter"}}, "http"), services) == []
    [nothing] = monitor_problems(monitor("stack", "typo", {"matchLabels": {"app": "exporterr"}}, "http"), services)
    assert nothing.startswith("ServiceMonitor stack/typo: selects no Service (selector {'matchLabels'")
    [port] = monitor_problems(monitor("stack", "port", {"matchLabels": {"app": "exporter"}}, "metrics"), services)
    assert "ServiceMonitor stack/port: no selected Service (stack/exporter) has port 'metrics'" in port
    # its own namespace unless told otherwise
    elsewhere = monitor("apps", "other-ns", {"matchLabels": {"app": "exporter"}}, "http")
    assert monitor_problems(elsewhere, services)[0].startswith("ServiceMonitor apps/other-ns: selects no Service")
    assert (
        monitor_problems({**elsewhere, "spec": {**elsewhere["spec"], "namespaceSelector": {"any": True}}}, services)
        == []
    )
    listed = {**elsewhere["spec"], "namespaceSelector": {"matchNames": ["stack"]}}
    assert monitor_problems({**elsewhere, "spec": listed}, services) == []


def test_metrics_services_covered_by_a_monitor_on_that_port() -> None:
    assert metrics_ports(EXPORTER) == [] and metrics_ports(COLLECTOR) == ["monitoring"]
    assert metrics_ports(NODE) == ["http-metrics"]
    monitors = [monitor("stack", "node", {"matchLabels": {"app": "node"}}, "http-metrics")]
    assert covered(NODE, "http-metrics", monitors)
    assert not covered(COLLECTOR, "monitoring", monitors)
    # selected, but scraped on another port only
    assert not covered(NODE, "http-metrics", [monitor("stack", "node", {"matchLabels": {"app": "node"}}, "http")])
