"""The cluster's generated configuration, run by the local stack: the one mapping from one to the other.

The local Prometheus loads the rule files prometheus-operator would write for the env's chart
render, and the local Alertmanager runs the config the operator would generate
(:mod:`deployer.cluster.operator_config`). Only what a pod reaches differently from a process on
this machine changes, in :func:`remap_alertmanager`: Slack webhook URLs (inline from a Secret, or a
file mounted from one) become the stack's 0600 webhook file, and template paths its config folder.
Rules need no mapping: their files are loaded as they are.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class ClusterConfig:
    """Rule files by name (their content as the operator writes it), and the generated Alertmanager config."""

    rule_files: dict[str, dict[str, Any]]
    alertmanager: dict[str, Any]

    def rules_digest(self) -> str:
        return hashlib.sha256(json.dumps(self.rule_files, sort_keys=True).encode()).hexdigest()


def remap_alertmanager(config: dict[str, Any], slack_webhook_file: Path, config_dir: Path) -> dict[str, Any]:
    """The cluster's Alertmanager config as the local Alertmanager runs it.

    Every Slack receiver posts to the URL in ``slack_webhook_file`` (the local Slack mock's hook):
    ``api_url`` (a Secret's value the operator wrote inline) and ``api_url_file`` (a Secret mounted
    in the pod) both become ``api_url_file`` of that file, so no URL is written into the config.
    ``templates`` globs move from the pod's config mount to ``config_dir``. Nothing else changes.
    """
    local = copy.deepcopy(config)
    for receiver in local.get("receivers") or []:
        for slack in receiver.get("slack_configs") or []:
            slack.pop("api_url", None)
            slack["api_url_file"] = str(slack_webhook_file)
    if local.get("templates"):
        local["templates"] = [str(config_dir / Path(t).name) for t in local["templates"]]
    return local


def dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1_000_000)
