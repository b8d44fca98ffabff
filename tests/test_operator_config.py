"""The model of what prometheus-operator v0.83.0 generates, the local remap, and the real operator on kwok."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from obs_conformance.clients.polling import Observation, wait_for
from obs_conformance.deployer.cluster import operator_config as oc
from obs_conformance.deployer.cluster import slack_mock
from obs_conformance.deployer.cluster.footprint import RUN_LABEL
from obs_conformance.deployer.targets.stack.cluster_config import remap_alertmanager
from obs_conformance.deployer.toolchain.charts import load_all
from obs_conformance.deployer.toolchain.kube_build import kubectl
from obs_conformance.envconf import load_environment
from tests.cluster_render import CHARTS

CHART_CONFIG = """
route:
  receiver: slack-monitoring
  routes:
    - {receiver: "null", matchers: ['alertname = "Watchdog"']}
inhibit_rules:
  - {source_matchers: ['alertname = InfoInhibitor'], target_matchers: ['severity = info'], equal: [namespace]}
receivers:
  - name: "null"
  - name: slack-monitoring
    slack_configs: [{api_url_file: /etc/alertmanager/secrets/hook/url, channel: "#monitoring"}]
templates: [/etc/alertmanager/config/*.tmpl]
"""


def _amc(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"kind": "AlertmanagerConfig", "metadata": {"namespace": namespace, "name": name}, "spec": spec}


def test_merge_prepends_namespaced_routes_in_key_order() -> None:
    b = _amc("b-ns", "cfg", route={"receiver": "r", "matchers": [{"name": "x", "matchType": "=~", "value": 'a"b'}],
             "groupBy": ["alertname"], "groupWait": "1s"},
             receivers=[{"name": "r", "slackConfigs": [{"apiURL": {"name": "s", "key": "url"}, "channel": "#c",
                                                         "sendResolved": True}]}],
             inhibitRules=[{"source": [{"name": "severity", "matchType": "=", "value": "critical"}],
                            "target": [{"name": "severity", "matchType": "=", "value": "warning"}]}])  # fmt: skip
    a = _amc("a-ns", "cfg", route={"receiver": "q"}, receivers=[{"name": "q"}])
    secrets = {("b-ns", "s", "url"): " http://hook.invalid/x \n"}
    config = oc.generated_alertmanager_config(CHART_CONFIG, [b, a], lambda ns, n, k: secrets[(ns, n, k)])
    routes = config["route"]["routes"]
    assert routes[0] == {"receiver": "a-ns/cfg/q", "continue": True, "matchers": ['namespace="a-ns"']}
    assert routes[1] == {
        "receiver": "b-ns/cfg/r", "group_by": ["alertname"], "continue": True,
        "matchers": ['x=~"a\\"b"', 'namespace="b-ns"'], "group_wait": "1s",
    }  # fmt: skip
    assert routes[2]["receiver"] == "null"
    assert [r["name"] for r in config["receivers"]] == ["null", "slack-monitoring", "a-ns/cfg/q", "b-ns/cfg/r"]
    assert config["receivers"][3]["slack_configs"] == [
        {"api_url": "http://hook.invalid/x", "send_resolved": True, "channel": "#c"}
    ]
    assert config["inhibit_rules"][1] == {
        "source_matchers": ['severity="critical"', 'namespace="b-ns"'],
        "target_matchers": ['severity="warning"', 'namespace="b-ns"'],
    }


def test_unmodelled_operator_features_are_refused() -> None:
    amc = _amc("n", "c", route={"receiver": "r"}, receivers=[{"name": "r", "webhookConfigs": [{}]}])
    with pytest.raises(oc.OperatorModelError, match="webhookConfigs"):
        oc.generated_alertmanager_config(CHART_CONFIG, [amc], lambda *_: "")


def test_rule_files_selected_named_and_sanitized() -> None:
    rule = {"metadata": {"namespace": "ns", "name": "r", "labels": {"release": "prom-stack"}},
            "spec": {"groups": [{"name": "g", "interval": "", "partial_response_strategy": "warn",
                                 "rules": [{"alert": "A", "expr": "1", "for": ""}]}]}}  # fmt: skip
    other = {"metadata": {"namespace": "ns", "name": "o", "labels": {}}, "spec": {"groups": []}}
    files = oc.rule_files([rule, other], {"matchLabels": {"release": "prom-stack"}})
    assert files == {"ns-r.yaml": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "1"}]}]}}


def test_remap_moves_only_webhooks_and_template_paths(tmp_path: Path) -> None:
    config = oc.generated_alertmanager_config(
        CHART_CONFIG, [_amc("t", "c", route={"receiver": "r"}, receivers=[{"name": "r", "slackConfigs": [
            {"apiURL": {"name": "s", "key": "url"}, "channel": "#m"}]}])], lambda *_: "http://secret.invalid/hook"
    )  # fmt: skip
    hook = tmp_path / "hook"
    local = remap_alertmanager(config, hook, tmp_path)
    assert "secret.invalid" not in json.dumps(local)
    for receiver in local["receivers"]:
        for slack in receiver.get("slack_configs", []):
            assert slack["api_url_file"] == str(hook) and "api_url" not in slack
    assert local["templates"] == [str(tmp_path / "*.tmpl")]
    assert (
        remap_alertmanager(config, Path("/etc/alertmanager/secrets/hook/url"), Path("/etc/alertmanager/config"))
        != config
    )
    unchanged = {k: v for k, v in local.items() if k not in ("receivers", "templates")}
    assert unchanged == {k: v for k, v in config.items() if k not in ("receivers", "templates")}


def test_cluster_obs_conformance_rule_holds_only_the_synthetic_rule() -> None:
    rule = oc.conformance_rule(load_environment("kwok", environ={}))
    assert [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]] == ["ConformanceSyntheticAlert"]


def _kubectl(env: Any, *args: str) -> Any:
    kubeconfig = env.repo_path("KUBECONFIG_FILE")
    if not kubeconfig.is_file():
        return None
    argv = [str(kubectl()), "--kubeconfig", str(kubeconfig), *args, "-o", "json"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def _kubectl_do(env: Any, *args: str, stdin: str | None = None) -> None:
    """A kubectl call that changes the plane; its output is not shown (an applied Secret's URL stays unprinted)."""
    argv = [str(kubectl()), "--kubeconfig", str(env.repo_path("KUBECONFIG_FILE")), *args]
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, f"kubectl {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-800:]}"


def _generated(env: Any, namespace: str) -> dict[str, Any] | None:
    secret = _kubectl(env, "-n", namespace, "get", "secret", oc.GENERATED_CONFIG_SECRET)
    if secret is None:
        return None
    config: dict[str, Any] = yaml.safe_load(gzip.decompress(base64.b64decode(secret["data"]["alertmanager.yaml.gz"])))
    return config


@pytest.fixture
def suite_alertmanager_config_on_kwok() -> Iterator[None]:
    """The suites' AlertmanagerConfig (and its hook Secret) in the test namespace, as the local stack's model
    has it: without it the operator's merge (routes, receivers, secret resolution) would go uncompared.

    Applied only when absent (a suite run on the plane may hold its own, left as it is), then waited for in
    the generated Secret; what was applied here is removed afterwards.
    """
    env = load_environment("kwok", environ={})
    namespace, test_namespace = env.text("NAMESPACE"), env.text("TEST_NAMESPACE")
    if _generated(env, namespace) is None:
        yield  # no plane: the test skips
        return
    (amc,) = oc.suite_alertmanager_configs(env)
    name = amc["metadata"]["name"]
    applied: list[tuple[str, ...]] = []
    if _kubectl(env, "-n", test_namespace, "get", "alertmanagerconfig", name) is None:
        if _kubectl(env, "get", "namespace", test_namespace) is None:
            _kubectl_do(env, "create", "namespace", test_namespace)
            applied.append(("namespace", test_namespace))
        else:
            applied += [("-n", test_namespace, "alertmanagerconfig", name)]
            applied += [("-n", test_namespace, "secret", s["apiURL"]["name"])
                        for r in amc["spec"]["receivers"] for s in r.get("slackConfigs", [])]  # fmt: skip
        docs = load_all(slack_mock.manifests(env, "local"))
        wanted = [d for d in docs if d["kind"] in ("Secret", "AlertmanagerConfig")]
        for doc in wanted:  # this test's, not a suite run's: no run label, so no suite run's sweep removes them
            doc["metadata"].get("labels", {}).pop(RUN_LABEL, None)
        _kubectl_do(env, "apply", "-f", "-", stdin="\n---\n".join(yaml.safe_dump(d) for d in wanted))
    receivers = {f"{test_namespace}/{name}/{r['name']}" for r in amc["spec"]["receivers"]}

    def merged() -> Observation[None]:
        config = _generated(env, namespace) or {}
        names = {r.get("name") for r in config.get("receivers") or []}
        return Observation(None, receivers <= names, f"generated receivers: {sorted(map(str, names))}")

    try:
        wait_for(merged, deadline=90, expected=f"receivers {sorted(receivers)}",
                 where=f"Secret {namespace}/{oc.GENERATED_CONFIG_SECRET}")  # fmt: skip
        yield
    finally:
        for args in applied:
            _kubectl_do(env, "delete", *args, "--ignore-not-found", "--wait=true", "--timeout=120s")


@pytest.mark.usefixtures("suite_alertmanager_config_on_kwok")
def test_model_equals_what_the_operator_generated_on_kwok() -> None:
    """The rule files and the Alertmanager config the real operator wrote on the kwok target (with the
    suites' AlertmanagerConfig applied), against the model fed with the objects on that API, and against
    what the local stack runs (:func:`oc.cluster_config`), equal up to the remap.

    The one field the operator adds that the model cannot know: the ``-<uid>`` ending of each rule file's
    name (the PrometheusRule's UID, assigned by the API server). The hook URL the operator reads from the
    Secret is the remap's to replace (the local stack's model leaves a placeholder there).
    """
    env = load_environment("kwok", environ={})
    namespace = env.text("NAMESPACE")
    real = _generated(env, namespace)
    rulefiles = _kubectl(env, "-n", namespace, "get", "configmap", oc.RULEFILES_CONFIGMAP)
    if real is None or rulefiles is None:
        pytest.skip("no kwok plane with the deploy running: make kube && python -m deployer up --env kwok")
    rules = _kubectl(env, "get", "prometheusrules", "-A")["items"]
    expected_rules = oc.rule_files(rules, oc.render_chart(env, CHARTS).rule_selector)
    real_rules = {
        name.rsplit("-", 5)[0] + ".yaml": yaml.safe_load(text) for name, text in rulefiles["data"].items()
    }  # the operator's names end with -<uid> (five dash-separated parts)
    assert real_rules == expected_rules
    chart_secret = _kubectl(env, "-n", namespace, "get", "secret", oc.CHART_CONFIG_SECRET)
    chart_config = base64.b64decode(chart_secret["data"]["alertmanager.yaml"]).decode()
    amcs = _kubectl(env, "get", "alertmanagerconfigs", "-A")["items"]
    # the deploy applies none of its own: the plane's are the suites', which the local stack's model merges
    assert {(a["metadata"]["namespace"], a["metadata"]["name"]) for a in amcs} == {
        (a["metadata"]["namespace"], a["metadata"]["name"]) for a in oc.suite_alertmanager_configs(env)
    }

    def secret(ns: str, name: str, key: str) -> str:
        return base64.b64decode(_kubectl(env, "-n", ns, "get", "secret", name)["data"][key]).decode()

    assert real == oc.generated_alertmanager_config(chart_config, amcs, secret)
    assert yaml.safe_load(chart_config) == yaml.safe_load(oc.render_chart(env, CHARTS).alertmanager_yaml)
    local = oc.cluster_config(env, CHARTS)  # what the local stack runs for this env
    assert real_rules == local.rule_files
    hook, config_dir = Path("/remap/hook"), Path("/remap/config")
    assert remap_alertmanager(real, hook, config_dir) == remap_alertmanager(local.alertmanager, hook, config_dir)
