"""The cluster deployer, with helm, kubectl and kind replaced by recording stand-ins on PATH."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from obs_conformance.deployer.cluster.basic_auth import secret_forms
from obs_conformance.envconf import Secret

ROOT = Path(__file__).resolve().parent.parent
HOOK = "https://hooks.example.invalid/services/TSECRET/BSECRET/webhook-secret-value-42"
PASSWORD = "pg-password-secret-value-42"
FRONT_DOOR_PASSWORD = "front-door-secret-value-42"
OTLP_PASSWORD = "otlp-secret-value-42"
# the OTLP password with its base64 and header forms (what the header Secrets hold)
OTLP_FORMS = tuple(secret_forms("otlp-sender", Secret(OTLP_PASSWORD)).values())
SECRETS = ("webhook-secret-value-42", PASSWORD, FRONT_DOOR_PASSWORD, *OTLP_FORMS)

# A POSIX shell stand-in (a few ms a call; the deployer makes dozens of calls per run). One record
# per call, every field NUL-terminated (any argument survives): the argument count, the tool, its
# arguments, and the sha256 of what it read on stdin ("" when nothing).
STAND_IN = """#!/bin/sh
sha=""
if [ ! -t 0 ]; then
    sha=$(sha256sum)
    sha=${sha%% *}
    # the sha256 of no input at all
    [ "$sha" = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 ] && sha=""
fi
printf '%s\\0' "$#" "${0##*/}" "$@" "$sha" >> "$RECORD"
if [ "$1" = get ] && [ "$2" = clusters ]; then
    printf '%s\\n' "${KIND_CLUSTERS:-}"
