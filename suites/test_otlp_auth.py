"""Who may write to the collector: its OTLP endpoints (the env's OTLP_GRPC_ENDPOINT and OTLP_HTTP_URL)
refuse anonymous traces, logs and metrics, over gRPC (``UNAUTHENTICATED``) and HTTP (401), take the env's
OTLP credentials (fixtures/otlp_auth.py; every sender of the suite carries them, so the whole run proves
it too), and count what they refused, so a user sees the attempts.

Where the count is: the collector's basicauth refuses before the OTLP receiver sees a request, so
``otelcol_receiver_refused_*`` stays as it was (read in configgrpc/confighttp v0.165.0: the auth
interceptor answers first). The collector's own gRPC and HTTP server instrumentation counts every
request with its answer at telemetry level ``detailed``: ``rpc_server_call_duration`` by
``rpc_method`` (one per signal) and ``rpc_response_status_code``, ``http_server_request_duration`` by
``http_response_status_code`` (no route: one count for the three signals). The check reads them in
Prometheus (job COLLECTOR_JOB), growth from just before its own anonymous sends.

An env that turned OTLP authentication off (``OTLP_AUTH="off"``) gets each exposure reported as a
waived risk (terminal, summary.json, report.html), never a silent pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from obs_conformance.clients.otlp_probe import GRPC_METHODS, SIGNALS, OtlpAnswer, grpc_export, http_export
from obs_conformance.clients.polling import Observation, Patience, wait_for
from obs_conformance.clients.prometheus import PrometheusClient, Sample
from obs_conformance.envconf import Environment
from obs_conformance.fixtures.otlp_auth import otlp_credentials, otlp_headers
from obs_conformance.fixtures.readback import SeriesKey, current_values, fresh, grown_by, prometheus_time, series_values

pytestmark = [pytest.mark.security]

PROTOCOLS = ("grpc", "http")
REFUSED = {"grpc": "UNAUTHENTICATED", "http": "401"}
ACCEPTED = {"grpc": "OK", "http": "200"}


def export(env: Environment, protocol: str, signal: str, headers: dict[str, str]) -> OtlpAnswer:
    """One empty export of ``signal`` to the env's OTLP endpoint of ``protocol``."""
    timeout = env.duration("HTTP_TIMEOUT").seconds
    if protocol == "http":
        return http_export(env.text("OTLP_HTTP_URL"), signal, headers, timeout)
    secure = not env.text("OTLP_HTTP_URL").startswith("http://")  # as the emitters decide
    return grpc_export(str(env.endpoint("OTLP_GRPC_ENDPOINT")), signal, headers, secure, timeout)


@pytest.mark.parametrize("signal", SIGNALS)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_otlp_refuses_anonymous_and_accepts_the_env_credentials(
    env: Environment, waive_risk: Callable[[str], None], protocol: str, signal: str
) -> None:
    anonymous = export(env, protocol, signal, {})
    if not env.otlp_auth:
        waive_risk(f'collector: {anonymous.shown()}: anyone who reaches it writes {signal} (OTLP_AUTH="off")')
        return
    assert anonymous.answer == REFUSED[protocol], (
        f"collector: {anonymous.shown()}, expected {REFUSED[protocol]} "
        f"(basic authentication, OTLP_AUTH={env.values.get('OTLP_AUTH', 'basic')!r})"
    )
    credentials = otlp_credentials(env)
    assert credentials is not None
    authenticated = export(env, protocol, signal, otlp_headers(env))
    assert authenticated.answer == ACCEPTED[protocol], (
        f"collector: {authenticated.shown()} as {credentials[0]!r}, expected {ACCEPTED[protocol]} "
        "(the env's OTLP credentials must be let in)"
    )


@dataclass(frozen=True)
class Counter:
    """One of the collector's counts of refused requests: what it is, its series, how much it must grow.

    Prometheus 3.x keeps the collector's dotted names (``rpc.server.call.duration_count``, label
    ``rpc.method``), 2.x escapes them with ``_``: the name is matched by a pattern and the labels are
    compared here with ``.`` read as ``_`` (2.x cannot parse 3.x's quoted label names).
    """

    name: str
    selector: str
    labels: dict[str, str]
    refused: int

    def of(self, series: dict[SeriesKey, Sample]) -> dict[SeriesKey, Sample]:
        def matches(key: SeriesKey) -> bool:
            found = {label.replace(".", "_"): value for label, value in key}
            return all(found.get(label) == value for label, value in self.labels.items())

        return {key: sample for key, sample in series.items() if matches(key)}


def refusal_counters(env: Environment) -> list[Counter]:
    job = env.text("COLLECTOR_JOB")
    rpc = f'{{__name__=~"rpc[._]server[._]call[._]duration(_seconds)?_count", job="{job}"}}'
    http = f'{{__name__=~"http[._]server[._]request[._]duration(_seconds)?_count", job="{job}"}}'
    grpc_counters = [
        Counter(
            f"rpc_server_call_duration_count{{rpc_method={GRPC_METHODS[signal]!r}, UNAUTHENTICATED}}",
            rpc,
            {"rpc_method": GRPC_METHODS[signal], "rpc_response_status_code": "UNAUTHENTICATED"},
            1,
        )
        for signal in SIGNALS
    ]
    http_counter = Counter(
        "http_server_request_duration_count{POST, 401}",
        http,
        {"http_request_method": "POST", "http_response_status_code": "401"},
        len(SIGNALS),
    )
    return [*grpc_counters, http_counter]


def test_refused_otlp_requests_are_counted(
    env: Environment,
    prometheus: PrometheusClient,
    patience: Callable[[str], Patience],
    waive_risk: Callable[[str], None],
) -> None:
    """Anonymous exports of each signal over both protocols, then the collector's counts of refused requests
    (as Prometheus scrapes them) grow by at least what was refused, series by series from just before."""
    if not env.otlp_auth:
        waive_risk('collector: OTLP_AUTH="off": nothing is refused, so no attempt is counted')
        return
    counters = refusal_counters(env)
    since = prometheus_time(prometheus)
    interval = env.duration("SCRAPE_INTERVAL").seconds
    before = {c.name: c.of(current_values(prometheus, c.selector, since, interval)) for c in counters}
    answers = [export(env, protocol, signal, {}) for protocol in PROTOCOLS for signal in SIGNALS]
    not_refused = [a.shown() for a in answers if a.answer not in REFUSED.values()]
    assert not not_refused, f"collector: anonymous exports not refused: {not_refused}"

    def probe() -> Observation[dict[str, float]]:
        grown = {
            c.name: sum(grown_by(before[c.name], c.of(series_values(prometheus, fresh(c.selector, since)))).values())
            for c in counters
        }
        short = {c.name: grown[c.name] for c in counters if grown[c.name] < c.refused}
        return Observation(grown, not short, f"grown {grown}")

    wait_for(
        probe,
        patience=patience("METRIC"),
        expected="each count to grow by what was refused: " + ", ".join(f"{c.name} +{c.refused}" for c in counters),
        where=f"Prometheus (job {env.text('COLLECTOR_JOB')}): GET {prometheus.query_url(counters[0].selector)} ...",
    )
