"""What prometheus-operator v0.83.0 generates from the deploy: Prometheus' rule files, Alertmanager's config.

The cluster never runs the chart's objects as they are: the operator turns every selected
PrometheusRule into a rule file (ConfigMap ``prometheus-<name>-rulefiles-<n>``) and merges the
chart's ``alertmanager.yaml`` with every selected AlertmanagerConfig (Secret
``alertmanager-<name>-generated``). The local stack runs what this module computes for its own
env, so one chart render is the single source of the rules and routing both run; a project test
holds the model against what the real operator wrote on the kwok target.

Followed from the operator's source (tag v0.83.0):
- pkg/operator/rules.go ``Select``: one file per PrometheusRule the Prometheus' ``ruleSelector``
  selects, named ``<namespace>-<name>-<uid>.yaml`` (here without the UID, which only an API server
  assigns), holding the rule spec marshalled back (sigs.k8s.io/yaml); for Prometheus 3.x
  ``partial_response_strategy`` is dropped, an empty ``for`` or group ``interval`` left out.
  ``EnforceNamespaceLabel`` changes nothing unless the Prometheus sets ``enforcedNamespaceLabel``
  (the chart does not: refused here if it does).
- pkg/alertmanager/amcfg.go ``AddAlertmanagerConfigs``: AlertmanagerConfigs in the order of their
  ``<namespace>/<name>`` keys; each top route gets the receiver ``<ns>/<name>/<receiver>``,
  its matchers as ``name<op>"value"``, the matcher ``namespace="<ns>"`` appended (strategy
  OnNamespace, the chart's default) and ``continue: true``; these routes go before the chart's
  own routes; receivers are appended with the same prefix; a Slack ``apiURL`` secret is read and
  written inline as ``api_url``; inhibit rules get the namespace matcher on both sides.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from obs_conformance.deployer import pins
from obs_conformance.deployer.cluster.chart_render import RENDER_TIMEOUT, RenderError
from obs_conformance.deployer.cluster.manifests import context
from obs_conformance.deployer.render import render
from obs_conformance.deployer.targets.stack.cluster_config import ClusterConfig
from obs_conformance.deployer.toolchain.charts import ChartSource, load_all
from obs_conformance.deployer.toolchain.run import TimeoutExpired, run
from obs_conformance.envconf import Environment

CHART = "kube-prometheus-stack"
RELEASE = "prom-stack"
PROMETHEUS_NAME = f"{RELEASE}-kube-prometheus-prometheus"
ALERTMANAGER_NAME = f"{RELEASE}-kube-prometheus-alertmanager"
CHART_CONFIG_SECRET = f"alertmanager-{ALERTMANAGER_NAME}"
GENERATED_CONFIG_SECRET = f"alertmanager-{ALERTMANAGER_NAME}-generated"
RULEFILES_CONFIGMAP = f"prometheus-{PROMETHEUS_NAME}-rulefiles-0"
# Prometheus 3.x: the group and rule fields the operator's structs carry (others never reach the file)
_GROUP_FIELDS = ("name", "labels", "interval", "query_offset", "rules", "limit")
_RULE_FIELDS = ("record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations")
# AlertmanagerConfig Slack fields (camelCase) and their names in Alertmanager's config
_SLACK_FIELDS = {
    "sendResolved": "send_resolved", "channel": "channel", "username": "username", "color": "color",
    "title": "title", "titleLink": "title_link", "pretext": "pretext", "text": "text",
    "shortFields": "short_fields", "footer": "footer", "fallback": "fallback", "callbackId": "callback_id",
    "iconEmoji": "icon_emoji", "iconURL": "icon_url", "imageURL": "image_url", "thumbURL": "thumb_url",
    "linkNames": "link_names", "mrkdwnIn": "mrkdwn_in",
}  # fmt: skip
_ROUTE_FIELDS = {"groupWait": "group_wait", "groupInterval": "group_interval", "repeatInterval": "repeat_interval"}

SecretReader = Callable[[str, str, str], str]  # (namespace, secret name, key) -> value


class OperatorModelError(Exception):
    """The deploy uses an operator feature this model does not follow; the message names it."""


@dataclass(frozen=True)
class ChartOutput:
    """What the operator reads from the chart's render: its PrometheusRules, the Prometheus' rule
    selector, and the chart's ``alertmanager.yaml``."""

    rules: list[dict[str, Any]]
    rule_selector: dict[str, Any]
    alertmanager_yaml: str

    def to_json(self) -> str:
        return json.dumps(
            {"rules": self.rules, "rule_selector": self.rule_selector, "alertmanager_yaml": self.alertmanager_yaml}
        )

    @classmethod
    def from_json(cls, text: str) -> ChartOutput:
        data = json.loads(text)
        return cls(data["rules"], data["rule_selector"], data["alertmanager_yaml"])

    @classmethod
    def from_documents(cls, docs: Iterable[dict[str, Any]]) -> ChartOutput:
        import base64

        rules: list[dict[str, Any]] = []
        selector: dict[str, Any] | None = None
        config: str | None = None
        for doc in docs:
            kind, name = doc.get("kind"), (doc.get("metadata") or {}).get("name")
            if kind == "PrometheusRule":
                rules.append(doc)
            elif kind == "Prometheus" and name == PROMETHEUS_NAME:
                spec = doc.get("spec") or {}
                if spec.get("enforcedNamespaceLabel"):
                    raise OperatorModelError(f"Prometheus {name}: enforcedNamespaceLabel is not modelled")
                selector = spec.get("ruleSelector") or {}
            elif kind == "Secret" and name == CHART_CONFIG_SECRET:
                if "alertmanager.yaml" in (doc.get("stringData") or {}):
                    config = str(doc["stringData"]["alertmanager.yaml"])
                else:
                    config = base64.b64decode(doc["data"]["alertmanager.yaml"]).decode()
        if selector is None or config is None:
            raise RenderError(
                f"{CHART}: the render has no Prometheus {PROMETHEUS_NAME} or Secret {CHART_CONFIG_SECRET}"
            )
        return cls(rules, selector, config)


