"""The cluster path for real: ``python -m deployer up|down --env kwok`` with the offline charts on a
PRIVATE control plane (free ports, its own state dir, kubeconfig and rendered files), operators included.

One test, in order: a first ``up`` (every ``helm upgrade --install --wait`` through, every manifest
applied), the k8s suites pass on it, a second ``up`` writes nothing (see below), ``down`` keeps the PVCs
and names them, ``down --delete-data`` removes them, and the secrets (the webhook, the Postgres and
OTLP passwords, the latter's base64 and header forms too) appear in no output, log or file the deploy
and the control plane wrote (etcd's data excepted: the API server stores Secrets there,
as on every cluster).

What "changes nothing" means here: after the second ``up`` every object the deploy made has the same
resourceVersion, except (a) one new helm release record per release (``sh.helm.release.v1.<r>.v<n+1>``:
helm records every upgrade as a revision, even a no-op one) whose manifest equals the previous
revision's, and (b) status written by a controller (prometheus-operator, StatefulSet controller, kwok),
with metadata.generation unchanged.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from obs_conformance.clients.polling import Observation, wait_for
from obs_conformance.deployer.cluster.basic_auth import secret_forms
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.local import LocalStack
from obs_conformance.deployer.toolchain import kube_build
from obs_conformance.envconf import Environment, Secret, load_environment
from obs_conformance.envconf.stack_facts import PVCS
from tests.test_kube_control_plane import free_port, private_env

ROOT = Path(__file__).resolve().parent.parent
CHARTS = ROOT.parent / "shared" / "charts"

pytestmark = [pytest.mark.stack, pytest.mark.slow]


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[tuple[Environment, Path, Path]]:
    """Control plane and operators on free ports; deleted with their data after."""
    if not (CHARTS / "SHA256SUMS").is_file():
        pytest.skip(f"the offline chart directory {CHARTS} is missing")
    kube_build.build_kube()
    env_file = private_env(tmp_path)
    env = load_environment(str(env_file), environ={})
    state = tmp_path / "state" / "kube"
    stack = LocalStack(env, Layout(state))
    try:
        stack.up()
        yield env, env_file, state
    finally:
        stack.down(delete_data=True)


class Deployer:
    def __init__(self, env_file: Path, tmp_path: Path) -> None:
        self.slack = f"http://127.0.0.1:9/services/T0/B0/{secrets.token_hex(16)}"
        self.password = secrets.token_urlsafe(24)
        self.otlp_password = secrets.token_urlsafe(24)
        self.deploy_dir = tmp_path / "deploy"
        self.env_file = env_file
        self.outputs: list[str] = []
        self.environ = {
            **os.environ,
            "SLACK_WEBHOOK_URL": self.slack,
            "POSTGRES_EXPORTER_PASSWORD": self.password,
            "OTLP_AUTH_PASSWORD": self.otlp_password,
            "OBSCONF_DEPLOY_DIR": str(self.deploy_dir),
        }

    def secrets(self, env: Environment) -> tuple[str, ...]:
        """What must show nowhere: the webhook, the Postgres password, the OTLP password and its sent forms."""
        otlp = secret_forms(env.otlp_user, Secret(self.otlp_password)).values()
        return (self.slack, self.password, *otlp)

    def attempt(
        self, *args: str, timeout: float = 900, env_file: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "deployer", *args, "--env", str(env_file or self.env_file)]
        done = subprocess.run(
            argv, cwd=ROOT, env=self.environ, capture_output=True, text=True, timeout=timeout, check=False
        )
        self.outputs += [done.stdout, done.stderr]
        return done

    def run(self, *args: str, timeout: float = 900, env_file: Path | None = None) -> str:
        done = self.attempt(*args, timeout=timeout, env_file=env_file)
        assert done.returncode == 0, (
            f"`{' '.join(done.args)}` exited {done.returncode}:\n{done.stdout[-3000:]}{done.stderr}"
        )
        return done.stdout

    def up(self, env_file: Path | None = None) -> str:
        return self.run("up", "--charts", str(CHARTS), env_file=env_file)


def kubectl(env: Environment, *args: str) -> str:
    argv = [str(kube_build.kubectl()), f"--kubeconfig={env.repo_path('KUBECONFIG_FILE')}", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"`{' '.join(argv)}` exited {done.returncode}: {done.stderr.strip()}"
    return done.stdout


def snapshot(env: Environment) -> dict[str, dict[str, Any]]:
    """Every object of every listable kind (events and leases aside), by kind/namespace/name."""
    kinds = kubectl(env, "api-resources", "--verbs=list", "-o", "name").split()
    skip = {"events", "events.events.k8s.io", "leases.coordination.k8s.io", "componentstatuses"}
    found: dict[str, dict[str, Any]] = {}
    for kind in (k for k in kinds if k not in skip):
        for obj in json.loads(kubectl(env, "get", kind, "-A", "-o", "json"))["items"]:
            meta = obj["metadata"]
            found[f"{kind}/{meta.get('namespace', '')}/{meta['name']}"] = obj
    return found


def _without_status(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in obj["metadata"].items() if k not in {"resourceVersion", "managedFields"}}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


def _release(obj: dict[str, Any]) -> tuple[str, int] | None:
    if obj.get("kind") != "Secret" or obj.get("type") != "helm.sh/release.v1":
        return None
    labels = obj["metadata"].get("labels", {})
    return labels["name"], int(labels["version"])


def _manifest(obj: dict[str, Any]) -> str:
    release = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(obj["data"]["release"]))))
    return str(release["manifest"])


def check_second_up_changes_nothing(env: Environment, before: dict[str, dict[str, Any]], after: dict[str, Any]) -> None:
    problems = []
    new_revisions = {k: v for k, v in after.items() if k not in before}
    releases_before = {r: (k, o) for k, o in before.items() if (r := _release(o))}
    for key, obj in new_revisions.items():
        release = _release(obj)
        if release is None:
            problems.append(f"{key}: created by the second up")
            continue
        name, version = release
        previous = releases_before.get((name, version - 1))
        if previous is None or _manifest(previous[1]) != _manifest(obj):
            problems.append(f"helm release {name} v{version}: manifest differs from v{version - 1}")
    for key, old in before.items():
        new = after.get(key)
        if new is None:
            problems.append(f"{key}: deleted by the second up")
        elif new["metadata"]["resourceVersion"] != old["metadata"]["resourceVersion"]:
            if _release(old):
                continue  # the previous revision's record is marked superseded: helm's bookkeeping
            if _without_status(new) != _without_status(old):
                problems.append(
                    f"{key}: changed beyond its status (generation {old['metadata'].get('generation')} -> {new['metadata'].get('generation')})"
                )
    assert not problems, "second up changed:\n  " + "\n  ".join(problems)
    bumped = sorted({n for k in new_revisions if (r := _release(after[k])) for n in [r[0]]})
    assert bumped, "expected helm to record one no-op revision per release"


def pvcs(env: Environment) -> list[str]:
    found = json.loads(kubectl(env, "get", "pvc", "-n", env.text("NAMESPACE"), "-o", "json"))["items"]
    return sorted(p["metadata"]["name"] for p in found)


def test_up_twice_suites_down_and_delete_data(
    plane: tuple[Environment, Path, Path], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env, env_file, state = plane
    deployer = Deployer(env_file, tmp_path)

    start = time.monotonic()
    first = deployer.up()
    request.node.user_properties.append(("first_up_seconds", round(time.monotonic() - start, 1)))
    assert "step 11: install tempo and its ingress" in first

    suites = subprocess.run(
        [sys.executable, "-m", "pytest", "suites", "--env", str(env_file), "-m", "k8s", "-q", "--no-reports", "-rs"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert suites.returncode == 0 and " failed" not in suites.stdout, suites.stdout[-4000:]
    skipped = [line for line in suites.stdout.splitlines() if line.startswith("SKIPPED")]
    assert all("kwok target:" in line for line in skipped), skipped

    before = snapshot(env)
    start = time.monotonic()
    deployer.up()
    request.node.user_properties.append(("second_up_seconds", round(time.monotonic() - start, 1)))
    check_second_up_changes_nothing(env, before, snapshot(env))

    expected = sorted(PVCS.values())
    assert set(expected) <= set(pvcs(env)), pvcs(env)
    down = deployer.run("down")
    for name in expected:
        assert f"{env.text('NAMESPACE')}/{name}" in down, down
    assert set(expected) <= set(pvcs(env)), "down deleted PVCs"

    deployer.run("down", "--delete-data")

    def gone() -> Observation[list[str]]:
        left = sorted(set(pvcs(env)) & set(expected))
        return Observation(left, not left, f"PVCs left: {left}")

    wait_for(gone, expected="no PVC of the stack", where=f"namespace {env.text('NAMESPACE')}", deadline=60)

    # the secrets: in no output, no rendered file, no log or file of the control plane (etcd's data aside)
    leaks = []
    hidden = deployer.secrets(env)
    for text in deployer.outputs:
        leaks += [f"output ({hidden.index(s)})" for s in hidden if s in text]
    etcd_data = state / "data" / "etcd"
    for root in (deployer.deploy_dir, state):
        for path in (p for p in root.rglob("*") if p.is_file()):
            if etcd_data in path.parents:
                continue
            data = path.read_bytes()
            leaks += [f"{path}" for s in hidden if s.encode() in data]
    assert not leaks, f"secrets found in: {leaks}"


def with_values(env_file: Path, name: str, **values: str) -> Path:
    """A copy of ``env_file`` with ``values`` set (replaced where the file has the key, else added)."""
    text = env_file.read_text()
    for key, value in values.items():
        line = f'{key}="{value}"'
        text, found = re.subn(rf"^{key}=.*$", line, text, flags=re.MULTILINE)
        text += "" if found else f"\n{line}\n"
    path = env_file.with_name(f"{name}.env")
    path.write_text(text)
    return path


CHANGE = re.compile(r"^    (\S+ \S+): (created|changed|unchanged)\b", re.MULTILINE)
BAD_DEADLINE = 20  # seconds each bad deploy waits for what the operators make


def fails_stuck(deployer: Deployer, env_file: Path, *expected: str) -> str:
    """``up`` with bad values: exit 3 (not a failed step), within its deadline, one line per stuck object."""
    start = time.monotonic()
    done = deployer.attempt("up", "--charts", str(CHARTS), env_file=env_file)
    assert done.returncode == 3, f"exit {done.returncode}, expected 3 (not ready):\n{done.stdout[-2000:]}{done.stderr}"
    waited = re.search(r"^ready\?: waiting up to (\d+)s", done.stdout, re.MULTILINE)
    assert waited and int(waited[1]) == BAD_DEADLINE, done.stdout[-1500:]
    assert "step 11: install tempo and its ingress" in done.stdout, "every step runs before the wait"
    report = done.stderr
    assert f"not ready {BAD_DEADLINE}s after the steps" in report, report
    for needle in expected:
        assert needle in report, f"{needle!r} not in:\n{report}"
    assert time.monotonic() - start < BAD_DEADLINE + 240, "the wait outlived its deadline"
    return report


@pytest.mark.timeout(900)
def test_up_waits_for_what_the_operators_make_and_names_what_is_stuck(
    plane: tuple[Environment, Path, Path], tmp_path: Path
) -> None:
    """One private plane, one namespace, each case starting from what the last left: a StorageClass the
    cluster lacks on a fresh deploy, the clean deploy that repairs it, a no-op ``up``, a request no node
    fits, an issuer nothing can make ready."""
    env, env_file, _ = plane
    deployer = Deployer(env_file, tmp_path)
    ns = env.text("NAMESPACE")
    alertmanager = "alertmanager-prom-stack-kube-prometheus-alertmanager"
    bad = {"DEPLOY_READY_DEADLINE": f"{BAD_DEADLINE}s"}

    # prometheus-operator v0.83 checks the class itself: no StatefulSet, no PVC, a reconcile error on the CR
    storage = with_values(env_file, "bad-storage", ALERTMANAGER_STORAGE_CLASS="no-such-class", **bad)
    fails_stuck(
        deployer, storage,
        f"step 6: StatefulSet {ns}/{alertmanager}: missing: Alertmanager prom-stack-kube-prometheus-alertmanager "
        'Reconciled=False ReconciliationFailed: storage class "no-such-class" does not exist',
    )  # fmt: skip

    clean = deployer.up()
    assert re.search(r"^ready: all of it, in [\d.]+s$", clean, re.MULTILINE), clean[-1500:]
    again = deployer.up()
    reported = CHANGE.findall(again)
    assert len(reported) >= 15, again
    assert {state for _, state in reported} == {"unchanged"}, [r for r in reported if r[1] != "unchanged"]
    assert "configured" not in again

    request = with_values(
        env_file, "bad-request", OTEL_COLLECTOR_CPU_REQUEST="2000", OTEL_COLLECTOR_CPU_LIMIT="2000", **bad
    )
    fails_stuck(
        deployer, request,
        f"step 7: Deployment {ns}/otel-collector-collector: ",
        "Pending: FailedScheduling: 0/1 nodes are available: 1 Insufficient cpu.",
    )  # fmt: skip

    dead_acme = f"https://127.0.0.1:{free_port()}/directory"  # nothing listens there
    issuer = with_values(
        env_file, "bad-issuer", CLUSTER_ISSUER="broken-acme", ISSUER_TYPE="acme", ACME_SERVER=dead_acme,
        ACME_EMAIL="ops@example.com", **bad,
    )  # fmt: skip
    report = fails_stuck(
        deployer,
        issuer,
        f"step 6: Certificate {ns}/prometheus-tls: Ready=False",
        f"step 11: Certificate {ns}/tempo-tls: Ready=False",
        # kwok's cert-manager links no ACME issuer: nothing ever reconciles it, and the report says so
        "issuer ClusterIssuer broken-acme has no Ready condition (no controller has reconciled it)",
    )
    assert "otel-collector-collector" not in report, "the collector's request is back to what fits"
