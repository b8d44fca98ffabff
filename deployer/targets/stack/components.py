"""The local stack's components: rendered configs and the process that runs each.

Listen addresses come from the env's URLs and LOCAL_* ports, so nothing here
hard-codes a port. The same collector template as the cluster's is used.
"""

from __future__ import annotations

import glob
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from obs_conformance.deployer import pins
from obs_conformance.deployer.engine.component import Rendered
from obs_conformance.deployer.engine.layout import REPO_ROOT, Layout
from obs_conformance.deployer.engine.processes import ProcessSpec
from obs_conformance.deployer.targets.stack.cluster_config import ClusterConfig, dump, remap_alertmanager
from obs_conformance.deployer.toolchain import gobuild
from obs_conformance.deployer.toolchain.packages import ensure_packages
from obs_conformance.envconf import Environment
from obs_conformance.envconf.stack_facts import LOG_INDEX_LABELS


@dataclass(frozen=True)
class Binaries:
    """Paths of the executables: Prometheus, Alertmanager, the exporters and the stores built at the
    clusters' versions (deployer/pins.py); PostgreSQL and nginx from Debian's packages."""

    prometheus: str
    promtool: str
    alertmanager: str
    amtool: str
    node_exporter: str
    postgres_exporter: str
    postgres_bin: str
    jaeger: str
    victorialogs: str
    collector: str

    @classmethod
    def build(cls) -> Binaries:
        """Install the Debian packages and build the Go backends that are missing (cached after the first run)."""
        ensure_packages()
        return cls._at(
            prometheus=gobuild.build_source_module(pins.PROMETHEUS),
            promtool=gobuild.build_source_module(pins.PROMTOOL),
            alertmanager=gobuild.go_install(pins.ALERTMANAGER),
            amtool=gobuild.go_install(pins.AMTOOL),
            node_exporter=gobuild.go_install(pins.NODE_EXPORTER),
            postgres_exporter=gobuild.build_source_module(pins.POSTGRES_EXPORTER),
            jaeger=gobuild.build_source_module(pins.JAEGER),
            victorialogs=gobuild.build_source_module(pins.VICTORIALOGS),
            collector=gobuild.build_collector(),
        )

    @classmethod
    def unbuilt(cls) -> Binaries:
        """Placeholders for what needs no executable (status, down): the components' names and addresses."""
        built = ["prometheus", "promtool", "alertmanager", "amtool", "node_exporter", "postgres_exporter"]
        built += ["jaeger", "victorialogs", "collector"]
        return cls._at(**{name: Path(name) for name in built})

    @classmethod
    def _at(
        cls,
        *,
        prometheus: Path,
        promtool: Path,
        alertmanager: Path,
        amtool: Path,
        node_exporter: Path,
        postgres_exporter: Path,
        jaeger: Path,
        victorialogs: Path,
        collector: Path,
    ) -> Binaries:
        postgres = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
        return cls(
            prometheus=str(prometheus),
            promtool=str(promtool),
            alertmanager=str(alertmanager),
            amtool=str(amtool),
            node_exporter=str(node_exporter),
            postgres_exporter=str(postgres_exporter),
            postgres_bin=str(Path(postgres[-1]).parent) if postgres else "/usr/lib/postgresql/15/bin",
            jaeger=str(jaeger),
            victorialogs=str(victorialogs),
            collector=str(collector),
        )


def ready_with_version(
    ready_url: str, version_url: str, version: Callable[[Any], str]
) -> Callable[[float], tuple[bool, str]]:
    """Ready when ``ready_url`` answers 200; what was seen names the running version (``status`` shows it)."""

    def probe(timeout: float) -> tuple[bool, str]:
        try:
            ready = requests.get(ready_url, timeout=timeout)
            if ready.status_code != 200:
                return False, f"HTTP {ready.status_code}"
            return True, f"HTTP 200, version {version(requests.get(version_url, timeout=timeout).json())}"
        except (requests.RequestException, ValueError, KeyError, TypeError) as e:
            return False, type(e).__name__

    return probe


# the front door's basic-auth users, beside the configs: nginx's workers read it on every request
FRONT_DOOR_HTPASSWD = "front-door.htpasswd"
# the OTLP senders' users, which the collector's basicauth extension reads at its start
OTLP_HTPASSWD = "otlp.htpasswd"


