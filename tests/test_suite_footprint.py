"""The suite's own footprint on a cluster (issue 23 part 3), on the shared kwok plane for real.

A real run of the suites (``pytest suites --env <kwok copy>``, the JSON pod log check) creates its log
pod through the kwok API server, in a test namespace of this test's own (``TEST_NAMESPACE`` of the env
copy), with the run's label and Lease (fixtures/footprint.py). The env copy gives the log check a long
deadline: kwok's pods print nothing, so the run waits there, its objects in place, until it is stopped.
Then: SIGINT and SIGTERM (without and with xdist) leave nothing with the suite's label; SIGKILL leaves
them, and the next run's start sweeps them (and what a killed run's Slack mock deploy left: every kind
of its manifest, through the real API), never an unlabelled object, never a live run's.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from obs_conformance.clients.polling import Observation, wait_for
from obs_conformance.deployer.cluster import slack_mock
from obs_conformance.deployer.cluster.footprint import RUN_LABEL
from obs_conformance.deployer.local import LocalStack
from obs_conformance.deployer.toolchain import kube_build
from obs_conformance.envconf import Environment, load_environment
from obs_conformance.envconf.environment import ENVIRONMENTS_DIR

ROOT = Path(__file__).resolve().parent.parent
KWOK_ENV = ENVIRONMENTS_DIR / "kwok" / "obs-conformance.env"
KINDS = "pods,configmaps,secrets,services,deployments.apps,replicasets.apps,leases.coordination.k8s.io," \
        "alertmanagerconfigs.monitoring.coreos.com"  # fmt: skip

pytestmark = [pytest.mark.stack, pytest.mark.slow]


@pytest.fixture(scope="module")
def kwok() -> Environment:
    env = load_environment("kwok", environ={})
    LocalStack(env).ensure_started()  # the shared target: started if it is not running, never stopped here
    return env


def kubectl(env: Environment, *args: str, stdin: str | None = None, check: bool = True) -> str:
    argv = [str(kube_build.kubectl()), f"--kubeconfig={env.repo_path('KUBECONFIG_FILE')}", *args]
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 or not check, f"kubectl {' '.join(args[:4])} exited {done.returncode}: {done.stderr}"
    return done.stdout


class Plane:
    """This test's namespace on the shared plane, and an env copy whose TEST_NAMESPACE names it."""

    def __init__(self, kwok: Environment, tmp_path: Path) -> None:
        self.kwok = kwok
        self.namespace = f"obsconf-fp-{secrets.token_hex(3)}"
        text = KWOK_ENV.read_text()
        text = text.replace('TEST_NAMESPACE="obs-conformance-test"', f'TEST_NAMESPACE="{self.namespace}"')
        text = text.replace('LOG_DEADLINE="60s"', 'LOG_DEADLINE="600s"')  # the run waits there until stopped
        assert self.namespace in text and 'LOG_DEADLINE="600s"' in text, "the kwok env file changed its keys"
        self.env_file = tmp_path / "footprint.env"
        self.env_file.write_text(text)
        self.logs = tmp_path

    def start(self, *extra: str, name: str = "run") -> subprocess.Popen[str]:
        argv = [sys.executable, "-m", "pytest", "suites", "--env", str(self.env_file), "-q", "--no-reports",
                "-p", "no:cacheprovider", "-k", "json_pod_log", *extra]  # fmt: skip
        with (self.logs / f"{name}.log").open("w") as out:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(
                argv, cwd=ROOT, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT, text=True
            )

    def env_copy(self) -> Environment:
        return load_environment(str(self.env_file), environ={})

    def output(self, name: str = "run") -> str:
        return (self.logs / f"{name}.log").read_text()

    def labelled(self, selector: str = RUN_LABEL) -> list[str]:
        """Every object with the suite's label in this namespace (``kind/name``), by the admin."""
        found = kubectl(self.kwok, "-n", self.namespace, "get", KINDS, "-l", selector, "-o", "name", check=False)
        return sorted(found.split())

    def run_objects(self, process: subprocess.Popen[str]) -> tuple[str, list[str]]:
        """Polled until the run's log pod and Lease exist: the run's id and its objects."""

        def probe() -> Observation[tuple[str, list[str]]]:
            if process.poll() is not None:
                raise AssertionError(
                    f"the run ended ({process.returncode}) before its objects: {self.output()[-2000:]}"
                )
            objects = self.labelled()
            leases = [o.rsplit("obs-conformance-run-", 1)[-1] for o in objects if o.startswith("lease")]
            pods = [o for o in objects if o.startswith("pod/billing-")]
            return Observation((leases[0] if leases else "", objects), bool(leases and pods), f"objects {objects}")

        where = f"kwok: namespace {self.namespace}"
        return wait_for(
            probe, deadline=120, max_interval=0.3, expected="the run's log pod and Lease", where=where
        ).value

    def namespace_gone(self) -> bool:
        return not kubectl(self.kwok, "get", "namespace", self.namespace, "--ignore-not-found", "-o", "name")

    def remove(self) -> None:
        kubectl(self.kwok, "delete", "namespace", self.namespace, "--ignore-not-found", "--wait=false")


