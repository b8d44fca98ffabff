"""The local stack's Prometheus and the canary: a scrape target and the canary's rule file, while it runs.

The local Prometheus loads rule files matching ``canary/rules/*.yaml`` and scrapes the targets listed
in ``canary/targets/*.json`` (file service discovery), both under the stack's config folder
(deployer/templates/local/prometheus.yml.j2). Empty, they add nothing: a stack without a canary has
no canary alert that fires, no canary rule the suites' rule coverage must find series for, and no
target down. A canary started with ``--local-prometheus`` writes both, reloads Prometheus and waits
until the rule group is loaded and the target scraped; it removes them when it stops.
"""

from __future__ import annotations

import json
from pathlib import Path

from obs_conformance.canary.rules import GROUP, JOB, RuleSettings, rule_file
from obs_conformance.clients import registry
from obs_conformance.clients.polling import Observation, wait_for
from obs_conformance.envconf import Environment

FOLDER = "canary"


class LocalPrometheus:
    def __init__(self, env: Environment) -> None:
        from obs_conformance.deployer.local import LocalStack

        self.env = env
        self.prometheus = registry.prometheus(env)
        folder = LocalStack(env).layout.config / FOLDER
        self.rules: Path = folder / "rules" / f"{GROUP}.yaml"
        self.targets: Path = folder / "targets" / f"{JOB}.json"

    def configured(self) -> bool:
        """Whether the running Prometheus has the canary's scrape job (a stack rendered before it has not)."""
        jobs = [job.get("job_name") for job in self.prometheus.config().get("scrape_configs") or []]
        return JOB in jobs

    def install(self, listen: str, settings: RuleSettings) -> None:
        """Scrape the canary at ``listen`` and load its rules; back when Prometheus has both."""
        self.rules.parent.mkdir(parents=True, exist_ok=True)
        self.targets.parent.mkdir(parents=True, exist_ok=True)
        self.rules.write_text(rule_file(settings))
        self.targets.write_text(json.dumps([{"targets": [listen], "labels": {"namespace": settings.namespace}}]))
        self.prometheus.request("POST", "/-/reload")

        def loaded() -> Observation[str]:
            groups = [g["name"] for g in self.prometheus.rule_groups()]
            scraped = [t for t in self.prometheus.targets() if t.job == JOB and t.health == "up"]
            ok = GROUP in groups and bool(scraped)
            return Observation("", ok, f"rule groups with {GROUP}: {GROUP in groups}; {JOB} targets up: {len(scraped)}")

        wait_for(
            loaded,
            deadline=self.env.duration("METRIC_DEADLINE").seconds,
            expected=f"rule group {GROUP} loaded and job {JOB} scraped",
            where=self.prometheus.url("/api/v1/rules and /api/v1/targets"),
        )

    def remove(self) -> None:
        """The stack as it was: no canary rules, no canary target."""
        self.rules.unlink(missing_ok=True)
        self.targets.unlink(missing_ok=True)
        self.prometheus.request("POST", "/-/reload")
