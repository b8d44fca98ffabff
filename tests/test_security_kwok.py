"""The secret-leak check against the real API of the kwok control plane: the Slack webhook the
deployer uses, planted in a ConfigMap, in a pod's env and in a helm release's stored values (gzip and
base64 inside the Secret's base64, as helm v3 keeps them) of a namespace of its own, is found and
named in each place, masked; the same namespace without the plants passes. The OTLP password the
deployer uses, in each form it travels in, planted where a careless deploy would write it (its header
in an Instrumentation's env value, its base64 in a ConfigMap, the password in the collector CR's inline
htpasswd), is found and named by form."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from obs_conformance.clients.polling import Observation
from obs_conformance.deployer.cluster.basic_auth import secret_forms
from obs_conformance.deployer.cluster.plan import otlp_password, slack_webhook
from obs_conformance.envconf import Environment, load_environment
from tests.test_k8s_kwok import apply, kubectl, kwok, run_suites, variant_env, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.slow]
__all__ = ["kwok"]  # the shared target's fixture

NAMESPACE = "obsconf-brk-secret-leak"
CHECK = "test_secret_values_appear_only_in_secrets"


@pytest.fixture
def leak_namespace(kwok: Environment) -> Iterator[str]:
    kubectl(kwok, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true")
    apply(kwok, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    try:
        yield NAMESPACE
    finally:
        kubectl(kwok, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")


def _pod(webhook: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "leaky-pod", "namespace": NAMESPACE},
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [{"name": "app", "image": "busybox:1.36", "env": [{"name": "HOOK", "value": webhook}]}],
        },
    }


def _helm_release(webhook: str) -> dict[str, Any]:
    release = {"name": "leaky", "version": 1, "config": {"alertmanager": {"slack_api_url": webhook}}}
    stored = base64.b64encode(gzip.compress(json.dumps(release).encode())).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "metadata": {
            "name": "sh.helm.release.v1.leaky.v1",
            "namespace": NAMESPACE,
            "labels": {"owner": "helm", "name": "leaky", "version": "1"},
        },
        "data": {"release": base64.b64encode(stored.encode()).decode()},
    }


def test_a_planted_webhook_is_found_and_named_masked(kwok: Environment, leak_namespace: str, tmp_path: Path) -> None:
    env_file = variant_env(kwok, tmp_path, leak_namespace, kwok.text("CLUSTER_ISSUER"))
    webhook = slack_webhook(load_environment(str(env_file))).reveal()
    clean = run_suites(env_file, CHECK)
    assert "1 passed" in clean.stdout, clean.stdout[-3000:] + clean.stderr[-2000:]

    apply(kwok, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "leaky-config", "namespace": NAMESPACE},
                 "data": {"alertmanager.yaml": f"slack_api_url: {webhook}\n"}})  # fmt: skip
    apply(kwok, _helm_release(webhook))

    def created() -> Observation[bool]:  # the namespace's default ServiceAccount comes from the controller-manager
        done = kubectl_ok(kwok, _pod(webhook))
        return Observation(done, done, "pod not admitted yet (no default ServiceAccount?)")

    wait_until("the leaky pod created", f"namespace {NAMESPACE}", created)
    out = run_suites(env_file, CHECK)
    text = out.stdout + out.stderr
    assert "1 failed" in text, text[-3000:]
    assert f"SLACK_WEBHOOK_URL (****) in ConfigMap {NAMESPACE}/leaky-config data.alertmanager.yaml" in text, text[
        -3000:
    ]
    assert f"SLACK_WEBHOOK_URL (****) in Pod {NAMESPACE}/leaky-pod container app env HOOK" in text, text[-3000:]
    assert f"SLACK_WEBHOOK_URL (****) in helm release leaky v1 ({NAMESPACE}/sh.helm.release.v1.leaky.v1" in text
    assert webhook not in text and webhook.rsplit("/", 1)[-1] not in text, "the check printed the webhook"


def test_planted_otlp_credentials_are_found_by_form_masked(
    kwok: Environment, leak_namespace: str, tmp_path: Path
) -> None:
    env_file = variant_env(kwok, tmp_path, leak_namespace, kwok.text("CLUSTER_ISSUER"))
    env = load_environment(str(env_file))
    forms = secret_forms(env.otlp_user, otlp_password(env))
    header, credentials = (
        forms["OTLP_AUTH_PASSWORD (OTEL_EXPORTER_OTLP_HEADERS value)"],
        forms["OTLP_AUTH_PASSWORD (base64 user:password)"],
    )
    clean = run_suites(env_file, CHECK)
    assert "1 passed" in clean.stdout, clean.stdout[-3000:] + clean.stderr[-2000:]

    apply(kwok, {"apiVersion": "opentelemetry.io/v1alpha1", "kind": "Instrumentation",
                 "metadata": {"name": "leaky", "namespace": NAMESPACE},
                 "spec": {"env": [{"name": "OTEL_EXPORTER_OTLP_HEADERS", "value": header}]}})  # fmt: skip
    apply(kwok, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "leaky-otlp", "namespace": NAMESPACE},
                 "data": {"exporter.yaml": f"headers:\n  authorization: Basic {credentials}\n"}})  # fmt: skip
    inline = {"htpasswd": {"inline": f"{env.otlp_user}:{forms['OTLP_AUTH_PASSWORD']}"}}
    config = {"extensions": {"basicauth/otlp": inline}, "receivers": {"otlp": {"protocols": {"grpc": {}}}},
              "exporters": {"debug": {}}, "service": {"extensions": ["basicauth/otlp"],
              "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}}}}  # fmt: skip
    apply(kwok, {"apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector",
                 "metadata": {"name": "otel-collector", "namespace": NAMESPACE},
                 "spec": {"mode": "deployment", "upgradeStrategy": "automatic", "config": config}})  # fmt: skip
    out = run_suites(env_file, CHECK)
    text = out.stdout + out.stderr
    assert "1 failed" in text, text[-3000:]
    for needle in (
        f"OTLP_AUTH_PASSWORD (OTEL_EXPORTER_OTLP_HEADERS value) (****) in Instrumentation {NAMESPACE}/leaky",
        f"OTLP_AUTH_PASSWORD (base64 user:password) (****) in ConfigMap {NAMESPACE}/leaky-otlp data.exporter.yaml",
        f"OTLP_AUTH_PASSWORD (****) in OpenTelemetryCollector {NAMESPACE}/otel-collector",
    ):
        assert needle in text, f"{needle!r} not in {text[-3000:]}"
    assert not any(value in text for value in forms.values()), "the check printed an OTLP credential"


def kubectl_ok(env: Environment, obj: dict[str, Any]) -> bool:
    try:
        apply(env, obj)
    except AssertionError:
        return False
    return True