def chart_values(env: Environment) -> str:
    """The env's ``prometheus-values.yaml``, as ``deployer up`` renders it."""
    return render("cluster/prometheus-values.yaml.j2", context(env))


def conformance_rule(env: Environment) -> dict[str, Any]:
    """The suite's own PrometheusRule (its synthetic alert), as ``deployer up`` applies it."""
    doc: dict[str, Any] = yaml.safe_load(render("cluster/conformance-rules.yaml.j2", context(env)))
    return doc


def suite_alertmanager_configs(env: Environment, token: str = "local") -> list[dict[str, Any]]:  # noqa: S107
    """The AlertmanagerConfig the suites apply in the test namespace (deployer/cluster/slack_mock.py)."""
    from obs_conformance.deployer.cluster.slack_mock import manifests

    return [d for d in load_all(manifests(env, token)) if d.get("kind") == "AlertmanagerConfig"]


def _cache_dir() -> Path:
    from obs_conformance.deployer.toolchain.gobuild import cache_dir

    return cache_dir() / "render"


def render_chart(
    env: Environment, charts: ChartSource, values: str | None = None, helm: Path | None = None
) -> ChartOutput:
    """``helm template`` of kube-prometheus-stack with the env's values (or ``values``), through the pinned helm.

    Cached on disk by chart version, helm and Kubernetes versions and the values' digest, so only
    the first render of a values file runs helm (a warm ``up`` reads a small JSON file).
    """
    values = chart_values(env) if values is None else values
    namespace = env.text("NAMESPACE")
    chart = pins.CHARTS[CHART]
    key = hashlib.sha256(
        json.dumps([chart.name, chart.version, pins.HELM_VERSION, pins.KUBERNETES_VERSION, namespace, values]).encode()
    ).hexdigest()[:24]
    cached = _cache_dir() / f"{chart.name}-{chart.version}-operator-input-{key}.json"
    if cached.is_file():
        return ChartOutput.from_json(cached.read_text())
    if helm is None:
        from obs_conformance.deployer.toolchain.helm_build import build_helm

        helm = build_helm()
    with tempfile.TemporaryDirectory(prefix="obsconf-values-") as tmp:
        values_file = Path(tmp) / "prometheus-values.yaml"
        values_file.write_text(values)
        argv = [str(helm), "template", RELEASE, *charts.reference(CHART), "--namespace", namespace,
                "--kube-version", pins.KUBERNETES_VERSION, "-f", str(values_file)]  # fmt: skip
        try:
            done = run(argv, timeout=RENDER_TIMEOUT)
        except (OSError, TimeoutExpired) as e:
            raise RenderError(f"helm template of {chart.name} {chart.version}: {e}") from e
    if done.returncode != 0:
        raise RenderError(
            f"helm template of {chart.name} {chart.version} from {charts.describe()} exited {done.returncode}: "
            f"{done.stderr.strip()[-1500:]}"
        )
    output = ChartOutput.from_documents(load_all(done.stdout))
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp_file = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp_file.write_text(output.to_json())
    tmp_file.replace(cached)
    return output


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if selector.get("matchExpressions"):
        raise OperatorModelError(f"ruleSelector {selector}: matchExpressions are not modelled")
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _rule_spec(spec: dict[str, Any]) -> dict[str, Any]:
    groups = []
    for group in spec.get("groups") or []:
        out = {k: group[k] for k in _GROUP_FIELDS if k in group and k != "rules"}
        if not out.get("interval"):
            out.pop("interval", None)
        out["rules"] = [
            {k: rule[k] for k in _RULE_FIELDS if k in rule and (k != "for" or rule[k])} for rule in group["rules"]
        ]
        groups.append(out)
    return {"groups": groups}