fi
"""


class Deployer:
    def __init__(self, tmp_path: Path) -> None:
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        for tool in ("helm", "kubectl", "kind"):
            path = self.bin / tool
            path.write_text(STAND_IN)
            path.chmod(0o755)
        self.record = tmp_path / "calls.record"
        self.deploy_dir = tmp_path / "deploy"
        # The charts by their repository references, as the plan shows them, whatever OBSCONF_CHARTS the
        # caller's shell names (an offline mirror turns them into .tgz paths).
        self.env = {
            **{key: value for key, value in os.environ.items() if key != "OBSCONF_CHARTS"},
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "RECORD": str(self.record),
            "OBSCONF_DEPLOY_DIR": str(self.deploy_dir),
            "SLACK_WEBHOOK_URL": HOOK,
            "POSTGRES_EXPORTER_PASSWORD": PASSWORD,
            "INGRESS_AUTH_PASSWORD": FRONT_DOOR_PASSWORD,
            "OTLP_AUTH_PASSWORD": OTLP_PASSWORD,
        }

    def run(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        """``python -m deployer`` in a process of its own (what a fresh process must do alike, e.g. a second up)."""
        self.record.write_text("")
        return subprocess.run(
            [sys.executable, "-m", "deployer", *args],
            cwd=ROOT, env={**self.env, **extra_env}, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    def call(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        """The same command line through the deployer's ``main`` in this process, same environment and
        directory (the tools are still the stand-ins, run as processes): no interpreter start per run."""
        from obs_conformance.deployer.cli import main  # here: collecting this module stays light in every worker

        self.record.write_text("")
        with pytest.MonkeyPatch.context() as patch:
            for key in os.environ.keys() - self.env.keys():
                patch.delenv(key)
            for key, value in {**self.env, **extra_env}.items():
                patch.setenv(key, value)
            patch.chdir(ROOT)
            with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
                try:
                    code = main(list(args))
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else 1
        return subprocess.CompletedProcess(["deployer", *args], code, out.getvalue(), err.getvalue())

    def calls(self) -> list[dict[str, Any]]:
        fields = self.record.read_text().split("\0")[:-1]
        found = []
        while fields:
            count = int(fields[0])
            found.append({"argv": fields[1 : count + 2], "stdin_sha256": fields[count + 2]})
            fields = fields[count + 3 :]
        return found

    def assert_no_secret_anywhere(self, result: subprocess.CompletedProcess[str]) -> None:
        on_disk = [p.read_text() for p in self.deploy_dir.rglob("*") if p.is_file()]
        for text in (result.stdout, result.stderr, self.record.read_text(), *on_disk):
            for secret in SECRETS:
                assert secret not in text


@pytest.fixture
def deployer(tmp_path: Path) -> Deployer:
    return Deployer(tmp_path)


def test_plan_shows_the_design_steps_in_order_and_touches_nothing(deployer: Deployer) -> None:
    result = deployer.call("plan", "--env", "dev")
    assert result.returncode == 0, result.stderr
    steps = [int(line.split()[1].rstrip(":")) for line in result.stdout.splitlines() if line.startswith("step ")]
    assert steps == list(range(1, 12))
    for needle in (
        "35Gi", "10Gi", "2Gi", "sbs-default", "custom-nginx", "letsencrypt-prod", "release: prom-stack",
        "dev-poc-odooswfjips-loki.jips.io", "upgrade --install prom-stack kube-prometheus-stack",
        "upgrade --install loki-stack loki-stack", "upgrade --install tempo tempo", "Secret manifest, values ****",
    ):  # fmt: skip
        assert needle in result.stdout, needle
    assert deployer.calls() == [], "plan must not call helm, kubectl or kind"
    assert not deployer.deploy_dir.exists(), "plan must not write rendered files"
    deployer.assert_no_secret_anywhere(result)


@pytest.mark.slow  # two deployer processes
def test_two_up_runs_give_identical_commands_and_no_delete(deployer: Deployer) -> None:
    first = deployer.run("up", "--env", "dev", "--no-wait")
    assert first.returncode == 0, first.stderr
    calls_first = deployer.calls()
    second = deployer.run("up", "--env", "dev", "--no-wait")
    assert second.returncode == 0, second.stderr
    assert deployer.calls() == calls_first
    verbs = [call["argv"][3] if call["argv"][1].startswith("--") else call["argv"][1] for call in calls_first]
    assert "delete" not in verbs and "uninstall" not in verbs and "create" not in verbs
    assert [c["argv"][0] for c in calls_first].count("helm") == 6
    assert all("--wait" in c["argv"] for c in calls_first if c["argv"][0] == "helm")
    secret_applies = [c for c in calls_first if c["stdin_sha256"]]
    # the Slack webhook, the Postgres exporter's password, the front door's htpasswd, the collector's OTLP
    # htpasswd and the OTLP header of each of the three app namespaces
    assert len(secret_applies) == 7 and all(c["argv"][-2:] == ["-f", "-"] for c in secret_applies)
    assert "done in" in first.stdout
    deployer.assert_no_secret_anywhere(first)


def test_up_without_secrets_fails_before_touching_anything(deployer: Deployer) -> None:
    result = deployer.call("up", "--env", "dev", SLACK_WEBHOOK_URL="")
    assert result.returncode == 2
    assert "SLACK_WEBHOOK_URL: secret not set" in result.stderr
    assert deployer.calls() == []


def test_down_keeps_pvcs_unless_delete_data(deployer: Deployer) -> None:
    result = deployer.call("down", "--env", "dev")
    assert result.returncode == 0, result.stderr
    assert not any("pvc" in call["argv"] or "namespace.yaml" in " ".join(call["argv"]) for call in deployer.calls())
    assert "kept 4 PVCs" in result.stdout and "storage-loki-stack-0" in result.stdout
    result = deployer.call("down", "--env", "dev", "--delete-data")
    pvc_calls = [call["argv"] for call in deployer.calls() if "pvc" in call["argv"]]
    assert len(pvc_calls) == 1 and "storage-tempo-0" in pvc_calls[0]


@pytest.mark.slow  # two deployer processes
def test_kind_creates_its_cluster_only_when_absent(deployer: Deployer) -> None:
    first = deployer.run("up", "--env", "kind", "--no-wait", SLACK_WEBHOOK_URL="")
    assert first.returncode == 0, first.stderr
    config = str(deployer.deploy_dir / "kind" / "kind-cluster.yaml")
    assert ["kind", "create", "cluster", "--name", "obs-conformance", "--config", config, "--wait", "180s"] in [
        c["argv"] for c in deployer.calls()
    ]
    result = deployer.run("up", "--env", "kind", "--no-wait", KIND_CLUSTERS="obs-conformance")
    assert result.returncode == 0, result.stderr
    assert "already there, skipped" in result.stdout
    assert not any(c["argv"][:2] == ["kind", "create"] for c in deployer.calls())


def _docs(deployer: Deployer, env: str, name: str) -> list[Any]:
    return list(yaml.safe_load_all((deployer.deploy_dir / env / name).read_text()))


def test_rendered_manifests_follow_the_chart_facts(deployer: Deployer) -> None:
    assert deployer.call("up", "--env", "dev", "--no-wait").returncode == 0
    [prom] = _docs(deployer, "dev", "prometheus-values.yaml")
    spec = prom["prometheus"]["prometheusSpec"]
    assert spec["enableFeatures"] == ["exemplar-storage"] and spec["enableRemoteWriteReceiver"] is True
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert (claim["storageClassName"], claim["resources"]["requests"]["storage"]) == ("sbs-default", "35Gi")
    assert spec["resources"]["limits"]["memory"] == "1.9Gi"
    am = prom["alertmanager"]
    assert am["alertmanagerSpec"]["storage"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "2Gi"
    routes = am["config"]["route"]["routes"]
    assert {r["matchers"][0] for r in routes if r["receiver"] == "null"} == {
        'alertname = "Watchdog"',
        'alertname = "InfoInhibitor"',
        'namespace = "obs-conformance-test"',
    }
    assert "null" in {r["name"] for r in am["config"]["receivers"]}
    [slack] = next(r for r in am["config"]["receivers"] if r["name"] == "slack-monitoring")["slack_configs"]
    assert "api_url" not in slack and slack["api_url_file"].startswith("/etc/alertmanager/secrets/")
    for monitor in _docs(deployer, "dev", "service-monitors.yaml"):
        assert monitor["metadata"]["labels"]["release"] == "prom-stack"
        assert all(e["interval"] == "30s" for e in monitor["spec"]["endpoints"])
    assert {m["metadata"]["namespace"] for m in _docs(deployer, "dev", "service-monitors.yaml")} == {
        "kube-prometheus-stack",
        "odoo",
        "keycloak",
        "jips",
    }
    [loki] = _docs(deployer, "dev", "loki-values.yaml")
    assert loki["loki"]["image"]["tag"].startswith("3.")
    assert (loki["loki"]["persistence"]["size"], loki["loki"]["config"]["limits_config"]["retention_period"]) == (
        "10Gi",
        "720h",
    )
    assert loki["loki"]["config"]["compactor"]["retention_enabled"] is True
    [tempo] = _docs(deployer, "dev", "tempo-values.yaml")
    assert tempo["persistence"]["size"] == "10Gi" and tempo["tempo"]["metricsGenerator"]["enabled"] is True
    [ingress] = _docs(deployer, "dev", "tempo-ingress.yaml")
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["number"] == 3200
    assert ingress["spec"]["ingressClassName"] == "custom-nginx"
    [collector] = _docs(deployer, "dev", "otel-collector.yaml")
    assert collector["apiVersion"] == "opentelemetry.io/v1beta1"
    assert collector["spec"]["config"]["exporters"]["otlp_http/logs"]["logs_endpoint"].endswith("/otlp/v1/logs")
    [instrumentation] = _docs(deployer, "dev", "instrumentation.yaml")
    assert instrumentation["spec"]["python"]["env"][0]["value"].endswith(":4318")
    [issuer] = _docs(deployer, "dev", "cluster-issuer.yaml")
    assert issuer["metadata"]["name"] == "letsencrypt-prod" and "acme" in issuer["spec"]


def test_kind_uses_a_self_signed_issuer_and_the_slack_mock(deployer: Deployer) -> None:
    result = deployer.call("up", "--env", "kind", "--no-wait", SLACK_WEBHOOK_URL="")
    assert result.returncode == 0, result.stderr
    [issuer] = _docs(deployer, "kind", "cluster-issuer.yaml")
    assert issuer["spec"] == {"selfSigned": {}}
    from obs_conformance.deployer.cluster.plan import KIND_SLACK_MOCK_URL

    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "alertmanager-slack-webhook", "namespace": "kube-prometheus-stack"},
        "type": "Opaque",
        "stringData": {"url": KIND_SLACK_MOCK_URL},
    }
    expected = hashlib.sha256(json.dumps(manifest).encode()).hexdigest()
    assert expected in [c["stdin_sha256"] for c in deployer.calls()]


def _applied_and_released(calls: list[dict[str, Any]], verb: tuple[str, ...], helm_verb: tuple[str, ...]) -> set[str]:
    """The manifest files a run handed kubectl after ``verb`` (``-f FILE``) and the releases it handed helm."""
    found = set()
    for call in calls:
        argv = call["argv"]
        for at in range(len(argv) - len(verb) + 1):
            if tuple(argv[at : at + len(verb)]) == verb and argv[0] == "kubectl" and argv[at + len(verb)] == "-f":
                path = argv[at + len(verb) + 1]
                if path != "-":  # a Secret on stdin
                    found.add(f"manifest {Path(path).name}")
            if tuple(argv[at : at + len(helm_verb)]) == helm_verb and argv[0] == "helm":
                found.add(f"release {argv[at + len(helm_verb)]}")
    return found


@pytest.mark.parametrize("env", ["dev", "kind"])
def test_diff_covers_every_manifest_and_release_up_applies(deployer: Deployer, env: str) -> None:
    """``up`` and ``diff`` walk one list of steps: whatever ``up`` applies from a file or installs,
    ``diff`` compares (the Secrets piped on stdin excepted: their values are never shown)."""
    no_hook = {"SLACK_WEBHOOK_URL": ""} if env == "kind" else {}  # kind: the in-cluster Slack mock
    up = deployer.call("up", "--env", env, "--no-wait", **no_hook)
    assert up.returncode == 0, up.stderr
    applied = _applied_and_released(deployer.calls(), ("apply",), ("upgrade", "--install"))
    diff = deployer.call("diff", "--env", env, **no_hook)
    assert diff.returncode == 0, diff.stderr
    compared = _applied_and_released(deployer.calls(), ("diff",), ("diff", "upgrade"))
    assert compared == applied
    assert {"manifest namespace.yaml", "manifest conformance-rules.yaml", "release prom-stack"} <= applied
    if env == "kind":
        assert "manifest postgres.yaml" in applied
    assert not any(call["stdin_sha256"] for call in deployer.calls()), "diff never pipes a Secret"


@pytest.mark.parametrize("env", ["dev", "kind"])
def test_with_canary_adds_only_its_release_after_step_11_to_up_diff_plan_and_down(deployer: Deployer, env: str) -> None:
    """``--with-canary`` adds one ``helm upgrade --install`` of the local canary chart after the eleven
    steps, which ``diff``, ``plan`` and ``down`` cover too; without it, nothing of the canary."""
    from obs_conformance.deployer.cluster.plan import CANARY_CHART

    no_hook = {"SLACK_WEBHOOK_URL": ""} if env == "kind" else {}  # kind: the in-cluster Slack mock
    without = deployer.call("up", "--env", env, "--no-wait", **no_hook)
    assert without.returncode == 0, without.stderr
    calls_without = deployer.calls()
    # (the test's tmp_path holds the word "canary": the release name and the chart path are looked for)
    assert not any("canary" in c["argv"] or str(CANARY_CHART) in c["argv"] for c in calls_without)
    assert "step 12" not in without.stdout

    up = deployer.call("up", "--env", env, "--no-wait", "--with-canary", **no_hook)
    assert up.returncode == 0, up.stderr
    calls_with = deployer.calls()
    assert calls_with[: len(calls_without)] == calls_without, "the eleven steps are unchanged"
    [extra] = calls_with[len(calls_without) :]
    env_file = str(next((ROOT / "environments" / env).glob("*.env")).resolve())
    assert extra["argv"][extra["argv"].index("upgrade") :] == [
        "upgrade", "--install", "canary", str(CANARY_CHART), "--namespace", "kube-prometheus-stack",
        "--create-namespace", "--wait", "--timeout", "10m",
        "--set-file", f"env.file={env_file}", "--set", f"env.name={env}",
    ]  # fmt: skip
    assert extra["argv"][0] == "helm" and not extra["stdin_sha256"]
    assert up.stdout.index("step 11:") < up.stdout.index("step 12: install the conformance canary")
    deployer.assert_no_secret_anywhere(up)

    applied = _applied_and_released(calls_with, ("apply",), ("upgrade", "--install"))
    diff = deployer.call("diff", "--env", env, "--with-canary", **no_hook)
    assert diff.returncode == 0, diff.stderr
    assert _applied_and_released(deployer.calls(), ("diff",), ("diff", "upgrade")) == applied
    assert "release canary" in applied

    plan = deployer.call("plan", "--env", env, "--no-manifests", "--with-canary", **no_hook)
    assert plan.returncode == 0, plan.stderr
    assert "step 12: install the conformance canary" in plan.stdout
    assert f"upgrade --install canary {CANARY_CHART} --namespace kube-prometheus-stack" in plan.stdout
    assert deployer.calls() == []
    plain = deployer.call("plan", "--env", env, "--no-manifests", **no_hook)
    assert str(CANARY_CHART) not in plain.stdout and "step 12" not in plain.stdout

    down = deployer.call("down", "--env", env, "--with-canary")
    assert down.returncode == 0, down.stderr
    uninstalls = [c["argv"] for c in deployer.calls() if "uninstall" in c["argv"]]
    assert uninstalls[0][uninstalls[0].index("uninstall") + 1] == "canary"
    deployer.call("down", "--env", env)
    assert not any("canary" in c["argv"] or str(CANARY_CHART) in c["argv"] for c in deployer.calls())


def test_canary_on_in_the_env_file_adds_the_canary_and_off_is_the_default(tmp_path: Path) -> None:
    from obs_conformance.deployer.cluster.manifests import render_cluster
    from obs_conformance.deployer.cluster.plan import CANARY_RELEASE, down_plan, releases, up_plan
    from obs_conformance.envconf import load_environment

    def canary_in(env_name: str) -> tuple[bool, bool]:
        env = load_environment(env_name, root=tmp_path / "environments", environ={})
        rendered = render_cluster(env, tmp_path / "deploy")
        up = any(r.name == CANARY_RELEASE for r in releases(up_plan(env, rendered, require_secrets=False)))
        steps, _ = down_plan(env, rendered, delete_data=False)
        down = any(CANARY_RELEASE in action.command.argv for step in steps for action in step.actions)
        return up, down

    source = next((ROOT / "environments" / "dev").glob("*.env")).read_text()
    for name, extra in (("default", ""), ("on", 'CANARY="on"\n'), ("off", 'CANARY="off"\n')):
        (tmp_path / "environments" / name).mkdir(parents=True)
        (tmp_path / "environments" / name / f"{name}.env").write_text(source + "\n" + extra)
    assert canary_in("default") == (False, False)
    assert canary_in("on") == (True, True)
    assert canary_in("off") == (False, False)
