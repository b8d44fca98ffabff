"""The canary's Helm chart (charts/obs-conformance-canary): its rules are the canary's, it lints
strictly, and on the kwok control plane its objects are accepted, its pod runs, its ServiceMonitor
selects its Service and its service account reads what the k8s checks read, and no Secret, and writes
nothing. ``helm test`` itself cannot finish there (kwok runs no container, so the test pod never
succeeds): its pod is checked by the API server (server-side dry run) instead."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from obs_conformance.canary.rules import chart_rule_groups
from obs_conformance.clients.polling import Observation, wait_for
from obs_conformance.deployer.errors import BuildError
from obs_conformance.deployer.toolchain import helm_build, kube_build
from obs_conformance.envconf import load_environment

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "obs-conformance-canary"
ENV_FILE = ROOT / "environments" / "kwok" / "obs-conformance.env"


def run(*argv: str | Path, timeout: float = 180) -> str:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, (
        f"`{' '.join(map(str, argv))}` exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def helm() -> Path:
    try:
        return helm_build.build_helm()
    except BuildError as e:
        pytest.skip(f"the pinned helm could not be built: {e}")


def test_chart_rules_are_the_canary_rules() -> None:
    assert (CHART / "files" / "canary-rules.yaml").read_text() == chart_rule_groups(), (
        "charts/obs-conformance-canary/files/canary-rules.yaml is stale: `obs-conformance rules --chart > it`"
    )


def test_chart_lints_strictly_and_renders_every_object(helm: Path) -> None:
    values = ["--set-file", f"env.file={ENV_FILE}"]
    run(helm, "lint", "--strict", CHART, *values)
    documents = [
        d for d in yaml.safe_load_all(run(helm, "template", "canary", CHART, "-n", "monitoring", *values)) if d
    ]
    kinds = sorted(d["kind"] for d in documents)
    assert kinds == sorted(
        [
            "ServiceAccount",
            "ConfigMap",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "Role",
            "RoleBinding",
            "RoleBinding",
            "Namespace",
            "Service",
            "Deployment",
            "ServiceMonitor",
            "PrometheusRule",
            "Pod",
        ]
    )
    rule = next(d for d in documents if d["kind"] == "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prom-stack"
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert alerts["ConformanceCanaryCheckFailing"]["expr"].endswith(">= 3")
    assert {r["labels"]["namespace"] for r in alerts.values()} == {"monitoring"}
    pod = next(d for d in documents if d["kind"] == "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test" and "smoke" in pod["spec"]["containers"][0]["args"]
    role = next(d for d in documents if d["kind"] == "ClusterRole")
    binding = next(d for d in documents if d["kind"] == "ClusterRoleBinding")
    # cluster-scoped, so named after the release and its namespace: installs in two namespaces never collide
    assert role["metadata"]["name"] == binding["metadata"]["name"] == "monitoring-canary-obs-conformance-canary"
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "canary-obs-conformance-canary", "namespace": "monitoring"}
    ]
    assert all(set(r["verbs"]) == {"list"} for r in role["rules"])  # cluster-wide: lists only (scrape coverage)
    assert not any("secrets" in r["resources"] for r in role["rules"])


@pytest.fixture
def kwok(helm: Path) -> Iterator[dict[str, Any]]:
    env = load_environment("kwok", environ={})
    kubeconfig = env.repo_path("KUBECONFIG_FILE")
    if not kubeconfig.is_file():
        pytest.skip(f"no kwok control plane ({kubeconfig} missing): `python -m deployer local up --env kwok`")
    kubectl = [str(kube_build.kubectl()), f"--kubeconfig={kubeconfig}"]
    ready = subprocess.run(
        [*kubectl, "get", "--raw", "/readyz"], capture_output=True, text=True, timeout=30, check=False
    )
    if ready.returncode != 0:
        pytest.skip(f"the kwok control plane does not answer: {ready.stderr.strip()[:200]}")
    crds = run(*kubectl, "get", "crd", "-o", "name")
    if "servicemonitors.monitoring.coreos.com" not in crds or "prometheusrules.monitoring.coreos.com" not in crds:
        pytest.skip("the kwok control plane has no prometheus-operator CRDs yet")
    namespace = f"canary-test-{secrets.token_hex(3)}"
    release = "canary"
    helm_args = [str(helm), f"--kubeconfig={kubeconfig}", "-n", namespace]
    # the chart's cluster-scoped objects: named after the release and its namespace (canary.clusterName)
    cluster_scoped = f"{namespace}-{release}-obs-conformance-canary"
    try:
        yield {"kubectl": kubectl, "helm": helm_args, "namespace": namespace, "release": release}
    finally:
        # everything the test installed goes, the cluster-scoped objects too: helm uninstall removes them;
        # if it failed (or the install was cut short), they are deleted by name, or a re-run would meet them
        subprocess.run(
            [*helm_args, "uninstall", release, "--ignore-not-found", "--wait", "--timeout", "120s"],
            capture_output=True,
            timeout=180,
            check=False,
        )
        left = subprocess.run(
            [*kubectl, "delete", "clusterrolebinding,clusterrole", cluster_scoped, "--ignore-not-found", "-o", "name"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        subprocess.run(
            [*kubectl, "delete", "namespace", namespace, "--wait=false"], capture_output=True, timeout=60, check=False
        )
        assert left.returncode == 0, f"could not delete ClusterRole(Binding) {cluster_scoped}: {left.stderr.strip()}"


@pytest.mark.stack
@pytest.mark.slow
def test_chart_on_kwok_runs_with_least_privilege(kwok: dict[str, Any]) -> None:
    kubectl, helm, namespace, release = kwok["kubectl"], kwok["helm"], kwok["namespace"], kwok["release"]
    run(
        *helm,
        "upgrade",
        "--install",
        release,
        CHART,
        "--create-namespace",
        "--set-file",
        f"env.file={ENV_FILE}",
        "--set",
        f"rbac.testNamespace={namespace}-t",  # its own: the suites' runs on the plane use obs-conformance-test
        "--wait",
        "--timeout",
        "120s",
        timeout=240,
    )
    fullname = f"{release}-obs-conformance-canary"

    def pod_running() -> Observation[str]:
        pods = json.loads(
            run(
                *kubectl,
                "-n",
                namespace,
                "get",
                "pods",
                "-l",
                "app.kubernetes.io/name=obs-conformance-canary",
                "-o",
                "json",
            )
        )["items"]
        phases = [p["status"].get("phase", "") for p in pods]
        return Observation("", phases == ["Running"], f"pods: {phases}")

    wait_for(pod_running, deadline=90, expected="the canary's one pod Running", where=f"pods of {namespace}")
    service = json.loads(run(*kubectl, "-n", namespace, "get", "service", fullname, "-o", "json"))
    monitor = json.loads(run(*kubectl, "-n", namespace, "get", "servicemonitor", fullname, "-o", "json"))
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items(), (selector, service["metadata"]["labels"])
    assert monitor["metadata"]["labels"]["release"] == "prom-stack"
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == {p["name"] for p in service["spec"]["ports"]}
    run(*kubectl, "-n", namespace, "get", "prometheusrule", fullname)

    run(*kubectl, "get", "clusterrole", f"{namespace}-{fullname}")
    run(*kubectl, "get", "clusterrolebinding", f"{namespace}-{fullname}")
    account = f"system:serviceaccount:{namespace}:{fullname}"

    def can(verb: str, resource: str, where: str = namespace) -> bool:
        done = subprocess.run(
            [*kubectl, "auth", "can-i", verb, resource, "-n", where, "--as", account],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return done.stdout.strip() == "yes"

    reads = [
        ("list", "pods"),
        ("list", "persistentvolumeclaims"),
        ("list", "deployments.apps"),
        ("list", "statefulsets.apps"),
        ("list", "ingresses.networking.k8s.io"),
        ("list", "certificates.cert-manager.io"),
        ("list", "servicemonitors.monitoring.coreos.com"),
        ("list", "instrumentations.opentelemetry.io"),
        ("get", "opentelemetrycollectors.opentelemetry.io"),
        ("list", "configmaps"),
    ]
    denied = [
        ("get", "secrets"),
        ("list", "secrets"),
        ("create", "pods"),
        ("delete", "pods"),
        ("create", "configmaps"),
        ("patch", "deployments.apps"),
        ("delete", "servicemonitors.monitoring.coreos.com"),
        ("create", "secrets"),
        ("update", "prometheusrules.monitoring.coreos.com"),
    ]
    assert [r for r in reads if not can(*r, where="kube-prometheus-stack")] == []
    assert [d for d in denied if can(*d)] == []
    # the stack's Secrets are listed (TLS Secrets, the secret-values check), never written
    assert [d for d in denied if can(*d, where="kube-prometheus-stack")] == [("list", "secrets")]
    assert can("create", "configmaps", where=f"{namespace}-t"), "the run's footprint: writes in its test namespace"

    test_pod = run(
        *helm,
        "template",
        release,
        CHART,
        "--set-file",
        f"env.file={ENV_FILE}",
        "--show-only",
        "templates/tests/smoke.yaml",
    )
    done = subprocess.run(
        [*kubectl, "-n", namespace, "apply", "--dry-run=server", "-f", "-"],
        input=test_pod,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