def rule_file_name(namespace: str, name: str) -> str:
    """The operator's file name without the ``-<uid>`` it appends (the UID is the API server's)."""
    return f"{namespace}-{name}.yaml"


def rule_files(rules: Iterable[dict[str, Any]], selector: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The rule files the operator writes for the selected PrometheusRules, by file name (sorted)."""
    files = {}
    for rule in rules:
        meta = rule["metadata"]
        if _selects(selector, meta.get("labels") or {}):
            files[rule_file_name(meta.get("namespace", ""), meta["name"])] = _rule_spec(rule.get("spec") or {})
    return dict(sorted(files.items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _matchers(matchers: list[dict[str, Any]]) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """(``matchers`` strings, legacy ``match``, legacy ``match_re``) as convertRoute splits them."""
    strings: list[str] = []
    match: dict[str, str] = {}
    match_re: dict[str, str] = {}
    for m in matchers:
        if m.get("matchType"):
            strings.append(f'{m["name"]}{m["matchType"]}"{_escape(str(m.get("value", "")))}"')
        elif m.get("regex"):
            match_re[m["name"]] = str(m.get("value", ""))
        else:
            match[m["name"]] = str(m.get("value", ""))
    return strings, match, match_re


def _route(raw: dict[str, Any], prefix: str) -> dict[str, Any]:
    strings, match, match_re = _matchers(raw.get("matchers") or [])
    out: dict[str, Any] = {}
    if raw.get("receiver"):
        out["receiver"] = prefix + raw["receiver"]
    if raw.get("groupBy"):
        out["group_by"] = list(raw["groupBy"])
    if raw.get("continue"):
        out["continue"] = True
    if match:
        out["match"] = match
    if match_re:
        out["match_re"] = match_re
    if strings:
        out["matchers"] = strings
    out.update({name: raw[field] for field, name in _ROUTE_FIELDS.items() if raw.get(field)})
    if raw.get("routes"):
        out["routes"] = [_route(child, prefix) for child in raw["routes"]]
    for field in ("muteTimeIntervals", "activeTimeIntervals"):
        if raw.get(field):
            raise OperatorModelError(f"route {field} are not modelled")
    return out


def _receiver(raw: dict[str, Any], namespace: str, prefix: str, secret: SecretReader) -> dict[str, Any]:
    out: dict[str, Any] = {"name": prefix + raw["name"]}
    for kind in raw:
        if kind not in ("name", "slackConfigs"):
            raise OperatorModelError(f"receiver {raw['name']}: {kind} are not modelled (only slackConfigs)")
    slack = []
    for config in raw.get("slackConfigs") or []:
        unknown = set(config) - set(_SLACK_FIELDS) - {"apiURL"}
        if unknown:
            raise OperatorModelError(f"receiver {raw['name']}: Slack fields {sorted(unknown)} are not modelled")
        item: dict[str, Any] = {}
        if config.get("apiURL"):
            ref = config["apiURL"]
            item["api_url"] = secret(namespace, ref["name"], ref["key"]).strip()
        item.update({name: config[field] for field, name in _SLACK_FIELDS.items() if field in config})
        slack.append(item)
    if slack:
        out["slack_configs"] = slack
    return out


def _inhibit_rule(raw: dict[str, Any], namespace: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    on_namespace = f'namespace="{_escape(namespace)}"'
    for side in ("source", "target"):
        strings, match, match_re = _matchers(raw.get(side) or [])
        if match or match_re:
            raise OperatorModelError("inhibit rules with legacy (typeless) matchers are not modelled")
        out[f"{side}_matchers"] = [s for s in strings if not s.startswith('namespace=~"')]
        if on_namespace not in out[f"{side}_matchers"]:
            out[f"{side}_matchers"].append(on_namespace)
    if raw.get("equal"):
        out["equal"] = list(raw["equal"])
    return out


def generated_alertmanager_config(
    chart_config: str, alertmanager_configs: Iterable[dict[str, Any]], secret: SecretReader
) -> dict[str, Any]:
    """The config the operator writes to the generated Secret: the chart's merged with the AlertmanagerConfigs."""
    config: dict[str, Any] = yaml.safe_load(chart_config)
    config = copy.deepcopy(config)
    by_key = {f"{c['metadata']['namespace']}/{c['metadata']['name']}": c for c in alertmanager_configs}
    top_routes: list[dict[str, Any]] = []
    for key in sorted(by_key):
        amc = by_key[key]
        namespace, name = amc["metadata"]["namespace"], amc["metadata"]["name"]
        prefix = f"{namespace}/{name}/"
        spec = amc.get("spec") or {}
        for rule in spec.get("inhibitRules") or []:
            config.setdefault("inhibit_rules", []).append(_inhibit_rule(rule, namespace))
        if spec.get("route") is None:
            continue
        route = _route(spec["route"], prefix)
        route.setdefault("matchers", []).append(f'namespace="{_escape(namespace)}"')
        route["continue"] = True
        top_routes.append(route)
        for receiver in spec.get("receivers") or []:
            config.setdefault("receivers", []).append(_receiver(receiver, namespace, prefix, secret))
        if spec.get("muteTimeIntervals"):
            raise OperatorModelError(f"AlertmanagerConfig {key}: muteTimeIntervals are not modelled")
    config["route"]["routes"] = [*top_routes, *(config["route"].get("routes") or [])]
    return config


def cluster_config(env: Environment, charts: ChartSource, values: str | None = None) -> ClusterConfig:
    """What the operator would run for ``env``: the rule files of the chart's PrometheusRules and the
    suite's own, and the chart's Alertmanager config merged with the test namespace's AlertmanagerConfig.

    Secrets stay unresolved: a Slack ``apiURL`` reads as the placeholder naming its Secret (the local
    stack maps every Slack URL onto its own webhook file, :mod:`deployer.targets.stack.cluster_config`).
    """
    chart = render_chart(env, charts, values)
    files = rule_files([*chart.rules, conformance_rule(env)], chart.rule_selector)
    alertmanager = generated_alertmanager_config(
        chart.alertmanager_yaml, suite_alertmanager_configs(env), lambda ns, name, key: f"secret:{ns}/{name}/{key}"
    )
    return ClusterConfig(files, alertmanager)