@pytest.fixture
def plane(kwok: Environment, tmp_path: Path) -> Iterator[Plane]:
    made = Plane(kwok, tmp_path)
    try:
        yield made
    finally:
        made.remove()


def ended(process: subprocess.Popen[str], plane: Plane, deadline: float = 180) -> int:
    try:
        return process.wait(timeout=deadline)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(
            f"the run did not end {deadline:.0f} s after the signal: {plane.output()[-2000:]}"
        ) from None


@pytest.mark.parametrize(
    ("signum", "workers"),
    [(signal.SIGINT, "0"), (signal.SIGTERM, "0"), (signal.SIGTERM, "2")],
    ids=["SIGINT", "SIGTERM", "SIGTERM-xdist"],
)
def test_an_interrupted_run_removes_what_it_created(plane: Plane, signum: signal.Signals, workers: str) -> None:
    run = plane.start("-n", workers)
    run_id, objects = plane.run_objects(run)
    assert "pod/billing-" in " ".join(objects) and run_id, objects
    run.send_signal(signum)  # to the run's process (xdist: its controller) only, as a CI cancel or Ctrl-C does
    ended(run, plane)
    output = plane.output()
    assert "KeyboardInterrupt" in output, f"the run was not interrupted by {signum.name}: {output[-2000:]}"
    left = plane.labelled()
    assert not left, f"{signum.name} (-n {workers}): run {run_id} left {left} in {plane.namespace}"
    assert plane.namespace_gone(), f"{signum.name}: the namespace the run created is still there"


def test_a_killed_run_is_swept_by_the_next_run_and_nothing_else(plane: Plane, kwok: Environment) -> None:
    killed = plane.start("-n", "0", name="killed")
    killed_id, objects = plane.run_objects(killed)
    killed.kill()
    killed.wait(timeout=30)
    assert plane.labelled(f"{RUN_LABEL}={killed_id}") == objects, "a killed run cannot clean up: its objects stay"

    # what a killed run's in-cluster Slack mock deploy left (every kind of its manifest, and its pods)
    dead_id = "dead000001"
    manifest = slack_mock.manifests(plane.env_copy(), "t0ken", dead_id)
    kubectl(kwok, "apply", "-f", "-", stdin=manifest)
    kubectl(kwok, "apply", "-f", "-", stdin=lease(plane.namespace, dead_id, f"{socket.gethostname()}/{dead_pid()}"))
    # a live run's object (its Lease held by this test process) and an object without the label
    live_id = "live000001"
    kubectl(kwok, "apply", "-f", "-", stdin=lease(plane.namespace, live_id, f"{socket.gethostname()}/{os.getpid()}"))
    kubectl(kwok, "apply", "-f", "-", stdin=configmap(plane.namespace, "live-run-object", {RUN_LABEL: live_id}))
    kubectl(kwok, "apply", "-f", "-", stdin=configmap(plane.namespace, "not-the-suites", {}))
    planted = plane.labelled(f"{RUN_LABEL}={dead_id}")
    assert {k.split("/")[0] for k in planted} >= {
        "alertmanagerconfig.monitoring.coreos.com", "deployment.apps", "service", "configmap", "secret", "lease.coordination.k8s.io",
    }, planted  # fmt: skip

    nxt = plane.start("--collect-only", name="next")
    assert ended(nxt, plane, 120) in (0, 5), plane.output("next")[-2000:]  # 5: the suites' "no check ran"
    assert plane.labelled(f"{RUN_LABEL}={killed_id}") == [], "the killed run's objects stayed after the next start"
    assert plane.labelled(f"{RUN_LABEL}={dead_id}") == [], "the dead Slack mock deploy's objects stayed"
    assert plane.labelled(f"{RUN_LABEL}={live_id}") == [
        "configmap/live-run-object", f"lease.coordination.k8s.io/obs-conformance-run-{live_id}",
    ], "a live run's objects were touched"  # fmt: skip
    assert kubectl(kwok, "-n", plane.namespace, "get", "configmap", "not-the-suites", "-o", "name").strip()
    assert killed_id in plane.output("next") and dead_id in plane.output("next"), plane.output("next")[-1500:]


def dead_pid() -> int:
    """A pid no process of this host has (the highest free one under pid_max)."""
    pid = int(Path("/proc/sys/kernel/pid_max").read_text()) - 1
    while Path(f"/proc/{pid}").exists():
        pid -= 1
    return pid


def lease(namespace: str, run: str, holder: str) -> str:
    return json.dumps({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": f"obs-conformance-run-{run}", "namespace": namespace, "labels": {RUN_LABEL: run}},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 60},
    })  # fmt: skip


def configmap(namespace: str, name: str, labels: dict[str, str]) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels}, "data": {"x": "1"},
    })  # fmt: skip
