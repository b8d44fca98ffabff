"""The canary's rule group, rendered from ``canary/templates/canary-rules.yaml.j2`` for both homes:
a rule file for a Prometheus of processes (the local stack) and a PrometheusRule for the operator."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

TEMPLATES = Path(__file__).resolve().parent / "templates"
GROUP = "obs-conformance-canary"
JOB = "obs-conformance-canary"


@dataclass(frozen=True)
class RuleSettings:
    """What the alerts wait for; the defaults suit a canary of a few minutes' period."""

    namespace: str
    channel: str = "#monitoring"
    job: str = JOB
    failing_rounds: int = 3
    down_for: str = "10m"
    stale_rounds: int = 3
    missing_window: str = "1h"
    missing_ratio: float = 0.05
    missing_for: str = "15m"


_jinja = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    undefined=jinja2.StrictUndefined,
    variable_start_string="[[",
    variable_end_string="]]",
    block_start_string="[%",
    block_end_string="%]",
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701 - renders YAML, not HTML
)


def rule_groups(settings: RuleSettings) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(
        _jinja.get_template("canary-rules.yaml.j2").render(**asdict(settings))
    )
    return groups


def rule_file(settings: RuleSettings) -> str:
    """A Prometheus rule file (``groups:``)."""
    return yaml.safe_dump({"groups": rule_groups(settings)}, sort_keys=False, allow_unicode=True)


def prometheus_rule(settings: RuleSettings, name: str = GROUP, release: str = "prom-stack") -> dict[str, Any]:
    """The same groups as a PrometheusRule the operator's ``release`` selector picks up."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "namespace": settings.namespace, "labels": {"release": release}},
        "spec": {"groups": rule_groups(settings)},
    }
