"""The clusters' collector asks OTLP senders for basic authentication (issue 23): its CR (rendered for
dev, kind and kwok) has the basicauth extension on both OTLP receivers reading an htpasswd file the CR
mounts from a Secret the plan applies before it; the Instrumentation gives instrumented pods
``OTEL_EXPORTER_OTLP_HEADERS`` from a Secret the plan applies in each app namespace, whose value the
SDKs decode to the basic ``authorization`` header; no password, nor its base64 or header form, in any
rendered file, CR or helm value; ``OTLP_AUTH="off"`` renders none of it."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import posixpath
import stat
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
import yaml

from obs_conformance.deployer.cluster.basic_auth import basic_authorization, otlp_headers_value, secret_forms
from obs_conformance.deployer.cluster.manifests import (
    OTLP_AUTH_KEY,
    OTLP_AUTH_SECRET,
    OTLP_HEADERS_KEY,
    OTLP_HEADERS_SECRET,
    render_cluster,
)
from obs_conformance.deployer.cluster.plan import otlp_password, up_plan
from obs_conformance.deployer.engine.htpasswd import verifies
from obs_conformance.envconf import Environment, Secret, load_environment
from tests.cluster_render import CHARTS, CLUSTER_ENVS, SECRETS, ClusterRender, rendered

AUTHENTICATOR = "basicauth/otlp"
STEP = 7  # the OpenTelemetry operator, the collector and the instrumentation


def _collector(deploy: ClusterRender) -> dict[str, Any]:
    return deploy.one("OpenTelemetryCollector", "otel-collector", "kubectl")


def _instrumentation(deploy: ClusterRender) -> dict[str, Any]:
    return deploy.one("Instrumentation", "instrumentation", "kubectl")


def _step_actions(env: Environment, directory: Path) -> list[tuple[str, dict[str, Any] | None]]:
    """Step 7's actions in order: ("secret", the Secret) or (the applied file's name, None)."""
    [step] = [s for s in up_plan(env, render_cluster(env, directory), True, CHARTS) if s.number == STEP]
    stdin = [(a.command.stdin, a.manifest or a.command.shown()) for a in step.actions]
    return [("secret", json.loads(s.reveal())) if s is not None else (what, None) for s, what in stdin]


@pytest.mark.slow
@pytest.mark.parametrize("name", CLUSTER_ENVS)
def test_collector_asks_for_basic_auth_on_both_receivers_from_the_mounted_htpasswd(name: str) -> None:
    collector = _collector(rendered(name))
    config, spec = collector["spec"]["config"], collector["spec"]
    htpasswd_file = config["extensions"][AUTHENTICATOR]["htpasswd"]["file"]
    assert "inline" not in config["extensions"][AUTHENTICATOR]["htpasswd"], "the password list is a file, not the CR"
    assert AUTHENTICATOR in config["service"]["extensions"]
    for protocol in ("grpc", "http"):
        auth = config["receivers"]["otlp"]["protocols"][protocol].get("auth")
        assert auth == {"authenticator": AUTHENTICATOR}, f"{name}: the OTLP {protocol} receiver's auth is {auth}"
    volumes = [v for v in spec.get("volumes", []) if v.get("secret", {}).get("secretName") == OTLP_AUTH_SECRET]
    assert len(volumes) == 1, (
        f"{name}: collector CR volumes {spec.get('volumes')}, expected one of Secret {OTLP_AUTH_SECRET}"
    )
    items = volumes[0]["secret"]["items"]
    assert items == [{"key": OTLP_AUTH_KEY, "path": posixpath.basename(htpasswd_file)}], f"{name}: volume items {items}"
    mounts = [m for m in spec.get("volumeMounts", []) if m["name"] == volumes[0]["name"]]
    where = [posixpath.join(m["mountPath"], posixpath.basename(htpasswd_file)) for m in mounts]
    assert where == [htpasswd_file], f"{name}: the htpasswd volume mounts at {where}, the config reads {htpasswd_file}"
    assert mounts[0]["readOnly"] is True


@pytest.mark.slow
@pytest.mark.parametrize("name", CLUSTER_ENVS)
def test_instrumentation_takes_the_otlp_header_from_the_app_namespace_secret(name: str) -> None:
    spec = _instrumentation(rendered(name))["spec"]
    found = [e for e in spec.get("env", []) if e["name"] == "OTEL_EXPORTER_OTLP_HEADERS"]
    assert len(found) == 1, f"{name}: Instrumentation env {spec.get('env')}, expected OTEL_EXPORTER_OTLP_HEADERS once"
    assert "value" not in found[0], f"{name}: the header is in the Instrumentation in clear"
    reference = found[0].get("valueFrom", {}).get("secretKeyRef")
    expected = {"name": OTLP_HEADERS_SECRET, "key": OTLP_HEADERS_KEY, "optional": True}
    assert reference == expected, f"{name}: OTEL_EXPORTER_OTLP_HEADERS comes from {reference}, expected {expected}"
    for language in ("java", "python"):  # a language's own env would win over the common one
        names = {e["name"] for e in spec.get(language, {}).get("env", [])}
        assert "OTEL_EXPORTER_OTLP_HEADERS" not in names, f"{name}: {language} sets its own OTLP headers"


@pytest.mark.slow
@pytest.mark.parametrize("name", CLUSTER_ENVS)
def test_the_plan_applies_the_htpasswd_before_the_collector_and_a_header_secret_per_app_namespace(name: str) -> None:
    deploy = rendered(name)
    env = deploy.env
    actions = _step_actions(env, deploy.directory)
    order = [doc["metadata"]["name"] if doc else what for what, doc in actions]
    at = order.index
    assert at(OTLP_AUTH_SECRET) < at("otel-collector.yaml"), order
    assert max(i for i, n in enumerate(order) if n == OTLP_HEADERS_SECRET) < at("instrumentation.yaml"), order
    secrets = [doc for _, doc in actions if doc]
    [htpasswd] = [d for d in secrets if d["metadata"]["name"] == OTLP_AUTH_SECRET]
    assert htpasswd["metadata"]["namespace"] == env.text("NAMESPACE")
    line = htpasswd["stringData"][OTLP_AUTH_KEY]
    assert line.split(":", 1)[1].startswith("$6$")
    assert verifies(line, env.otlp_user, SECRETS["OTLP_AUTH_PASSWORD"]), f"{name}: the htpasswd does not verify"
    headers = {
        d["metadata"]["namespace"]: d["stringData"] for d in secrets if d["metadata"]["name"] == OTLP_HEADERS_SECRET
    }
    assert sorted(headers) == sorted(env.app_namespaces)
    expected = otlp_headers_value(env.otlp_user, Secret(SECRETS["OTLP_AUTH_PASSWORD"]))
    assert all(data == {OTLP_HEADERS_KEY: expected} for data in headers.values()), f"{name}: header Secrets differ"
    assert _step_actions(env, deploy.directory) == actions, "a re-plan changes the OTLP Secrets"


@pytest.mark.slow
def test_no_otlp_credential_form_in_rendered_files_crs_or_helm_values() -> None:
    for name in CLUSTER_ENVS:
        deploy = rendered(name)
        forms = secret_forms(deploy.env.otlp_user, Secret(SECRETS["OTLP_AUTH_PASSWORD"]))
        texts = [*deploy.files.values(), *(json.dumps(docs) for docs in deploy.manifests.values())]
        found = [key for text in texts for key, value in forms.items() if value in text]
        assert not found, f"{name}: {found} in a rendered file or release manifest"


@pytest.mark.parametrize("name", CLUSTER_ENVS)
def test_otlp_auth_off_renders_no_authenticator_mount_env_nor_secret(name: str, tmp_path: Path) -> None:
    on = load_environment(name, environ=SECRETS)
    off = dataclasses.replace(on, values={**on.values, "OTLP_AUTH": "off"})
    files = render_cluster(off, tmp_path)
    collector = yaml.safe_load(files.files["otel-collector.yaml"])
    assert "extensions" not in collector["spec"]["config"] and "volumes" not in collector["spec"]
    assert all("auth" not in p for p in collector["spec"]["config"]["receivers"]["otlp"]["protocols"].values())
    assert "env" not in yaml.safe_load(files.files["instrumentation.yaml"])["spec"]
    steps = up_plan(off, files, require_secrets=False, charts=CHARTS)
    applied = [json.loads(a.command.stdin.reveal()) for s in steps for a in s.actions if a.command.stdin is not None]
    assert not {OTLP_AUTH_SECRET, OTLP_HEADERS_SECRET} & {doc["metadata"]["name"] for doc in applied}


@pytest.mark.parametrize("password", ["plain-password-42", "o+/=pass", "ü spaced,=%pass", "a" * 47])
def test_the_header_value_decodes_to_the_basic_authorization_in_the_sdks(password: str) -> None:
    """The OTel SDK env spec: values percent-encoded. Python's SDK parses with its own parser; Java's
    URLDecoder also turns '+' into a space (unquote_plus), so no bare '+' may be left."""
    from opentelemetry.util.re import parse_env_headers

    secret = Secret(password)
    value = otlp_headers_value("otlp-sender", secret)
    expected = basic_authorization("otlp-sender", secret)
    assert parse_env_headers(value, liberal=False) == {"authorization": expected}
    key, _, encoded = value.partition("=")
    assert key == "authorization" and unquote_plus(encoded) == expected
    assert base64.b64decode(expected.split()[1]).decode() == f"otlp-sender:{password}"


def test_kwok_generates_the_otlp_password_once_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSCONF_STATE", str(tmp_path))
    env = load_environment("kwok", environ={})
    first = otlp_password(env)
    path = tmp_path / "kube" / "secrets" / "otlp_auth_password"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(first.reveal()) >= 20 and otlp_password(env).reveal() == first.reveal()
    given = load_environment("kwok", environ={"OTLP_AUTH_PASSWORD": "given-otlp-secret-42"})
    assert otlp_password(given).reveal() == "given-otlp-secret-42"
