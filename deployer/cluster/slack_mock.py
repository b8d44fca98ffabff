"""The Slack mock on a cluster: manifests, and the kubectl calls that bring it up and remove it.

The suites call these around a run on kind/dev; the production Slack webhook is
never involved: test alerts carry the test namespace, which the production route
tree sends to ``null`` while the AlertmanagerConfig sends it to the mock.
"""

from __future__ import annotations

import inspect

from obs_conformance.deployer.cluster.footprint import RUN_LABEL
from obs_conformance.deployer.render import render
from obs_conformance.deployer.toolchain.tools import Command, Kubectl, KubeTools
from obs_conformance.envconf import Environment, Secret
from obs_conformance.slack_mock import server

PYTHON_IMAGE = "python:3.11-slim"
SERVICE_PORT = 8080


# what the manifest holds, for the teardown's label selector (pods and ReplicaSets go with their Deployment)
KINDS = "alertmanagerconfigs.monitoring.coreos.com,deployments.apps,services,configmaps,secrets"


def manifests(env: Environment, token: str, run: str = "render") -> str:
    """Every object labelled with the run (``RUN_LABEL``: a run's id; ``render`` where it is only compared
    or validated), all in the test namespace."""
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
            "run_label": RUN_LABEL,
            "run": run,
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


def teardown_commands(env: Environment, run: str) -> list[Command]:
    """The run's objects, by its label only (the namespace is the run's footprint's: fixtures/footprint.py)."""
    return [
        kubectl(env)(
            "-n", env.text("TEST_NAMESPACE"), "delete", KINDS, "-l", f"{RUN_LABEL}={run}",
            "--ignore-not-found", "--wait=true", "--timeout=120s",
        )
    ]  # fmt: skip
