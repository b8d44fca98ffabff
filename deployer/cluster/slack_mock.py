"""The Slack mock on a cluster: manifests, and the kubectl calls that bring it up and remove it.

The suites call these around a run on kind/dev; the production Slack webhook is
never involved: test alerts carry the test namespace, which the production route
tree sends to ``null`` while the AlertmanagerConfig sends it to the mock.
"""

from __future__ import annotations

import inspect

from obs_conformance.deployer.render import render
from obs_conformance.deployer.toolchain.tools import Command, Kubectl, KubeTools
from obs_conformance.envconf import Environment, Secret
from obs_conformance.slack_mock import server

PYTHON_IMAGE = "python:3.11-slim"
SERVICE_PORT = 8080


def manifests(env: Environment, token: str) -> str:
    namespace = env.text("TEST_NAMESPACE")
    return render(
        "cluster/slack-mock.yaml.j2",
        {
            "test_namespace": namespace,
            "script": inspect.getsource(server),  # the stdlib-only module runs as one file in a python image
            "hook_url": f"http://slack-mock.{namespace}.svc:{SERVICE_PORT}/services/TTEST/BTEST/{token}",
            "python_image": PYTHON_IMAGE,
            "group_wait": str(env.duration("ALERT_GROUP_WAIT")),
            "group_interval": str(env.duration("ALERT_GROUP_INTERVAL")),
            "slack_channel": env.text("SLACK_CHANNEL"),
        },
    )


def kubectl(env: Environment) -> Kubectl:
    return KubeTools.of(env).kubectl


def setup_commands(env: Environment, manifest: str) -> list[Command]:
    """Applied from stdin (the manifest holds the hook URL, so it is never printed), then waited for."""
    namespace = env.text("TEST_NAMESPACE")
    return [
        kubectl(env).apply_stdin(Secret(manifest)),
        kubectl(env)("-n", namespace, "rollout", "status", "deployment/slack-mock", "--timeout=180s"),
    ]


def port_forward_command(env: Environment, local_port: int) -> Command:
    return kubectl(env)(
        "-n", env.text("TEST_NAMESPACE"), "port-forward", "svc/slack-mock", f"{local_port}:{SERVICE_PORT}"
    )


def teardown_commands(env: Environment) -> list[Command]:
    # waits: a namespace still terminating would make the next session's apply fail
    return [
        kubectl(env)(
            "delete", "namespace", env.text("TEST_NAMESPACE"), "--ignore-not-found", "--wait=true", "--timeout=120s"
        )
    ]
