"""Every key an environment file may hold, its type, and whether it must be there.

One table, so the local, kind and dev files cannot drift apart silently: an
unknown key is an error (a typo would otherwise be ignored), and so is a missing
required one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from obs_conformance.envconf import values as v


@dataclass(frozen=True)
class Key:
    """How one key is parsed; ``required_on`` names the targets that need a key not ``required`` everywhere."""

    parse: Callable[[str], object]
    required: bool = True
    secret: bool = False
    required_on: tuple[str, ...] = ()


TARGETS = ("local", "kind", "kwok", "scaleway")
COMPONENTS = ("PROMETHEUS", "ALERTMANAGER", "LOKI", "TEMPO", "OTEL_COLLECTOR", "POSTGRES_EXPORTER")

KEYS: dict[str, Key] = {
    # identity
    "ENV_NAME": Key(v.parse_name),
    "CLUSTER_NAME": Key(v.parse_name),
    "DNS_DOMAIN": Key(v.parse_hostname),
    "TARGET": Key(v.parse_choice(*TARGETS)),
    "NAMESPACE": Key(v.parse_name),
    "APP_NAMESPACES": Key(v.parse_text),
    "TEAM_BY_NAMESPACE": Key(v.parse_text),
    "TEST_NAMESPACE": Key(v.parse_name),
    # cluster access, ingress and TLS
    "KUBE_CONTEXT": Key(v.parse_text, required=False),
    "INGRESS_CLASS": Key(v.parse_name),
    "BACKEND_ACCESS": Key(v.parse_choice("direct", "port-forward")),
    "INGRESS_ADDRESS": Key(v.parse_text, required=False),
    "INGRESS_HTTPS_PORT": Key(v.parse_port),
    "INGRESS_HTTP_PORT": Key(v.parse_port),
    # basic authentication at the front door (ingress-nginx, the local nginx): on unless INGRESS_AUTH="off",
    # which the security checks then report as a waived risk; the password is a secret (below)
    "INGRESS_AUTH": Key(v.parse_choice("basic", "off"), required=False),
    "INGRESS_AUTH_USER": Key(v.parse_name, required=False),
    # basic authentication on the collector's OTLP receivers (its basicauth extension): on unless
    # OTLP_AUTH="off", reported as a waived risk like INGRESS_AUTH; the password is a secret (below)
    "OTLP_AUTH": Key(v.parse_choice("basic", "off"), required=False),
    "OTLP_AUTH_USER": Key(v.parse_name, required=False),
    "CLUSTER_ISSUER": Key(v.parse_name),
    "ISSUER_TYPE": Key(v.parse_choice("acme", "selfsigned")),
    "ACME_SERVER": Key(v.parse_url, required=False),
    "ACME_EMAIL": Key(v.parse_text, required=False),
    "CERT_MIN_DAYS": Key(v.parse_port),
    "PVC_USAGE_MAX": Key(v.parse_fraction),
    "SNAPSHOT_SERIES_DROP_MAX": Key(v.parse_fraction),
    "POD_RESTARTS_MAX": Key(v.parse_port),
    # the external PostgreSQL the exporter watches (clusters)
    "POSTGRES_HOST": Key(v.parse_hostname, required=False),
    "POSTGRES_PORT": Key(v.parse_port, required=False),
    "POSTGRES_DATABASE": Key(v.parse_identifier, required=False),
    # storage
    "STORAGE_CLASS": Key(v.parse_name),
    "PROMETHEUS_STORAGE_SIZE": Key(v.parse_quantity),
    "LOKI_STORAGE_SIZE": Key(v.parse_quantity),
    "ALERTMANAGER_STORAGE_SIZE": Key(v.parse_quantity),
    "TEMPO_STORAGE_SIZE": Key(v.parse_quantity),
    # the StorageClass of the PVCs prometheus-operator makes, where it differs from STORAGE_CLASS (the default)
    "PROMETHEUS_STORAGE_CLASS": Key(v.parse_name, required=False),
    "ALERTMANAGER_STORAGE_CLASS": Key(v.parse_name, required=False),
    # where the backends are reached
    "PROMETHEUS_URL": Key(v.parse_url),
    "ALERTMANAGER_URL": Key(v.parse_url),
    "LOGS_BACKEND": Key(v.parse_choice("loki", "victorialogs")),
    "LOGS_URL": Key(v.parse_url),
    "TRACES_BACKEND": Key(v.parse_choice("tempo", "jaeger")),
    "TRACES_URL": Key(v.parse_url),
    "OTLP_GRPC_ENDPOINT": Key(v.parse_endpoint),
    "OTLP_HTTP_URL": Key(v.parse_url),
    "SLACK_MOCK_URL": Key(v.parse_url),
    "SLACK_CHANNEL": Key(v.parse_text),
    # behaviour the checks hold the stack to
    "SCRAPE_INTERVAL": Key(v.parse_duration),
    "SCRAPE_JOBS": Key(v.parse_text),
    "COLLECTOR_JOB": Key(v.parse_text),
    "EVALUATION_INTERVAL": Key(v.parse_duration),
    "LOG_RETENTION": Key(v.parse_duration),
    "ALERT_GROUP_WAIT": Key(v.parse_duration),
    "ALERT_GROUP_INTERVAL": Key(v.parse_duration),
    "BATCH_TIMEOUT": Key(v.parse_duration),
    "HTTP_TIMEOUT": Key(v.parse_duration),
    "TRACE_DEADLINE": Key(v.parse_duration),
    "LOG_DEADLINE": Key(v.parse_duration),
    "METRIC_DEADLINE": Key(v.parse_duration),
    "ALERT_DEADLINE": Key(v.parse_duration),
    "POLL_MAX_INTERVAL": Key(v.parse_duration),
    "STACK_START_DEADLINE": Key(v.parse_duration),
    # how long a cluster `up` waits, after its steps, for what the operators make (StatefulSets, PVCs, Certificates)
    "DEPLOY_READY_DEADLINE": Key(v.parse_duration, required=False, required_on=("kind", "kwok", "scaleway")),
    # the conformance canary (charts/obs-conformance-canary) installed by a cluster `up` after its eleven steps:
    # off unless CANARY="on" (or `up --with-canary`)
    "CANARY": Key(v.parse_choice("on", "off"), required=False),
    # secrets: never in git, read from the process environment or secrets.env
    "SLACK_WEBHOOK_URL": Key(v.parse_url, required=False, secret=True),
    "POSTGRES_EXPORTER_PASSWORD": Key(v.parse_text, required=False, secret=True),
    "POSTGRES_EXPORTER_USER": Key(v.parse_identifier),
    # the front door's basic-auth password (the local stack generates one when unset)
    "INGRESS_AUTH_PASSWORD": Key(v.parse_text, required=False, secret=True),
    # what OTLP senders authenticate with (the local stack generates one when unset)
    "OTLP_AUTH_PASSWORD": Key(v.parse_text, required=False, secret=True),
    # the local stack's own listeners, beside the URLs above
    "LOCAL_NODE_EXPORTER_PORT": Key(v.parse_port, required=False, required_on=("local",)),
    "LOCAL_POSTGRES_PORT": Key(v.parse_port, required=False, required_on=("local",)),
    "LOCAL_POSTGRES_EXPORTER_PORT": Key(v.parse_port, required=False, required_on=("local",)),
    "LOCAL_COLLECTOR_TELEMETRY_PORT": Key(v.parse_port, required=False, required_on=("local",)),
    "LOCAL_COLLECTOR_PROMETHEUS_PORT": Key(v.parse_port, required=False, required_on=("local",)),
    "LOCAL_TRACES_OTLP_GRPC_PORT": Key(v.parse_port, required=False, required_on=("local",)),
    "LOCAL_TRACES_OTLP_HTTP_PORT": Key(v.parse_port, required=False, required_on=("local",)),
    "LOCAL_TRACES_TELEMETRY_PORT": Key(v.parse_port, required=False, required_on=("local",)),
    "LOCAL_LOG_AGENT_TELEMETRY_PORT": Key(v.parse_port, required=False, required_on=("local",)),
    # the kwok target's control plane (python -m deployer local up --env kwok), all on loopback
    "KUBECONFIG_FILE": Key(v.parse_text, required=False, required_on=("kwok",)),
    "LOCAL_ETCD_PORT": Key(v.parse_port, required=False, required_on=("kwok",)),
    "LOCAL_ETCD_PEER_PORT": Key(v.parse_port, required=False, required_on=("kwok",)),
    "LOCAL_KUBE_APISERVER_PORT": Key(v.parse_port, required=False, required_on=("kwok",)),
    "LOCAL_KUBE_CONTROLLER_MANAGER_PORT": Key(v.parse_port, required=False, required_on=("kwok",)),
    "LOCAL_KUBE_SCHEDULER_PORT": Key(v.parse_port, required=False, required_on=("kwok",)),
    "LOCAL_KWOK_PORT": Key(v.parse_port, required=False, required_on=("kwok",)),
    # the operators run as processes beside it (deployer/targets/kwok/operators.py): metrics and health on loopback
    "LOCAL_PROMETHEUS_OPERATOR_PORT": Key(v.parse_port, required=False, required_on=("kwok",)),
    "LOCAL_OTEL_OPERATOR_METRICS_PORT": Key(v.parse_port, required=False, required_on=("kwok",)),
    "LOCAL_OTEL_OPERATOR_HEALTH_PORT": Key(v.parse_port, required=False, required_on=("kwok",)),
    "LOCAL_CERT_MANAGER_METRICS_PORT": Key(v.parse_port, required=False, required_on=("kwok",)),
    "LOCAL_CERT_MANAGER_HEALTH_PORT": Key(v.parse_port, required=False, required_on=("kwok",)),
}

for _component in COMPONENTS:
    KEYS[f"{_component}_CPU_REQUEST"] = Key(v.parse_cpu)
    KEYS[f"{_component}_CPU_LIMIT"] = Key(v.parse_cpu)
    KEYS[f"{_component}_MEMORY_REQUEST"] = Key(v.parse_quantity)
    KEYS[f"{_component}_MEMORY_LIMIT"] = Key(v.parse_quantity)

SECRET_KEYS = tuple(name for name, key in KEYS.items() if key.secret)
