"""Rendering the design's values files and manifests from the env.

Secrets never reach these files: the Slack webhook, the Postgres password and the htpasswd
files go to Kubernetes as Secrets piped to ``kubectl apply -f -`` (see :mod:`deployer.cluster.plan`),
and the values files and custom resources only name those Secrets: the collector mounts its OTLP
htpasswd, instrumented pods read their OTLP header from a Secret of their own namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obs_conformance.deployer import pins
from obs_conformance.deployer.render import render
from obs_conformance.envconf import Environment
from obs_conformance.envconf.schema import COMPONENTS
from obs_conformance.envconf.stack_facts import OPERATOR_COLLECTOR_METRICS_PORT
from obs_conformance.envconf.targets import Target

SLACK_SECRET = "alertmanager-slack-webhook"  # noqa: S105 - a Secret name, not a value
POSTGRES_SECRET = "postgres-exporter-secret"  # noqa: S105 - a Secret name, not a value
# the front door's htpasswd (key ``auth``), which every ingress of the design names for ingress-nginx's basic auth
FRONT_DOOR_AUTH_SECRET = "front-door-basic-auth"  # noqa: S105 - a Secret name, not a value
# the collector's OTLP htpasswd (key ``htpasswd``), mounted into its pod for the basicauth extension
OTLP_AUTH_SECRET = "otel-collector-otlp-auth"  # noqa: S105 - a Secret name, not a value
OTLP_AUTH_KEY = "htpasswd"
OTLP_AUTH_MOUNT = "/etc/otelcol-otlp-auth"
# in each app namespace: what instrumented pods send as OTEL_EXPORTER_OTLP_HEADERS (key ``headers``)
OTLP_HEADERS_SECRET = "otel-exporter-otlp-headers"  # noqa: S105 - a Secret name, not a value
OTLP_HEADERS_KEY = "headers"
MANIFESTS = (
    "namespace.yaml",
    "ingress-nginx-values.yaml",
    "cluster-issuer.yaml",
    "prometheus-values.yaml",
    "opentelemetry-operator-values.yaml",
    "otel-collector.yaml",
    "instrumentation.yaml",
    "postgres-exporter-values.yaml",
    "service-monitors.yaml",
    "conformance-rules.yaml",
    "loki-values.yaml",
    "tempo-values.yaml",
    "tempo-ingress.yaml",
)
# Rendered only where the target needs them (see envconf.targets.Target).
CERT_MANAGER_VALUES = "cert-manager-values.yaml"
POSTGRES_MANIFEST = "postgres.yaml"
KIND_CLUSTER = "kind-cluster.yaml"
CERT_MANAGER_NAMESPACE = "cert-manager"


def target(env: Environment) -> Target:
    """How a cluster deploy differs on the env's kind of target (its profile, :mod:`envconf.targets`)."""
    return env.profile


