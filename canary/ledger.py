"""The canary's ledger, like loki-canary's: its own probes per signal, and what became of each.

Every round sends one probe per signal (a log record, a trace, a gauge sample) carrying a probe id
of its own, so neither the suites' checks nor a one-shot run on the same stack can be mistaken for
it, and waits for each until the signal's deadline (the env's ``<SIGNAL>_DEADLINE``): found in time
(its send -> visible latency observed), or pending. A pending probe is looked up once per later
round, ``retries`` times: found late, else missing. A probe the backend holds more than once counts
as a duplicate. The ledger keeps at most ``capacity`` pending probes: the oldest beyond that count
as missing, so a long outage costs no memory.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from obs_conformance.canary.metrics import CanaryMetrics
from obs_conformance.clients import registry
from obs_conformance.clients.errors import BackendError, WaitTimeout
from obs_conformance.clients.polling import Observation, Patience, wait_for
from obs_conformance.envconf import Environment

SIGNALS = ("logs", "traces", "metrics")
SERVICE = "obs-conformance-canary"
PROBE_METRIC = "conformance.canary_probe"  # conformance_canary_probe in Prometheus

Locate = Callable[[], int]
"""How many copies of the probe the backend holds now (0: not visible yet); raises BackendError."""


@dataclass
class Probe:
    signal: str
    probe_id: str
    sent_at: float  # monotonic
    locate: Locate
    lookups_left: int


class Ledger:
    """Sends and follows the canary's probes; one ``round`` at a time, from the canary's loop."""

    def __init__(
        self,
        env: Environment,
        metrics: CanaryMetrics,
        canary_id: str,
        signals: tuple[str, ...] = SIGNALS,
        retries: int = 3,
        capacity: int = 300,
    ) -> None:
        from obs_conformance.fixtures.emitters import OtlpEmitter  # the OTel SDK loads with the first round

        self.env = env
        self.metrics = metrics
        self.canary_id = canary_id
        self.signals = signals
        self.retries = retries
        self.pending: deque[Probe] = deque()
        self.capacity = capacity
        self.emitter = OtlpEmitter(env, canary_id)
        self.numbers = itertools.count(1)
        self.timeout = env.duration("HTTP_TIMEOUT").seconds
        self.deadlines = {
            "logs": env.duration("LOG_DEADLINE").seconds,
            "traces": env.duration("TRACE_DEADLINE").seconds,
            "metrics": env.duration("METRIC_DEADLINE").seconds,
        }
        self.poll_max = env.duration("POLL_MAX_INTERVAL").seconds
        for signal in SIGNALS:  # every series from the start: a rate over a fresh canary is 0, not absent
            for counter in (
                metrics.sent,
                metrics.found_in_time,
                metrics.found_late,
                metrics.missing,
                metrics.duplicates,
            ):
                counter.labels(signal)
            metrics.pending.labels(signal).set(0)
            metrics.latency.labels(signal)

    def start(self) -> threading.Thread:
        """The round's ledger work (look again at pending probes, send, wait) beside the round's checks."""
        thread = threading.Thread(target=self.round, name="obsconf-canary-ledger", daemon=True)
        thread.start()
        return thread

    def round(self) -> None:
        self._look_again()
        number = next(self.numbers)
        sent: list[Probe] = []
        for signal in self.signals:
            try:
                sent.append(self._send(signal, f"{self.canary_id}-{number}-{signal}"))
            except Exception:  # a refused send is a probe that can never be found
                self.metrics.sent.labels(signal).inc()
                self.metrics.missing.labels(signal).inc()
        with ThreadPoolExecutor(max_workers=max(len(sent), 1), thread_name_prefix="obsconf-canary-probe") as pool:
            for probe, found in zip(sent, pool.map(self._wait, sent), strict=True):
                if not found:
                    self._keep(probe)
        self._count_pending()

    def _send(self, signal: str, probe_id: str) -> Probe:
        if signal == "logs":
            store = registry.log_store(self.env, self.timeout)
            body = f"obs-conformance canary probe {probe_id}"
            self.emitter.send_log(SERVICE, probe_id, body=body)
            selector = {"service.name": SERVICE, "environment": self.env.text("ENV_NAME")}

            def logs() -> int:
                return sum(record.body == body for record in store.find(selector, probe_id))

            locate: Locate = logs
        elif signal == "traces":
            traces = registry.trace_store(self.env, self.timeout)
            trace = self.emitter.send_trace(SERVICE, probe_id)
            wanted = [span.span_id for span in trace.spans]

            def spans() -> int:
                found = [span.span_id for span in traces.get_trace(trace.trace_id)]
                return min(found.count(span_id) for span_id in wanted)

            locate = spans
        else:
            prometheus = registry.prometheus(self.env, self.timeout)
            self.emitter.send_gauge(SERVICE, PROBE_METRIC, {"probe_id": probe_id}, 1.0)
            promql = f'{PROBE_METRIC.replace(".", "_")}{{probe_id="{probe_id}"}}'

            def series() -> int:
                return len(prometheus.query(promql))

            locate = series
        self.metrics.sent.labels(signal).inc()
        return Probe(signal, probe_id, time.monotonic(), locate, self.retries)

    def _wait(self, probe: Probe) -> bool:
        """Until the probe is visible or its deadline passed; True if it was found in time."""

        def look() -> Observation[int]:
            copies = probe.locate()
            return Observation(copies, copies > 0, f"{copies} copies")

        remaining = self.deadlines[probe.signal] - (time.monotonic() - probe.sent_at)
        try:
            waited = wait_for(
                look,
                patience=Patience(max(remaining, 0.0), self.poll_max),
                expected=f"canary probe {probe.probe_id}",
                where=probe.signal,
            )
        except (WaitTimeout, BackendError):
            return False
        self.metrics.latency.labels(probe.signal).observe(time.monotonic() - probe.sent_at)
        self.metrics.found_in_time.labels(probe.signal).inc()
        if waited.value > 1:
            self.metrics.duplicates.labels(probe.signal).inc()
        return True

    def _keep(self, probe: Probe) -> None:
        self.pending.append(probe)
        while len(self.pending) > self.capacity:
            self.metrics.missing.labels(self.pending.popleft().signal).inc()

    def _look_again(self) -> None:
        """One lookup per pending probe: found late, or one retry fewer (missing at none left)."""
        still: deque[Probe] = deque()
        for probe in self.pending:
            try:
                copies = probe.locate()
            except BackendError:
                copies = 0
            if copies > 0:
                self.metrics.found_late.labels(probe.signal).inc()
                if copies > 1:
                    self.metrics.duplicates.labels(probe.signal).inc()
                continue
            probe.lookups_left -= 1
            if probe.lookups_left <= 0:
                self.metrics.missing.labels(probe.signal).inc()
            else:
                still.append(probe)
        self.pending = still
        self._count_pending()

    def _count_pending(self) -> None:
        for signal in SIGNALS:
            self.metrics.pending.labels(signal).set(sum(p.signal == signal for p in self.pending))
