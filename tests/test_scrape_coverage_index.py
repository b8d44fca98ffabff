"""The scrape coverage checks' index (suites/test_k8s_scrape_coverage.py, issue 22): it selects exactly
what testing every (ServiceMonitor, Service) pair selects, and its work grows with the object count,
not with its square. The work is counted (selector tests, twin tests, endpoint tests), not timed, so
that a loaded machine can neither fail nor pass it."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import suites.test_k8s_scrape_coverage as scrape

NAMESPACES = ["stack", "apps-a", "apps-b"]
KEYS, VALUES = ["app", "tier", "x"], ["1", "2", "3"]
PORT_NAMES = ["http-metrics", "metrics", "http", "monitoring"]
OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"]


def random_service(rng: random.Random, i: int) -> dict[str, Any]:
    ports = [
        {"name": name, "port": 9000 + n, "targetPort": rng.choice([9100, 9187, "web", 8080])}
        for n, name in enumerate(rng.sample(PORT_NAMES, rng.randint(0, 3)))
    ]
    spec: dict[str, Any] = {"ports": ports}
    if rng.random() < 0.8:  # a few pod selectors only, so that Services have twins
        spec["selector"] = {"pod": rng.choice(["p", "q"])}
    labels = {key: rng.choice(VALUES) for key in rng.sample(KEYS, rng.randint(0, 3))}
    return {"metadata": {"namespace": rng.choice(NAMESPACES), "name": f"s{i}", "labels": labels}, "spec": spec}


def random_monitor(rng: random.Random, i: int) -> dict[str, Any]:
    selector: dict[str, Any] = {}
    if rng.random() < 0.6:
        selector["matchLabels"] = {key: rng.choice(VALUES) for key in rng.sample(KEYS, rng.randint(0, 2))}
    if rng.random() < 0.6:
        selector["matchExpressions"] = [
            {"key": rng.choice(KEYS), "operator": op, "values": rng.sample(VALUES, rng.randint(1, 2))}
            for op in rng.choices(OPERATORS, k=rng.randint(1, 2))
        ]
    namespaces = rng.choice([{}, {"any": True}, {"matchNames": rng.sample(NAMESPACES, rng.randint(1, 2))}])
    endpoints = [
        {"port": rng.choice(PORT_NAMES)} if rng.random() < 0.7 else {"targetPort": rng.choice([9100, "web", "metrics"])}
        for _ in range(rng.randint(0, 2))
    ]
    spec = {"selector": selector, "namespaceSelector": namespaces, "endpoints": endpoints}
    return {"metadata": {"namespace": rng.choice(NAMESPACES), "name": f"m{i}"}, "spec": spec}


def every_pair_selects(monitor: dict[str, Any], services: list[dict[str, Any]]) -> list[int]:
    """What the check did before the index: every Service tested against the monitor."""
    spec = monitor["spec"]
    namespaces = spec.get("namespaceSelector") or {}
    allowed = None if namespaces.get("any") else set(namespaces.get("matchNames") or [monitor["metadata"]["namespace"]])
    return [
        i
        for i, s in enumerate(services)
        if (allowed is None or s["metadata"]["namespace"] in allowed)
        and scrape.selector_matches(spec.get("selector") or {}, s["metadata"].get("labels") or {})
    ]


def every_pair_covers(service: dict[str, Any], port: str, monitors: list[dict[str, Any]]) -> bool:
    """The check's ``covered`` before the index: every monitor tested against the Service's port."""
    spec = next(p for p in service["spec"]["ports"] if p.get("name") == port)
    target = str(spec.get("targetPort", spec.get("port")))

    def on_port(endpoint: dict[str, Any]) -> bool:
        if endpoint.get("port"):
            return bool(endpoint["port"] == port)
        return str(endpoint.get("targetPort", "")) in (target, port)

    return any(
        any(on_port(e) for e in m["spec"].get("endpoints") or []) and every_pair_selects(m, [service]) for m in monitors
    )


@pytest.mark.parametrize("seed", range(20))
def test_index_selects_and_covers_what_every_pair_does(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 (seeded for reproducible objects, no secret)
    services = [random_service(rng, i) for i in range(60)]
    monitors = [random_monitor(rng, i) for i in range(40)]
    index = scrape.ServiceIndex(services)
    for m in monitors:
        assert index.selected(m) == every_pair_selects(m, services), m
    assert scrape.monitors_problems(monitors, services) == [
        problem for m in monitors for problem in scrape.monitor_problems(m, services)
    ]
    coverage = scrape.Coverage(index, monitors)
    for i, s in enumerate(services):
        for port in [p["name"] for p in s["spec"]["ports"]]:
            twins = [
                (other, name)
                for other in services
                if (name := scrape.twin_port(s, port, other)) is not None
            ]  # fmt: skip
            expected = every_pair_covers(s, port, monitors) or any(every_pair_covers(o, n, monitors) for o, n in twins)
            assert coverage.scraped_through(i, port) is expected, (s, port)
            assert scrape.scraped_through(s, port, services, monitors) is expected
            assert scrape.covered(s, port, monitors) is every_pair_covers(s, port, monitors)


def bench_shaped(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """bench/scale.py's objects: each app its Service (a metrics port) and ServiceMonitor (matchLabels on
    its name), round-robin over the namespaces, all with one common label; every tenth app also has a
    headless twin of its Service, not scraped itself (so the twin lookup runs)."""
    services, monitors = [], []
    for i in range(n):
        name, ns = f"scale-{i}", NAMESPACES[i % len(NAMESPACES)]
        app = {"app.kubernetes.io/name": name}
        labels = {"obs-conformance.bench/scale": "true", **app}
        ports = [{"name": "http-metrics", "port": 9100, "targetPort": 9100}]
        services.append(
            {"metadata": {"namespace": ns, "name": name, "labels": labels}, "spec": {"selector": app, "ports": ports}}
        )
        if i % 10 == 0:
            other = {"app.kubernetes.io/name": f"{name}-headless"}
            headless = {"metadata": {"namespace": ns, "name": f"{name}-headless", "labels": {**labels, **other}},
                        "spec": {"selector": app, "ports": ports}}  # fmt: skip
            services.append(headless)
        monitors.append({"metadata": {"namespace": ns, "name": name, "labels": labels},
                         "spec": {"selector": {"matchLabels": app}, "endpoints": [{"port": "http-metrics"}]}})  # fmt: skip
    return services, monitors


@pytest.fixture
def tests_counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """How many times the checks test a selector against labels, a Service as a twin, or a Service's
    ports against an endpoint: each is one pair of objects looked at."""
    counts = dict.fromkeys(["selector_matches", "twin_port", "serves_endpoint"], 0)

    def counted(name: str) -> Callable[..., Any]:
        real = getattr(scrape, name)

        def call(*args: Any) -> Any:
            counts[name] += 1
            return real(*args)

        return call

    for name in counts:
        monkeypatch.setattr(scrape, name, counted(name))
    yield counts


def work_at(n: int, counts: dict[str, int]) -> int:
    """The pairs both checks look at on ``n`` bench-shaped apps, their verdicts asserted on the way."""
    services, monitors = bench_shaped(n)
    for name in counts:
        counts[name] = 0
    assert scrape.monitors_problems(monitors, services) == []
    assert scrape.unscraped_ports(services, monitors, NAMESPACES) == []
    # without the first app's monitor, its Service and its headless twin are both reported
    unscraped = scrape.unscraped_ports(services, monitors[1:], NAMESPACES)
    assert [(s["metadata"]["name"], port) for s, port in unscraped] == [
        ("scale-0", "http-metrics"),
        ("scale-0-headless", "http-metrics"),
    ]
    return sum(counts.values())


def test_coverage_work_grows_with_the_object_count_not_its_square(tests_counted: dict[str, int]) -> None:
    small, large = work_at(100, tests_counted), work_at(1000, tests_counted)
    objects = len(bench_shaped(1000)[0]) + 1000  # 1,100 Services and 1,000 ServiceMonitors
    # every pair would be 1,100 x 1,000 selector tests per pass; each monitor finds its Service by its label
    assert large <= 4 * objects, f"{large} pairs looked at for {objects} objects: {tests_counted}"
    assert large <= 11 * small, f"10x the objects, {large / small:.1f}x the work ({small} -> {large})"
    # exactly: each monitor's own Service, in each of the three passes (the last without one monitor)
    assert tests_counted["selector_matches"] == 3 * 1000 - 1, tests_counted


def test_the_count_sees_every_pair_when_nothing_is_narrowed(
    tests_counted: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The count above is of real work: with every Service a candidate of every monitor (the check
    before issue 22), 10x the objects is about 100x the pairs."""
    monkeypatch.setattr(scrape.ServiceIndex, "_candidates", lambda self, allowed, selector: range(len(self.services)))
    small, large = work_at(30, tests_counted), work_at(300, tests_counted)
    assert large > 50 * small, f"{small} -> {large}"
