"""Names the charts give the stack's objects, shared by the deployer and the k8s suites.

They follow from the release names of the design (prom-stack, loki-stack, tempo,
otel-collector, postgres-exporter), so they live beside the env, not in either user.
"""

from __future__ import annotations

# Resource attributes that are index (stream) labels of the log store: Loki's otlp_config on clusters
# (deployer/templates/cluster/loki-values.yaml.j2); VictoriaLogs' stream fields locally. Every other
# attribute (trace ids, the run and probe ids) is structured metadata, never an index label.
LOG_INDEX_LABELS = ("service.name", "namespace", "team", "environment", "cluster")

# The collector's own metrics port on clusters. opentelemetry-operator v0.131 (apis/v1beta1/config.go,
# Service.MetricsEndpoint) serves and scrapes 8888 (its container port and the -monitoring Service)
# whenever service.telemetry.metrics has readers, whatever port a reader names: ours must name this one.
OPERATOR_COLLECTOR_METRICS_PORT = 8888

# PVCs of the StatefulSets' volumeClaimTemplates, by the component whose size the env sets.
PVCS = {
    "PROMETHEUS": "prometheus-prom-stack-kube-prometheus-prometheus-db-prometheus-prom-stack-kube-prometheus-prometheus-0",
    "LOKI": "storage-loki-stack-0",
    "ALERTMANAGER": (
        "alertmanager-prom-stack-kube-prometheus-alertmanager-db-alertmanager-prom-stack-kube-prometheus-alertmanager-0"
    ),
    "TEMPO": "storage-tempo-0",
}

# Pod name prefix and main container of each component whose resources the env sets.
WORKLOADS = {
    "PROMETHEUS": ("prometheus-prom-stack-kube-prometheus-prometheus-", "prometheus"),
    "ALERTMANAGER": ("alertmanager-prom-stack-kube-prometheus-alertmanager-", "alertmanager"),
    "LOKI": ("loki-stack-0", "loki"),
    "TEMPO": ("tempo-0", "tempo"),
    "OTEL_COLLECTOR": ("otel-collector-collector-", "otc-container"),
    "POSTGRES_EXPORTER": ("postgres-exporter-prometheus-postgres-exporter-", "prometheus-postgres-exporter"),
}

# In-cluster Services behind each backend URL of the env, for access by port-forward:
# env key -> (Service name, Service port), as the charts of the design name them.
SERVICES = {
    "PROMETHEUS_URL": ("prom-stack-kube-prometheus-prometheus", 9090),
    "ALERTMANAGER_URL": ("prom-stack-kube-prometheus-alertmanager", 9093),
    "LOGS_URL": ("loki-stack", 3100),
    "TRACES_URL": ("tempo", 3200),
    "OTLP_HTTP_URL": ("otel-collector-collector", 4318),
    "OTLP_GRPC_ENDPOINT": ("otel-collector-collector", 4317),
}
