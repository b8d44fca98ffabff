"""Every version the deployer builds or installs, pinned in this one place.

Why these backends locally: Grafana Loki and Tempo are AGPL-licensed, and this
project's workplace forbids building their Go modules, so the local stack stores
logs in VictoriaLogs and traces in Jaeger v2 (both Apache-2.0, both OTLP-native).
Clusters (kind, dev) run the real Loki and Tempo from their charts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceModule:
    """A Go module built from its source directory (``go install`` refuses replace directives)."""

    name: str
    module: str
    version: str
    package: str
    # The release version to stamp into github.com/prometheus/common/version (the ldflags of
    # the project's .promu.yml); empty for projects that do not use it.
    stamp: str = ""


@dataclass(frozen=True)
class GoInstallable:
    """A Go command ``go install``-able as it is (its go.mod has no replace or exclude)."""

    name: str
    package: str
    version: str
    stamp: str = ""


# The versions kube-prometheus-stack (CHARTS below) ships, so a query that breaks on the
# cluster breaks here too; tests/test_pins.py reads the chart's values.yaml and fails on a drift.
# Prometheus 3.x is the Go module v0.3XX.Y (3.5.0 = v0.305.0, its VERSION file says so).
PROMETHEUS_VERSION = "3.5.0"
PROMETHEUS = SourceModule(
    "prometheus", "github.com/prometheus/prometheus", "v0.305.0", "./cmd/prometheus", PROMETHEUS_VERSION
)
PROMTOOL = SourceModule("promtool", PROMETHEUS.module, PROMETHEUS.version, "./cmd/promtool", PROMETHEUS_VERSION)
ALERTMANAGER_VERSION = "0.28.1"
ALERTMANAGER = GoInstallable(
    "alertmanager",
    "github.com/prometheus/alertmanager/cmd/alertmanager",
    f"v{ALERTMANAGER_VERSION}",
    ALERTMANAGER_VERSION,
)
AMTOOL = GoInstallable(
    "amtool", "github.com/prometheus/alertmanager/cmd/amtool", ALERTMANAGER.version, ALERTMANAGER_VERSION
)
# Debian's Prometheus 2.x stays installed, not run by the stack: queries are tested on both majors.
PROMETHEUS_2X = "/usr/bin/prometheus"
# The exporters the charts ship (kube-prometheus-stack's prometheus-node-exporter subchart,
# prometheus-postgres-exporter's appVersion). The proxy answers 403 to postgres_exporter's
# version list, which `go install` reads for deprecations: built from its source copy instead.
NODE_EXPORTER_VERSION = "1.9.1"
NODE_EXPORTER = GoInstallable(
    "node-exporter", "github.com/prometheus/node_exporter", f"v{NODE_EXPORTER_VERSION}", NODE_EXPORTER_VERSION
)
POSTGRES_EXPORTER_VERSION = "0.17.1"
POSTGRES_EXPORTER = SourceModule(
    "postgres-exporter",
    "github.com/prometheus-community/postgres_exporter",
    f"v{POSTGRES_EXPORTER_VERSION}",
    "./cmd/postgres_exporter",
    POSTGRES_EXPORTER_VERSION,
)
# The operators the clusters run: kube-prometheus-stack's appVersion, and the
# opentelemetry-operator chart's (its collectors run COLLECTOR_IMAGE at OTELCOL_VERSION).
PROMETHEUS_OPERATOR_VERSION = "v0.83.0"
OPENTELEMETRY_OPERATOR_VERSION = "0.131.0"

JAEGER = SourceModule("jaeger", "github.com/jaegertracing/jaeger", "v1.76.0", "./cmd/jaeger")
VICTORIALOGS = SourceModule(
    "victoria-logs", "github.com/VictoriaMetrics/VictoriaLogs", "v1.52.1", "./app/victoria-logs"
)
SOURCE_MODULES = (JAEGER, VICTORIALOGS)

OTELCOL_BUILDER = "go.opentelemetry.io/collector/cmd/builder"
OTELCOL_VERSION = "v0.165.0"
_CORE = "go.opentelemetry.io/collector"
_CONTRIB = "github.com/open-telemetry/opentelemetry-collector-contrib"

# The components the stack's collector config uses, by kind, as the builder's manifest wants them.
OTELCOL_COMPONENTS: dict[str, tuple[str, ...]] = {
    "receivers": (
        f"{_CORE}/receiver/otlpreceiver {OTELCOL_VERSION}",
        # Promtail's role locally (Promtail lives in Loki's AGPL module): tail pod log files
        f"{_CONTRIB}/receiver/filelogreceiver {OTELCOL_VERSION}",
    ),
    "processors": (
        f"{_CORE}/processor/batchprocessor {OTELCOL_VERSION}",
        f"{_CORE}/processor/memorylimiterprocessor {OTELCOL_VERSION}",
        f"{_CONTRIB}/processor/resourceprocessor {OTELCOL_VERSION}",
        # the design's namespace and team, derived from what instrumented pods send (k8s.namespace.name)
        f"{_CONTRIB}/processor/transformprocessor {OTELCOL_VERSION}",
    ),
    "exporters": (
        f"{_CORE}/exporter/otlpexporter {OTELCOL_VERSION}",
        f"{_CORE}/exporter/otlphttpexporter {OTELCOL_VERSION}",
        f"{_CORE}/exporter/debugexporter {OTELCOL_VERSION}",
        f"{_CONTRIB}/exporter/prometheusexporter {OTELCOL_VERSION}",
    ),
    # Tempo's metrics generator's role locally: span metrics from the traces (the
    # servicegraph connector is not served by the module proxy here)
    "connectors": (f"{_CONTRIB}/connector/spanmetricsconnector {OTELCOL_VERSION}",),
    # basic authentication on the OTLP receivers (htpasswd, SHA-512-crypt lines as the front door's);
    # v0.165.0 builds here (go-partial.tsv lists v0.158.0 only: the newer ones were not tried)
    "extensions": (f"{_CONTRIB}/extension/basicauthextension {OTELCOL_VERSION}",),
}

# Debian packages of the local stack, with the binary that proves each is installed: PostgreSQL and
# nginx run from them; Prometheus 2.42 is kept for the tests that run every query on both majors.
DEBIAN_PACKAGES: dict[str, str] = {
    "prometheus": "/usr/bin/prometheus",
    "postgresql": "/usr/lib/postgresql/*/bin/postgres",
    "nginx": "/usr/sbin/nginx",
}


@dataclass(frozen=True)
class Chart:
    """A Helm chart by repository and exact version."""

    name: str
    repo: str
    version: str


# Chart repositories are where pinned charts come from, not endpoints of the stack.
_PROMETHEUS_COMMUNITY = "https://prometheus-community.github.io/helm-charts"
_GRAFANA = "https://grafana.github.io/helm-charts"
CHARTS = {
    "ingress-nginx": Chart("ingress-nginx", "https://kubernetes.github.io/ingress-nginx", "4.13.0"),
    "kube-prometheus-stack": Chart("kube-prometheus-stack", _PROMETHEUS_COMMUNITY, "75.15.1"),
    "opentelemetry-operator": Chart(
        "opentelemetry-operator", "https://open-telemetry.github.io/opentelemetry-helm-charts", "0.93.0"
    ),
    "prometheus-postgres-exporter": Chart("prometheus-postgres-exporter", _PROMETHEUS_COMMUNITY, "6.10.2"),
    "loki-stack": Chart("loki-stack", _GRAFANA, "2.10.2"),
    "tempo": Chart("tempo", _GRAFANA, "1.23.3"),
    # installed by the deployer on kind (a fresh kind cluster has no cert-manager)
    "cert-manager": Chart("cert-manager", "https://charts.jetstack.io", "v1.21.1"),
}
# The image the OpenTelemetry operator runs collectors from, at OTELCOL_VERSION: one
# collector version on clusters and in the local stack.
COLLECTOR_IMAGE = "otel/opentelemetry-collector-contrib"
# The PostgreSQL the deployer runs where POSTGRES_HOST has no external database (kind).
POSTGRES_IMAGE = "postgres:17.6"
# loki-stack defaults to Loki 2.6.1, which has no OTLP endpoint.
LOKI_IMAGE_TAG = "3.5.3"
HELM_TIMEOUT = "10m"
# helm as the deployer and the render tests run it: built from the Go module proxy (deployer/toolchain/helm_build.py)
HELM_VERSION = "v3.22.0"
# The kwok target's control plane (deployer/toolchain/kube_build.py): kube-apiserver, controller-manager,
# scheduler and kubectl from the k8s.io/kubernetes module, etcd built inside that module copy (the
# etcd its go.mod requires), kwok for the nodes and the pods' lifecycle.
KUBERNETES_VERSION = "v1.33.13"
KWOK_VERSION = "v0.8.0"
# The operators the kwok target runs as processes (deployer/toolchain/operator_build.py), at the
# versions the charts above deploy; cert-manager's controller through the project's own entry
# point (deployer/toolchain/certmanager), linked against the chart's cert-manager module version.
PROMETHEUS_OPERATOR = SourceModule(
    "prometheus-operator",
    "github.com/prometheus-operator/prometheus-operator",
    PROMETHEUS_OPERATOR_VERSION,
    "./cmd/operator",
    PROMETHEUS_OPERATOR_VERSION.lstrip("v"),
)
OPENTELEMETRY_OPERATOR = SourceModule(
    "opentelemetry-operator",
    "github.com/open-telemetry/opentelemetry-operator",
    f"v{OPENTELEMETRY_OPERATOR_VERSION}",
    ".",
)
CERT_MANAGER_VERSION = CHARTS["cert-manager"].version
