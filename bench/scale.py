"""Scale scenario of issue 22 (``python -m bench.run --scale N``): the k8s checks on a big cluster.

On a PRIVATE kwok control plane (free ports, its own state and kubeconfig under a temporary
directory, operators included: prometheus-operator's CRDs and cert-manager's controller; the
same start code as tests/test_kwok_deploy.py), for each N asked, in increasing order, the app
workload grows to N units; one unit is, across the env's APP_NAMESPACES round-robin:
10 kwok Nodes, 10 Deployments of 10 replicas (100 pods, Running by kwok), 10 Services with a
``http-metrics`` port and a ServiceMonitor each, 10 PVCs, and 10 Ingresses with a Certificate
each, issued by cert-manager's controller from a selfSigned Issuer. Then ``pytest suites --env
<private env> -m k8s`` runs as a subprocess with the plugin bench/scale_plugin.py, which reports
the API requests it made, its peak RSS and the time spent per test file (the scrape coverage
checks' file apart). Nothing of the observability stack is deployed there (``deployer up`` takes
minutes): checks about the stack's own objects fail or skip, which costs them no less than a pass
(each lists its kind once); the verdict is printed as seen, the timing is the point.

Targets (issue 22): the k8s and coverage checks <= 10 s, growing no faster than the object count;
pytest's peak RSS <= 300 MiB.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from obs_conformance.clients.kubernetes import KubernetesClient
from obs_conformance.clients.polling import Observation, wait_for
from obs_conformance.clients.prometheus import PrometheusClient, Selector
from obs_conformance.deployer import pins
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.local import LocalStack
from obs_conformance.deployer.targets.kwok.components import node_document
from obs_conformance.deployer.toolchain import gobuild, kube_build
from obs_conformance.envconf import Environment, load_environment
from tests.test_kube_control_plane import free_port, private_env

ROOT = Path(__file__).resolve().parent.parent
NODES, APPS, REPLICAS = 10, 10, 10  # per unit
LABEL = "obs-conformance.bench/scale"
MIB = 1024
TARGET_SECONDS, TARGET_RSS_MIB = 10.0, 300.0


@contextlib.contextmanager
def private_plane() -> Iterator[tuple[Environment, Path]]:
    """The kwok target with its operators on free ports; stopped and its data deleted after."""
    kube_build.build_kube()
    with tempfile.TemporaryDirectory(prefix="obsconf-scale-") as tmp:
        env_file = private_env(Path(tmp))
        env = load_environment(str(env_file), environ={})
        stack = LocalStack(env, Layout(Path(tmp) / "state" / "kube"))
        try:
            started = time.monotonic()
            stack.up()
            print(f"  private kwok plane up: {time.monotonic() - started:.1f}s", flush=True)
            yield env, env_file
        finally:
            stack.down(delete_data=True)


def _meta(name: str, namespace: str | None = None, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {LABEL: "true", **labels}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def unit_documents(env: Environment, unit: int) -> list[tuple[str, dict[str, Any]]]:
    """(collection path, document) of one unit of the app workload."""
    docs: list[tuple[str, dict[str, Any]]] = []
    for n in range(NODES):
        index = unit * NODES + n
        node = node_document(f"kwok-scale-{index}", index)
        node["metadata"]["labels"][LABEL] = "true"
        node["status"]["addresses"][0]["address"] = f"127.{1 + index // 65536}.{index // 256 % 256}.{index % 256}"
        docs.append(("/api/v1/nodes", node))
    namespaces = env.app_namespaces
    for a in range(APPS):
        name, ns = f"scale-{unit}-{a}", namespaces[(unit * APPS + a) % len(namespaces)]
        app = {"app.kubernetes.io/name": name}
        docs.append((f"/apis/apps/v1/namespaces/{ns}/deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, ns, **app),
            "spec": {
                "replicas": REPLICAS, "selector": {"matchLabels": app},
                "template": {"metadata": {"labels": app}, "spec": {
                    "containers": [{"name": "app", "image": "example.test/app:1",
                                    "ports": [{"name": "http-metrics", "containerPort": 9100}]}],
                }},
            },
        }))  # fmt: skip
        docs.append((f"/api/v1/namespaces/{ns}/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": _meta(name, ns, **app),
            "spec": {"selector": app, "ports": [{"name": "http-metrics", "port": 9100, "targetPort": 9100}]},
        }))  # fmt: skip
        docs.append((f"/apis/monitoring.coreos.com/v1/namespaces/{ns}/servicemonitors", {
            "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": _meta(name, ns, **app),
            "spec": {"selector": {"matchLabels": app}, "endpoints": [{"port": "http-metrics"}]},
        }))  # fmt: skip
        docs.append((f"/api/v1/namespaces/{ns}/persistentvolumeclaims", {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta(f"{name}-data", ns),
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": env.text("STORAGE_CLASS"),
                     "resources": {"requests": {"storage": "1Mi"}}},
        }))  # fmt: skip
        host = f"{name}.{ns}.example.test"
        docs.append((f"/apis/cert-manager.io/v1/namespaces/{ns}/certificates", {
            "apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": _meta(name, ns),
            "spec": {"secretName": f"{name}-tls", "dnsNames": [host],
                     "issuerRef": {"name": "scale-selfsigned", "kind": "Issuer"}},
        }))  # fmt: skip
        docs.append((f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses", {
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": _meta(name, ns),
            "spec": {
                "ingressClassName": env.text("INGRESS_CLASS"),
                "tls": [{"hosts": [host], "secretName": f"{name}-tls"}],
                "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                    "service": {"name": name, "port": {"number": 9100}}}}]}}],
            },
        }))  # fmt: skip
    return docs


def namespace_documents(env: Environment) -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    for ns in env.app_namespaces:
        docs.append(("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(ns)}))
        docs.append((f"/apis/cert-manager.io/v1/namespaces/{ns}/issuers", {
            "apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": _meta("scale-selfsigned", ns),
            "spec": {"selfSigned": {}},
        }))  # fmt: skip
    return docs


def _count(kube: KubernetesClient, path: str, ready: str) -> tuple[int, int]:
    """(all, ready) objects of the bench's label at ``path``; ``ready``: 'Running' pods or 'Ready' conditions."""
    items = kube.list_all(f"{path}?labelSelector={LABEL}%3Dtrue" if "pods" not in path else path)
    if "pods" in path:
        items = [p for p in items if p["metadata"]["name"].startswith("scale-")]
        done = [p for p in items if p.get("status", {}).get("phase") == "Running"]
    else:
        done = [
            c
            for c in items
            if any(
                x.get("type") == "Ready" and x.get("status") == "True"
                for x in c.get("status", {}).get("conditions", [])
            )
        ]
    return len(items), len(done)


