"""What the canary exports: every metric named ``obs_conformance_...``, in a registry of its own.

A registry per canary (not prometheus_client's global one) so the bench and the tests can run
several in one process; only the canary's own series are served, not the client's process metrics
under other names.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# send -> visible, from the local stack's sub-second pipelines to a cluster's scrape intervals
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class CanaryMetrics:
    """The canary's series: per check, per signal (latency and the ledger), per round."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.check_success = Gauge(
            "obs_conformance_check_success",
            "1 if the check passed in its last round, 0 if it failed",
            ["check"],
            registry=r,
        )
        self.check_runs = Counter("obs_conformance_check_runs", "Rounds in which the check ran", ["check"], registry=r)
        self.check_failures = Counter(
            "obs_conformance_check_failures", "Rounds in which the check failed, errored or hung", ["check"], registry=r
        )
        self.check_consecutive_failures = Gauge(
            "obs_conformance_check_consecutive_failures", "Rounds in a row the check has failed", ["check"], registry=r
        )
        self.check_duration = Gauge(
            "obs_conformance_check_duration_seconds", "The check's duration in its last round", ["check"], registry=r
        )
        self.latency = Histogram(
            "obs_conformance_signal_latency_seconds",
            "Send to visible of the canary's own probes, per signal",
            ["signal"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.sent = Counter("obs_conformance_ledger_sent", "Probes sent", ["signal"], registry=r)
        self.found_in_time = Counter(
            "obs_conformance_ledger_found_in_time",
            "Probes visible before the signal's deadline",
            ["signal"],
            registry=r,
        )
        self.found_late = Counter(
            "obs_conformance_ledger_found_late",
            "Probes first seen on a later round, past the deadline",
            ["signal"],
            registry=r,
        )
        self.missing = Counter(
            "obs_conformance_ledger_missing",
            "Probes never seen within the rounds they are looked up again",
            ["signal"],
            registry=r,
        )
        self.duplicates = Counter(
            "obs_conformance_ledger_duplicates", "Probes seen more than once in the backend", ["signal"], registry=r
        )
        self.pending = Gauge(
            "obs_conformance_ledger_pending",
            "Probes past their deadline, still looked up each round",
            ["signal"],
            registry=r,
        )
        self.round_started = Gauge(
            "obs_conformance_round_started_timestamp_seconds", "When the last round started (Unix seconds)", registry=r
        )
        self.round_finished = Gauge(
            "obs_conformance_round_finished_timestamp_seconds",
            "When the last round finished (Unix seconds)",
            registry=r,
        )
        self.round_duration = Gauge(
            "obs_conformance_round_duration_seconds", "How long the last round took", registry=r
        )
        self.round_success = Gauge(
            "obs_conformance_round_success", "1 if the last round's verdict was passed", registry=r
        )
        self.rounds = Counter("obs_conformance_rounds", "Rounds by verdict", ["verdict"], registry=r)
        self.round_interval = Gauge(
            "obs_conformance_round_interval_seconds",
            "The canary's --every, for the rules' staleness threshold",
            registry=r,
        )
        self.round_deadline = Gauge(
            "obs_conformance_round_deadline_seconds", "How long a round may take before it is cut", registry=r
        )
        self.backend_info = Gauge(
            "obs_conformance_backend_info",
            "Backends the last round saw, by version (1) or unreachable",
            ["component", "version"],
            registry=r,
        )

    def backends(self, seen: dict[str, str]) -> None:
        """The versions of the last round only: a backend upgraded between rounds shows its new version alone."""
        self.backend_info.clear()
        for component, version in seen.items():
            self.backend_info.labels(component, "unreachable" if version.startswith("UNREACHABLE") else version).set(1)
