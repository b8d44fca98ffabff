"""Which client class serves which backend, chosen by the env (LOGS_BACKEND, TRACES_BACKEND)."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

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


FRONT_DOOR_SERVICES = ("prometheus", "alertmanager", "loki", "tempo")


def _session(env: Environment, url: str) -> requests.Session | None:
    """A session with the env's basic-auth credentials when ``url`` goes through the front door (an ingress
    host of the env, as on kind and dev) and the env asks for them; None for a direct or forwarded URL."""
    if not env.front_door_auth or "INGRESS_AUTH_PASSWORD" not in env.secrets:
        return None
    if urlsplit(url).hostname not in {env.host(service) for service in FRONT_DOOR_SERVICES}:
        return None
    session = requests.Session()
    session.auth = (env.front_door_user, env.secret("INGRESS_AUTH_PASSWORD").reveal())
    return session


def prometheus(env: Environment, timeout: float | None = None) -> PrometheusClient:
    url = env.text("PROMETHEUS_URL")
    return PrometheusClient(url, _timeout(env, timeout), _session(env, url))


def alertmanager(env: Environment, timeout: float | None = None) -> AlertmanagerClient:
    url = env.text("ALERTMANAGER_URL")
    return AlertmanagerClient(url, _timeout(env, timeout), _session(env, url))


def log_store(env: Environment, timeout: float | None = None) -> LogStore:
    url = env.text("LOGS_URL")
    return LOG_STORES[env.text("LOGS_BACKEND")](url, _timeout(env, timeout), _session(env, url))


def trace_store(env: Environment, timeout: float | None = None) -> TraceStore:
    url = env.text("TRACES_URL")
    return TRACE_STORES[env.text("TRACES_BACKEND")](url, _timeout(env, timeout), _session(env, url))


def slack_mock(env: Environment, timeout: float | None = None) -> SlackMockClient:
    return SlackMockClient(env.text("SLACK_MOCK_URL"), _timeout(env, timeout))
