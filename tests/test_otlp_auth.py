"""The collector's OTLP authentication as rendered and as the senders present it: basicauth on both OTLP
protocols against the stack's htpasswd (none with ``OTLP_AUTH="off"``), the htpasswd line stable and
private, and the ``authorization`` header built from the env's credentials."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import yaml

from obs_conformance.deployer.engine import htpasswd
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.targets.stack.target import LocalTarget
from obs_conformance.envconf import load_environment
from obs_conformance.fixtures.otlp_auth import otlp_headers
from tests.breakage import local_configs
from tests.cluster_render import shared_otlp_htpasswd

HOOK = "http://127.0.0.1:9/services/T/B/unused"


def test_both_otlp_protocols_ask_for_basic_authentication(tmp_path: Path) -> None:
    config = local_configs(tmp_path, HOOK)["otelcol.yaml"]
    assert config["extensions"] == {"basicauth/otlp": {"htpasswd": {"file": str(shared_otlp_htpasswd())}}}
    assert config["service"]["extensions"] == ["basicauth/otlp"]
    for protocol in ("grpc", "http"):
        assert config["receivers"]["otlp"]["protocols"][protocol]["auth"] == {"authenticator": "basicauth/otlp"}


def test_otlp_auth_off_renders_no_authenticator(tmp_path: Path) -> None:
    from obs_conformance.deployer.cluster.operator_config import cluster_config
    from obs_conformance.deployer.targets.stack.components import render_configs
    from tests.cluster_render import CHARTS

    env = load_environment("local", environ={})
    off = dataclasses.replace(env, values={**env.values, "OTLP_AUTH": "off"})
    layout = Layout(tmp_path / "state")
    layout.create()
    hook = layout.secrets / "slack_webhook_url"
    hook.write_text(HOOK)
    rendered = render_configs(off, layout, hook, cluster_config(off, CHARTS))
    config = next(yaml.safe_load(r.text) for r in rendered if r.path.name == "otelcol.yaml")
    assert "extensions" not in config and "extensions" not in config["service"]
    assert all("auth" not in p for p in config["receivers"]["otlp"]["protocols"].values())


def test_the_collector_htpasswd_is_private_stable_and_verifies(tmp_path: Path) -> None:
    env = load_environment("local", environ={"OTLP_AUTH_PASSWORD": "otlp-test-password-42"})
    target = LocalTarget(env, Layout(tmp_path / "state"))
    (first,), (second,) = target._otlp_htpasswd(), target._otlp_htpasswd()
    assert first == second and first.private
    assert htpasswd.verifies(first.text, "otlp-sender", "otlp-test-password-42")
    off = LocalTarget(dataclasses.replace(env, values={**env.values, "OTLP_AUTH": "off"}), target.layout)
    assert off._otlp_htpasswd() == ()


def test_senders_present_the_env_credentials() -> None:
    env = load_environment("local", environ={"OTLP_AUTH_PASSWORD": "otlp-test-password-42"})
    header = otlp_headers(env)["authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")) == b"otlp-sender:otlp-test-password-42"
    assert otlp_headers(dataclasses.replace(env, values={**env.values, "OTLP_AUTH": "off"})) == {}
