"""Which client class serves which backend, chosen by the env (LOGS_BACKEND, TRACES_BACKEND)."""

from __future__ import annotations

from obs_conformance.clients.alertmanager import AlertmanagerClient
from obs_conformance.clients.jaeger import JaegerClient
from obs_conformance.clients.logs import LogStore
from obs_conformance.clients.loki import LokiClient
from obs_conformance.clients.prometheus import PrometheusClient
from obs_conformance.clients.slack_mock import SlackMockClient
from obs_conformance.clients.tempo import TempoClient
from obs_conformance.clients.traces import TraceStore
from obs_conformance.clients.victorialogs import VictoriaLogsClient
from obs_conformance.envconf import Environment

LOG_STORES: dict[str, type[LokiClient] | type[VictoriaLogsClient]] = {
    "loki": LokiClient,
    "victorialogs": VictoriaLogsClient,
}
TRACE_STORES: dict[str, type[TempoClient] | type[JaegerClient]] = {"tempo": TempoClient, "jaeger": JaegerClient}


def _timeout(env: Environment, override: float | None = None) -> float:
    return override if override is not None else env.duration("HTTP_TIMEOUT").seconds


def prometheus(env: Environment, timeout: float | None = None) -> PrometheusClient:
    return PrometheusClient(env.text("PROMETHEUS_URL"), _timeout(env, timeout))


def alertmanager(env: Environment, timeout: float | None = None) -> AlertmanagerClient:
    return AlertmanagerClient(env.text("ALERTMANAGER_URL"), _timeout(env, timeout))


def log_store(env: Environment, timeout: float | None = None) -> LogStore:
    return LOG_STORES[env.text("LOGS_BACKEND")](env.text("LOGS_URL"), _timeout(env, timeout))


def trace_store(env: Environment, timeout: float | None = None) -> TraceStore:
    return TRACE_STORES[env.text("TRACES_BACKEND")](env.text("TRACES_URL"), _timeout(env, timeout))


def slack_mock(env: Environment, timeout: float | None = None) -> SlackMockClient:
    return SlackMockClient(env.text("SLACK_MOCK_URL"), _timeout(env, timeout))