def wait_counted(kube: KubernetesClient, path: str, expected: int, ready: str, deadline: float) -> str:
    """Poll until ``expected`` objects are ready; what was last seen either way (never raises)."""

    def probe() -> Observation[tuple[int, int]]:
        seen = _count(kube, path, ready)
        return Observation(seen, seen[1] >= expected, f"{seen[1]}/{expected} {ready} ({seen[0]} listed)")

    started = time.monotonic()
    try:
        waited = wait_for(probe, expected=f"{expected} {ready}", where=path, deadline=deadline, max_interval=2.0)
        return f"{waited.value[1]}/{expected} {ready} after {time.monotonic() - started:.0f}s"
    except Exception as e:  # a timeout names what was last seen
        return f"not all {ready} within {deadline:.0f}s: {str(e).splitlines()[0][:200]}"


@dataclass
class Measured:
    n: int
    objects: dict[str, int]
    pods: str
    certificates: str
    k8s_seconds: float
    coverage_seconds: float
    coverage_failed: int
    tests_seconds: float
    api_calls: int
    peak_rss_mib: float
    summary: str


def run_k8s_suites(env_file: Path, tmp: Path) -> tuple[float, dict[str, Any], str]:
    out = tmp / "figures.json"
    argv = [
        sys.executable, "-m", "pytest", "suites", "--env", str(env_file), "-m", "k8s", "-q", "--no-reports",
        "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "bench.scale_plugin",
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(
        argv, cwd=ROOT, env={**os.environ, "OBSCONF_BENCH_SCALE_OUT": str(out)},
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = lines[-1] if lines else done.stderr.strip()[-300:]
    return seconds, json.loads(out.read_text()) if out.is_file() else {}, summary


def scale_to(env: Environment, kube: KubernetesClient, have: int, n: int) -> dict[str, int]:
    documents = [d for unit in range(have, n) for d in unit_documents(env, unit)]
    with ThreadPoolExecutor(max_workers=8) as pool:  # the API server is the bottleneck, not the client
        list(pool.map(lambda d: kube.create(*d), documents))
    return {"nodes": n * NODES, "pods": n * APPS * REPLICAS, "services": n * APPS, "monitors": n * APPS,
            "pvcs": n * APPS, "ingresses": n * APPS, "certificates": n * APPS}  # fmt: skip


def measure(scales: list[int]) -> list[Measured]:
    results: list[Measured] = []
    with private_plane() as (env, env_file), tempfile.TemporaryDirectory(prefix="obsconf-scale-run-") as tmp:
        kube = KubernetesClient.from_kubeconfig(
            env.text("KUBE_CONTEXT"), 60.0, config_file=str(env.repo_path("KUBECONFIG_FILE"))
        )
        for path, doc in namespace_documents(env):
            kube.create(path, doc)
        have = 0
        for n in sorted(scales):
            started = time.monotonic()
            objects = scale_to(env, kube, have, n)
            have = n
            print(f"  N={n}: {sum(objects.values())} objects created in {time.monotonic() - started:.1f}s", flush=True)
            pods = wait_counted(kube, "/api/v1/pods", objects["pods"], "Running", 120 + objects["pods"] * 0.3)
            certs = wait_counted(
                kube, "/apis/cert-manager.io/v1/certificates", objects["certificates"], "Ready", 60 + n * 6
            )
            print(f"  N={n}: pods {pods}; certificates {certs}", flush=True)
            seconds, figures, summary = run_k8s_suites(env_file, Path(tmp))
            by_file: dict[str, float] = figures.get("seconds_by_file", {})
            coverage = sum(s for f, s in by_file.items() if "scrape_coverage" in f)
            failed = sum(c for f, c in figures.get("failed_by_file", {}).items() if "scrape_coverage" in f)
            results.append(
                Measured(
                    n, objects, pods, certs, seconds, coverage, failed, sum(by_file.values()),
                    int(figures.get("api_calls", -1)), figures.get("peak_rss_kib", 0) / MIB, summary,
                )
            )  # fmt: skip
            print(f"  N={n}: pytest -m k8s {seconds:.1f}s ({summary})", flush=True)
    return results


def verdicts(results: list[Measured]) -> list[tuple[str, bool, str]]:
    """(target, met, figures) per issue-22 target."""
    out: list[tuple[str, bool, str]] = []
    for r in results:
        out.append((f"N={r.n}: k8s + coverage checks <= {TARGET_SECONDS:g}s", r.k8s_seconds <= TARGET_SECONDS,
                    f"{r.k8s_seconds:.1f}s"))  # fmt: skip
        out.append((f"N={r.n}: pytest peak RSS <= {TARGET_RSS_MIB:g} MiB", r.peak_rss_mib <= TARGET_RSS_MIB,
                    f"{r.peak_rss_mib:.0f} MiB"))  # fmt: skip
    if len(results) > 1:
        first, last = results[0], results[-1]
        growth = last.k8s_seconds / first.k8s_seconds
        objects = sum(last.objects.values()) / sum(first.objects.values())
        out.append((f"N={first.n}->{last.n}: time grows no faster than the objects", growth <= objects,
                    f"time x{growth:.2f}, objects x{objects:.0f}"))  # fmt: skip
    return out


def print_table(results: list[Measured]) -> None:
    load = os.getloadavg()
    print(f"\nscale on a private kwok plane; {os.cpu_count()} cores, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'N':>4} {'nodes':>6} {'pods':>6} {'svc+SM':>7} {'k8s run':>8} {'tests':>6} {'coverage':>8} "
          f"{'API req':>7} {'RSS MiB':>7}  pods / certificates / verdict")  # fmt: skip
    for r in results:
        print(
            f"{r.n:>4} {r.objects['nodes']:>6} {r.objects['pods']:>6} {r.objects['services'] * 2:>7} "
            f"{r.k8s_seconds:>7.1f}s {r.tests_seconds:>5.1f}s {r.coverage_seconds:>7.2f}s {r.api_calls:>7} "
            f"{r.peak_rss_mib:>7.0f}  {r.pods} / {r.certificates} / {r.summary}; "
            f"scrape coverage: {r.coverage_failed} of 2 failed"
        )
    for target, met, figure in verdicts(results):
        print(f"  {'PASS' if met else 'MISS'}  {target}: {figure}")


# --- synthetic series: a generator of ours scraped by a private Prometheus 3.5.0 ---------------------


class Generator:
    """An exposition endpoint of ours on loopback serving ``body`` (set it to change the series)."""

    def __init__(self) -> None:
        self.body = b""
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = owner.body
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt: str, *args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, metrics: list[str], count: int) -> None:
        """``count`` gauges spread over ``metrics`` (the rules' metric names: their postings grow)."""
        lines = [f'{metrics[i % len(metrics)]}{{bench_id="{i}"}} 1\n' for i in range(count)]
        self.body = "".join(lines).encode()


def local_rule_files() -> list[str]:
    """The rule files the running local Prometheus loads (read from its config, nothing written to it)."""
    local = load_environment("local")
    config = requests.get(f"{local.text('PROMETHEUS_URL')}/api/v1/status/config", timeout=10).json()
    return [str(f) for f in yaml.safe_load(config["data"]["yaml"]).get("rule_files", [])]


def head_series(prometheus: PrometheusClient) -> int:
    stats = requests.get(prometheus.url("/api/v1/status/tsdb"), timeout=30).json()["data"]["headStats"]
    return int(stats["numSeries"])


def rule_selectors(prometheus: PrometheusClient) -> list[Selector]:
    alerts = [r for g in prometheus.rule_groups() for r in g["rules"] if r["type"] == "alerting"]
    found: dict[str, Selector] = {}
    for rule in alerts:
        for selector in prometheus.selectors(str(rule["query"])):
            if not selector.in_absence:
                found.setdefault(selector.text, selector)
    return list(found.values())


def time_coverage_queries(prometheus: PrometheusClient, selectors: list[Selector]) -> float:
    """The rule-coverage check's own requests: one ``/api/v1/series`` (limit=1) per distinct selector."""
    started = time.monotonic()
    end = time.time()
    for selector in selectors:
        prometheus.has_series(selector.text, end - 60, end)
    return time.monotonic() - started


def measure_series(counts: list[int]) -> list[tuple[int, int, float, float]]:
    """(asked, in head, seconds to load, seconds of the coverage queries) per series count, 0 first."""
    binary = gobuild.build_source_module(pins.PROMETHEUS)
    generator = Generator()
    results: list[tuple[int, int, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="obsconf-series-") as tmp:
        port = free_port()
        config = {
            "global": {"scrape_interval": "15s", "scrape_timeout": "15s", "evaluation_interval": "30s"},
            "rule_files": local_rule_files(),
            "scrape_configs": [{"job_name": "bench-synthetic", "static_configs": [
                {"targets": [f"127.0.0.1:{generator.port}"]}]}],
        }  # fmt: skip
        (Path(tmp) / "prometheus.yml").write_text(yaml.safe_dump(config))
        argv = [
            str(binary), f"--config.file={tmp}/prometheus.yml", f"--storage.tsdb.path={tmp}/data",
            f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h",
        ]  # fmt: skip
        with open(Path(tmp) / "prometheus.log", "w") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            prometheus = PrometheusClient(f"http://127.0.0.1:{port}", 120.0)
            wait_for(
                lambda: Observation(None, prometheus.ready(), "ready" if prometheus.ready() else "not ready"),
                expected="ready", where=prometheus.url("/-/ready"), deadline=60,
            )  # fmt: skip
            selectors = rule_selectors(prometheus)
            metrics = sorted({s.metric for s in selectors if s.metric}) or ["bench_synthetic"]
            print(f"  private Prometheus 3.5.0: {len(selectors)} alert-rule selectors over {len(metrics)} metrics")
            for count in sorted({0, *counts}):
                generator.serve(metrics, count)
                started = time.monotonic()

                def probe(count: int = count) -> Observation[int]:
                    n = head_series(prometheus)
                    return Observation(n, n >= count, f"{n} series in the head")

                seen = wait_for(
                    probe,
                    expected=f">= {count} series in the head", where=prometheus.url("/api/v1/status/tsdb"),
                    deadline=300, max_interval=2.0,
                )  # fmt: skip
                loaded = time.monotonic() - started
                seconds = min(time_coverage_queries(prometheus, selectors) for _ in range(3))
                results.append((count, seen.value, loaded, seconds))
                print(f"  {count} series: in the head after {loaded:.0f}s; coverage queries {seconds:.2f}s", flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            generator.server.shutdown()
    return results


def print_series(results: list[tuple[int, int, float, float]]) -> None:
    load = os.getloadavg()
    print(f"\nsynthetic series on a private Prometheus 3.5.0; load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'series':>8} {'in head':>8} {'loaded in':>9} {'coverage queries':>16}")
    for count, seen, loaded, seconds in results:
        print(f"{count:>8} {seen:>8} {loaded:>8.0f}s {seconds:>15.2f}s")
    base = results[0][3]
    for count, _, _, seconds in results[1:]:
        added = seconds - base
        print(
            f"  {'PASS' if added <= 2.0 else 'MISS'}  {count} series: the rule-coverage queries add <= 2s: {added:+.2f}s"
        )


def main(scales: list[int], series: list[int]) -> int:
    if scales:
        print_table(measure(scales))
    if series:
        print_series(measure_series(series))
    return 0