@dataclass(frozen=True)
class RenderedSet:
    """The rendered files of one env, by file name, and where they are written."""

    directory: Path
    files: dict[str, str]

    def path(self, name: str) -> Path:
        return self.directory / name

    def write(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, text in self.files.items():
            target = self.path(name)
            if not target.is_file() or target.read_text() != text:
                target.write_text(text)


def resources(env: Environment) -> dict[str, Any]:
    """Requests and limits per component, shaped as a container's ``resources``."""
    return {
        component: {
            "requests": {
                "cpu": env.text(f"{component}_CPU_REQUEST"),
                "memory": str(env.quantity(f"{component}_MEMORY_REQUEST")),
            },
            "limits": {
                "cpu": env.text(f"{component}_CPU_LIMIT"),
                "memory": str(env.quantity(f"{component}_MEMORY_LIMIT")),
            },
        }
        for component in COMPONENTS
    }


def storage_classes(env: Environment) -> dict[str, str]:
    """The StorageClass of Prometheus' and Alertmanager's PVCs: their own key, else ``STORAGE_CLASS``."""
    default = env.text("STORAGE_CLASS")
    return {c.lower(): str(env.values.get(f"{c}_STORAGE_CLASS", default)) for c in ("PROMETHEUS", "ALERTMANAGER")}


def context(env: Environment) -> dict[str, Any]:
    namespace = env.text("NAMESPACE")
    collector_config = render(
        "collector-config.yaml.j2",
        {
            "otlp_grpc_listen": "0.0.0.0:4317",
            "otlp_http_listen": "0.0.0.0:4318",
            "batch_timeout": str(env.duration("BATCH_TIMEOUT")),
            "cluster": env.text("CLUSTER_NAME"),
            "environment": env.text("ENV_NAME"),
            "traces_otlp_endpoint": f"tempo.{namespace}:4317",
            "logs_otlp_url": f"http://loki-stack.{namespace}:3100/otlp/v1/logs",
            "log_stream_fields": "",  # Loki's own otlp_config picks the index labels (loki-values.yaml)
            "teams": env.mapping("TEAM_BY_NAMESPACE"),
            "prometheus_exporter_listen": "0.0.0.0:8889",
            "telemetry_host": "0.0.0.0",
            "telemetry_port": OPERATOR_COLLECTOR_METRICS_PORT,  # where the operator reads it, readers or not
            "span_metrics": False,  # Tempo's metrics generator makes them on clusters
            # the htpasswd Secret's key as the operator mounts it (otel-collector.yaml); none with OTLP_AUTH="off"
            "otlp_htpasswd_file": f"{OTLP_AUTH_MOUNT}/{OTLP_AUTH_KEY}" if env.otlp_auth else "",
        },
    )
    profile = target(env)
    postgres_service = str(env.values.get("POSTGRES_HOST", "")).split(".", 1)[0]
    return {
        "target": profile,
        "collector_image": {"repository": pins.COLLECTOR_IMAGE, "tag": pins.OTELCOL_VERSION.lstrip("v")},
        "kind_cluster_name": env.text("CLUSTER_NAME"),
        "ingress_ports": {
            "http": env.values.get("INGRESS_HTTP_PORT", 80),
            "https": env.values.get("INGRESS_HTTPS_PORT", 443),
        },
        "postgres_image": pins.POSTGRES_IMAGE,
        "postgres_service": postgres_service,
        "namespace": namespace,
        "test_namespace": env.text("TEST_NAMESPACE"),
        "environment": env.text("ENV_NAME"),
        "app_namespaces": [n.strip() for n in env.text("APP_NAMESPACES").split(",") if n.strip()],
        "ingress_class": env.text("INGRESS_CLASS"),
        "issuer": {
            "name": env.text("CLUSTER_ISSUER"),
            "type": env.text("ISSUER_TYPE"),
            "server": env.values.get("ACME_SERVER", ""),
            "email": env.values.get("ACME_EMAIL", ""),
        },
        "hosts": {service: env.host(service) for service in ("prometheus", "alertmanager", "loki", "tempo")},
        "front_door_auth": env.front_door_auth,
        "front_door_auth_secret": FRONT_DOOR_AUTH_SECRET,
        "otlp_auth": {
            "enabled": env.otlp_auth,
            "secret": OTLP_AUTH_SECRET,
            "key": OTLP_AUTH_KEY,
            "mount": OTLP_AUTH_MOUNT,
            "headers_secret": OTLP_HEADERS_SECRET,
            "headers_key": OTLP_HEADERS_KEY,
        },
        "storage_class": env.text("STORAGE_CLASS"),
        "storage_classes": storage_classes(env),
        "sizes": {
            "prometheus": str(env.quantity("PROMETHEUS_STORAGE_SIZE")),
            "alertmanager": str(env.quantity("ALERTMANAGER_STORAGE_SIZE")),
            "loki": str(env.quantity("LOKI_STORAGE_SIZE")),
            "tempo": str(env.quantity("TEMPO_STORAGE_SIZE")),
        },
        "resources": resources(env),
        "scrape_interval": str(env.duration("SCRAPE_INTERVAL")),
        "evaluation_interval": str(env.duration("EVALUATION_INTERVAL")),
        "group_wait": str(env.duration("ALERT_GROUP_WAIT")),
        "group_interval": str(env.duration("ALERT_GROUP_INTERVAL")),
        "slack_channel": env.text("SLACK_CHANNEL"),
        "slack_secret_name": SLACK_SECRET,
        "postgres_secret_name": POSTGRES_SECRET,
        "postgres": {
            "host": env.values.get("POSTGRES_HOST", ""),
            "port": env.values.get("POSTGRES_PORT", 5432),
            "database": env.values.get("POSTGRES_DATABASE", "postgres"),
            "user": env.text("POSTGRES_EXPORTER_USER"),
            # the deployer's own PostgreSQL (kind, kwok) serves no TLS; external ones must
            "sslmode": "disable" if profile.own_postgres else "require",
        },
        "log_retention_hours": env.duration("LOG_RETENTION").hours_text,
        "loki_image_tag": pins.LOKI_IMAGE_TAG,
        "collector_config": collector_config,
        "alert_rules": render("alert-rules.yaml.j2", {"test_namespace": env.text("TEST_NAMESPACE")}),
    }


def manifest_names(env: Environment) -> tuple[str, ...]:
    profile = target(env)
    extra = (
        *((KIND_CLUSTER,) if profile.kind_cluster else ()),
        *((CERT_MANAGER_VALUES,) if profile.cert_manager else ()),
        *((POSTGRES_MANIFEST,) if profile.own_postgres else ()),
    )
    return (*MANIFESTS, *extra)


def render_cluster(env: Environment, directory: Path) -> RenderedSet:
    values = context(env)
    return RenderedSet(directory, {name: render(f"cluster/{name}.j2", values) for name in manifest_names(env)})