def hostport(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def listen_addresses(env: Environment) -> dict[str, str]:
    local = "127.0.0.1"
    return {
        "prometheus": hostport(env.text("PROMETHEUS_URL")),
        "alertmanager": hostport(env.text("ALERTMANAGER_URL")),
        "logs": hostport(env.text("LOGS_URL")),
        "traces_query": hostport(env.text("TRACES_URL")),
        "otlp_grpc": str(env.endpoint("OTLP_GRPC_ENDPOINT")),
        "otlp_http": hostport(env.text("OTLP_HTTP_URL")),
        "slack_mock": hostport(env.text("SLACK_MOCK_URL")),
        "node_exporter": f"{local}:{env.port('LOCAL_NODE_EXPORTER_PORT')}",
        "postgres_exporter": f"{local}:{env.port('LOCAL_POSTGRES_EXPORTER_PORT')}",
        "collector_telemetry": f"{local}:{env.port('LOCAL_COLLECTOR_TELEMETRY_PORT')}",
        "collector_exporter": f"{local}:{env.port('LOCAL_COLLECTOR_PROMETHEUS_PORT')}",
        "traces_telemetry": f"{local}:{env.port('LOCAL_TRACES_TELEMETRY_PORT')}",
        "log_agent_telemetry": f"{local}:{env.port('LOCAL_LOG_AGENT_TELEMETRY_PORT')}",
    }


def ingress_backends(env: Environment) -> dict[str, str]:
    """Ingress host -> backend URL, for every host the design exposes."""
    return {
        env.host("prometheus"): env.text("PROMETHEUS_URL"),
        env.host("alertmanager"): env.text("ALERTMANAGER_URL"),
        env.host("loki"): env.text("LOGS_URL"),
        env.host("tempo"): env.text("TRACES_URL"),
    }


def scrape_jobs(listen: dict[str, str]) -> dict[str, str]:
    """Job name -> target. Prometheus and Alertmanager keep the job names their chart ServiceMonitors
    give them on a cluster (the Service's name), which the chart's rules select on."""
    return {
        "prom-stack-kube-prometheus-prometheus": listen["prometheus"],
        "prom-stack-kube-prometheus-alertmanager": listen["alertmanager"],
        "node-exporter": listen["node_exporter"],
        "postgres-exporter": listen["postgres_exporter"],
        "otel-collector": listen["collector_telemetry"],
        "otel-collector-exporter": listen["collector_exporter"],
        "logs-store": listen["logs"],
        "traces-store": listen["traces_telemetry"],
        "log-agent": listen["log_agent_telemetry"],
    }


def render_configs(
    env: Environment,
    layout: Layout,
    slack_webhook_file: Path,
    cluster: ClusterConfig,
    htpasswd_file: Path | None = None,
    otlp_htpasswd_file: Path | None = None,
) -> list[Rendered]:
    """Every config file of the stack. Prometheus' rules and Alertmanager's config are the cluster's
    (``cluster``: what prometheus-operator would generate from the chart render), mapped onto this
    machine by :func:`~deployer.targets.stack.cluster_config.remap_alertmanager` only. The front
    door asks for basic authentication against ``htpasswd_file`` when the env wants it (the default),
    and the collector's OTLP receivers against ``otlp_htpasswd_file`` (unless ``OTLP_AUTH="off"``)."""
    if env.front_door_auth and htpasswd_file is None:
        htpasswd_file = layout.config / FRONT_DOOR_HTPASSWD
    if env.otlp_auth and otlp_htpasswd_file is None:
        otlp_htpasswd_file = layout.config / OTLP_HTPASSWD
    from obs_conformance.deployer.render import (
        render,  # jinja2 loads where configs are rendered, not in every check process
    )

    listen = listen_addresses(env)
    ports = {
        "traces_otlp_grpc": env.port("LOCAL_TRACES_OTLP_GRPC_PORT"),
        "traces_otlp_http": env.port("LOCAL_TRACES_OTLP_HTTP_PORT"),
        "traces_telemetry": env.port("LOCAL_TRACES_TELEMETRY_PORT"),
    }
    common = {
        "cluster": env.text("CLUSTER_NAME"),
        "environment": env.text("ENV_NAME"),
        "listen": listen,
        "ports": ports,
    }
    telemetry_host, telemetry_port = listen["collector_telemetry"].rsplit(":", 1)
    collector = render(
        "collector-config.yaml.j2",
        {
            **common,
            "otlp_grpc_listen": listen["otlp_grpc"],
            "otlp_http_listen": listen["otlp_http"],
            "batch_timeout": str(env.duration("BATCH_TIMEOUT")),
            "traces_otlp_endpoint": f"127.0.0.1:{ports['traces_otlp_grpc']}",
            "logs_otlp_url": f"{env.text('LOGS_URL')}/insert/opentelemetry/v1/logs",
            "log_stream_fields": ",".join(LOG_INDEX_LABELS),
            "teams": env.mapping("TEAM_BY_NAMESPACE"),
            "prometheus_exporter_listen": listen["collector_exporter"],
            "telemetry_host": telemetry_host,
            "telemetry_port": telemetry_port,
            "span_metrics": True,
            "otlp_htpasswd_file": str(otlp_htpasswd_file) if env.otlp_auth else "",
        },
    )
    rules_dir = layout.config / "rules"
    rule_files = [Rendered(rules_dir / name, dump(content)) for name, content in cluster.rule_files.items()]
    prometheus = render(
        "local/prometheus.yml.j2",
        {
            **common,
            "scrape_interval": str(env.duration("SCRAPE_INTERVAL")),
            "evaluation_interval": str(env.duration("EVALUATION_INTERVAL")),
            "rule_files": [str(r.path) for r in rule_files],
            "rules_digest": cluster.rules_digest(),
            "scrape_jobs": scrape_jobs(listen),
            "stack_namespace": env.text("NAMESPACE"),
        },
    )
    alertmanager = dump(remap_alertmanager(cluster.alertmanager, slack_webhook_file, layout.config))
    return [
        Rendered(layout.config / "otelcol.yaml", collector),
        Rendered(layout.config / "prometheus.yml", prometheus),
        *rule_files,
        Rendered(layout.config / "alertmanager.yml", alertmanager),
        Rendered(layout.config / "jaeger.yaml", render("local/jaeger.yaml.j2", common)),
        Rendered(
            layout.config / "nginx.conf",
            render(
                "local/nginx.conf.j2",
                {
                    "run_dir": str(layout.run),
                    "logs_dir": str(layout.logs),
                    "temp_dir": str(layout.root / "nginx-temp"),
                    "cert_dir": str(layout.tls),
                    "http_listen": f"{env.text('INGRESS_ADDRESS')}:{env.port('INGRESS_HTTP_PORT')}",
                    "https_listen": f"{env.text('INGRESS_ADDRESS')}:{env.port('INGRESS_HTTPS_PORT')}",
                    "https_port": env.port("INGRESS_HTTPS_PORT"),
                    "hosts": ingress_backends(env),
                    "htpasswd_file": str(htpasswd_file) if env.front_door_auth else "",
                },
            ),
        ),
        Rendered(
            layout.config / "log-agent.yaml",
            render(
                "local/log-agent.yaml.j2",
                {
                    **common,
                    "pod_logs": str(layout.pod_logs),
                    "teams": env.mapping("TEAM_BY_NAMESPACE"),
                    "logs_otlp_url": f"{env.text('LOGS_URL')}/insert/opentelemetry/v1/logs",
                    "telemetry_port": env.port("LOCAL_LOG_AGENT_TELEMETRY_PORT"),
                },
            ),
        ),
    ]


def process_specs(
    env: Environment, layout: Layout, bins: Binaries, postgres_dsn: str, pg_user: str | None
) -> list[ProcessSpec]:
    """Every process of the stack, in start order."""
    listen = listen_addresses(env)
    cfg = layout.config
    pg_port = env.port("LOCAL_POSTGRES_PORT")
    return [
        ProcessSpec(
            "postgresql",
            (
                f"{bins.postgres_bin}/postgres",
                "-D",
                str(layout.pg_data),
                "-p",
                str(pg_port),
                "-k",
                str(layout.pg_socket),
                "-c",
                "listen_addresses=127.0.0.1",
            ),
            ready_command=(f"{bins.postgres_bin}/pg_isready", "-q", "-h", str(layout.pg_socket), "-p", str(pg_port)),
            user=pg_user,
            stop_signal=signal.SIGINT,  # "fast" shutdown: SIGTERM waits for the exporter's sessions
        ),
        ProcessSpec(
            "postgres-exporter",
            (bins.postgres_exporter, f"--web.listen-address={listen['postgres_exporter']}"),
            ready_url=f"http://{listen['postgres_exporter']}/metrics",
            env={"DATA_SOURCE_NAME": postgres_dsn},
        ),
        ProcessSpec(
            "node-exporter",
            (bins.node_exporter, f"--web.listen-address={listen['node_exporter']}"),
            ready_url=f"http://{listen['node_exporter']}/metrics",
        ),
        ProcessSpec(
            "logs-store",
            (
                bins.victorialogs,
                f"-httpListenAddr={listen['logs']}",
                f"-storageDataPath={layout.data('victorialogs')}",
                f"-retentionPeriod={env.duration('LOG_RETENTION')}",
                "-loggerLevel=WARN",
            ),
            ready_url=f"http://{listen['logs']}/health",
        ),
        ProcessSpec(
            "traces-store",
            (bins.jaeger, f"--config={cfg / 'jaeger.yaml'}"),
            ready_url=f"http://{listen['traces_query']}/api/v3/services",
            configs=(cfg / "jaeger.yaml",),
        ),
        ProcessSpec(
            "slack-mock",
            (
                sys.executable,
                "-m",
                "obs_conformance.slack_mock.server",
                "--host",
                listen["slack_mock"].split(":")[0],
                "--port",
                listen["slack_mock"].rsplit(":", 1)[1],
                "--hooks-file",
                str(layout.secrets / "slack_webhook_url"),
            ),
            ready_url=f"http://{listen['slack_mock']}/healthz",
            cwd=REPO_ROOT,
        ),
        ProcessSpec(
            "alertmanager",
            (
                bins.alertmanager,
                f"--config.file={cfg / 'alertmanager.yml'}",
                f"--storage.path={layout.data('alertmanager')}",
                f"--web.listen-address={listen['alertmanager']}",
                "--cluster.listen-address=",
            ),
            ready_url=f"http://{listen['alertmanager']}/-/ready",
            ready_probe=ready_with_version(
                f"http://{listen['alertmanager']}/-/ready",
                f"http://{listen['alertmanager']}/api/v2/status",
                lambda body: body["versionInfo"]["version"],
            ),
            configs=(cfg / "alertmanager.yml",),
        ),
        ProcessSpec(
            "prometheus",
            (
                bins.prometheus,
                f"--config.file={cfg / 'prometheus.yml'}",
                f"--storage.tsdb.path={layout.data('prometheus')}",
                f"--web.listen-address={listen['prometheus']}",
                "--enable-feature=exemplar-storage",
                "--web.enable-remote-write-receiver",
                "--web.enable-lifecycle",
                # resend firing alerts every evaluation (default 1m): a restarted Alertmanager catches up fast
                f"--rules.alert.resend-delay={env.duration('EVALUATION_INTERVAL')}",
            ),
            ready_url=f"http://{listen['prometheus']}/-/ready",
            ready_probe=ready_with_version(
                f"http://{listen['prometheus']}/-/ready",
                f"http://{listen['prometheus']}/api/v1/status/buildinfo",
                lambda body: body["data"]["version"],
            ),
            configs=(cfg / "prometheus.yml",),  # it names the rule files and their digest: a change restarts it
        ),
        ProcessSpec(
            "otel-collector",
            (bins.collector, f"--config={cfg / 'otelcol.yaml'}"),
            ready_url=f"http://{listen['collector_telemetry']}/metrics",
            configs=(cfg / "otelcol.yaml",),
        ),
        ProcessSpec(
            "tls-front-door",
            ("/usr/sbin/nginx", "-p", str(layout.root), "-c", str(cfg / "nginx.conf")),
            ready_tcp=(env.text("INGRESS_ADDRESS"), env.port("INGRESS_HTTPS_PORT")),
            configs=(cfg / "nginx.conf",),
        ),
        ProcessSpec(
            "log-agent",
            (bins.collector, f"--config={cfg / 'log-agent.yaml'}"),
            ready_url=f"http://{listen['log_agent_telemetry']}/metrics",
            configs=(cfg / "log-agent.yaml",),
        ),
    ]
