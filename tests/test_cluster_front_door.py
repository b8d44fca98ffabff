"""The clusters' front door asks for basic authentication (issue 23): every Ingress the deploy creates
(the charts' and our own, rendered with the real pinned charts) carries ingress-nginx's
``auth-type: basic`` naming the htpasswd Secret the plan applies in the same namespace before any
ingress exists; the Secret holds a SHA-512-crypt line of the env's user and password, the same on
every ``up``; ``INGRESS_AUTH="off"`` renders neither."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from obs_conformance.deployer.cluster.manifests import FRONT_DOOR_AUTH_SECRET, render_cluster
from obs_conformance.deployer.cluster.plan import front_door_auth, up_plan
from obs_conformance.deployer.engine.htpasswd import verifies
from tests.cluster_render import CHARTS, CLUSTER_ENVS, SECRETS, ClusterRender, rendered

AUTH = {
    "nginx.ingress.kubernetes.io/auth-type": "basic",
    "nginx.ingress.kubernetes.io/auth-secret": FRONT_DOOR_AUTH_SECRET,
}
HOSTS = ("prometheus", "alertmanager", "loki", "tempo")


@pytest.fixture(params=CLUSTER_ENVS)
def deploy(request: pytest.FixtureRequest) -> ClusterRender:
    return rendered(request.param)


def _ingresses(deploy: ClusterRender) -> list[tuple[str, dict[str, Any]]]:
    return [(where, doc) for where, doc in deploy.objects() if doc.get("kind") == "Ingress"]


@pytest.mark.slow
def test_every_ingress_asks_for_basic_auth_from_the_env_secret(deploy: ClusterRender) -> None:
    ingresses = _ingresses(deploy)
    hosts = {rule["host"] for _, doc in ingresses for rule in doc["spec"].get("rules", [])}
    assert hosts >= {deploy.env.host(s) for s in HOSTS}, f"{deploy.env.name}: ingress hosts {sorted(hosts)}"
    namespace = deploy.env.text("NAMESPACE")
    for where, doc in ingresses:
        name = f"{where}: Ingress {doc['metadata']['name']}"
        annotations = doc["metadata"].get("annotations") or {}
        missing = {k: v for k, v in AUTH.items() if annotations.get(k) != v}
        assert not missing, f"{deploy.env.name}: {name} lacks {missing} (has {annotations})"
        assert doc["metadata"].get("namespace", namespace) == namespace, (
            f"{deploy.env.name}: {name} is not in {namespace}, where the htpasswd Secret is"
        )


def _applied_secrets(deploy: ClusterRender) -> list[tuple[int, dict[str, Any]]]:
    steps = up_plan(deploy.env, render_cluster(deploy.env, deploy.directory), require_secrets=True, charts=CHARTS)
    found = []
    for step in steps:
        for action in step.actions:
            stdin = action.command.stdin
            if stdin is not None:
                found.append((step.number, json.loads(stdin.reveal())))
    return found


@pytest.mark.parametrize("name", CLUSTER_ENVS)
def test_the_plan_applies_the_htpasswd_secret_before_the_ingress_controller(name: str) -> None:
    deploy = rendered(name)
    secrets = {doc["metadata"]["name"]: (step, doc) for step, doc in _applied_secrets(deploy)}
    assert FRONT_DOOR_AUTH_SECRET in secrets, f"{name}: the plan applies no {FRONT_DOOR_AUTH_SECRET} ({list(secrets)})"
    step, secret = secrets[FRONT_DOOR_AUTH_SECRET]
    assert step == 3 and secret["metadata"]["namespace"] == deploy.env.text("NAMESPACE")
    line = secret["stringData"]["auth"]
    password = SECRETS["INGRESS_AUTH_PASSWORD"] if name != "kwok" else None
    if password is not None:
        assert verifies(line, deploy.env.front_door_user, password), f"{name}: htpasswd does not verify the env's"
    assert line.split(":", 1)[1].startswith("$6$")
    assert front_door_auth(deploy.env, True) == front_door_auth(deploy.env, True), "a re-plan changes the Secret"


@pytest.mark.parametrize("name", CLUSTER_ENVS)
def test_authentication_off_renders_no_auth_annotation_nor_secret(name: str, tmp_path: Path) -> None:
    on = rendered(name).env
    off = dataclasses.replace(on, values={**on.values, "INGRESS_AUTH": "off"})
    files = render_cluster(off, tmp_path)
    for text in files.files.values():
        assert "auth-type" not in text and FRONT_DOOR_AUTH_SECRET not in text
    assert yaml.safe_load(files.files["tempo-ingress.yaml"])["metadata"]["annotations"] == {
        "cert-manager.io/cluster-issuer": on.text("CLUSTER_ISSUER")
    }
    steps = up_plan(off, files, require_secrets=False, charts=CHARTS)
    applied = [json.loads(a.command.stdin.reveal()) for s in steps for a in s.actions if a.command.stdin is not None]
    assert FRONT_DOOR_AUTH_SECRET not in {doc["metadata"]["name"] for doc in applied}


def test_clients_send_the_credentials_only_through_the_front_door() -> None:
    from obs_conformance.clients import registry
    from obs_conformance.envconf import load_environment

    password = "through-the-front-door-42"
    kind = load_environment("kind", environ={"INGRESS_AUTH_PASSWORD": password})
    for client in (registry.prometheus(kind), registry.alertmanager(kind), registry.log_store(kind)):
        assert getattr(client, "session").auth == ("obs-conformance", password), type(client).__name__  # noqa: B009
    assert registry.prometheus(kind).api._session.auth == ("obs-conformance", password), "PromQL calls too"
    local = load_environment("local", environ={"INGRESS_AUTH_PASSWORD": password})
    assert registry.prometheus(local).session.auth is None, "loopback URLs do not go through the front door"
