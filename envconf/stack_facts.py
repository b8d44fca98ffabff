"""Names the charts give the stack's objects, shared by the deployer and the k8s suites.

They follow from the release names of the design (prom-stack, loki-stack, tempo,
otel-collector, postgres-exporter), so they live beside the env, not in either user.
"""

from __future__ import annotations

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
