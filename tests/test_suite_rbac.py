"""The suite's service account in the cluster (charts/obs-conformance-canary/templates/rbac.yaml) on kwok:
least privilege, proven with the account's own token.

The chart's account and rights are applied on the shared kwok plane (a release name and a test namespace
of this test's own), a token is asked of the TokenRequest API (``kubectl create token``), and the k8s
checks run with a kubeconfig holding only that token: green. With one read taken out of the rights, the
check that needs it fails naming the forbidden request (the API's 403 reaches its message). The account's
SelfSubjectRulesReview shows no write outside the test namespace and no Secret read outside the stack's
and the test namespace.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from obs_conformance.deployer.local import LocalStack
from obs_conformance.deployer.toolchain import kube_build
from obs_conformance.deployer.toolchain.tools import pinned_helm
from obs_conformance.envconf import Environment, load_environment
from obs_conformance.envconf.environment import ENVIRONMENTS_DIR

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "obs-conformance-canary"
KWOK_ENV = ENVIRONMENTS_DIR / "kwok" / "obs-conformance.env"
WRITES = {"create", "update", "patch", "delete", "deletecollection", "*"}
# what every authenticated user may do (system:basic-user, system:discovery): asking about oneself
SELF_REVIEWS = {"authorization.k8s.io", "authentication.k8s.io"}

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def kubectl(env: Environment, *args: str, stdin: str | None = None, kubeconfig: Path | None = None) -> str:
    config = kubeconfig or env.repo_path("KUBECONFIG_FILE")
    argv = [str(kube_build.kubectl()), f"--kubeconfig={config}", *args]
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"kubectl {' '.join(args[:3])} exited {done.returncode}: {done.stderr.strip()}"
    return done.stdout


class Account:
    """The chart's service account and rights on kwok, and an env copy whose kubeconfig is its token."""

    def __init__(self, kwok: Environment, tmp_path: Path) -> None:
        self.kwok = kwok
        suffix = secrets.token_hex(3)
        self.namespace = f"obsconf-rbac-{suffix}"  # the release's namespace and the run's test namespace
        self.release = f"rbac-{suffix}"
        self.name = f"{self.release}-obs-conformance-canary"
        self.tmp = tmp_path
        self.documents = self.render()
        kubectl(kwok, "create", "namespace", self.namespace)
        self.apply(self.documents)
        self.kubeconfig = self.token_kubeconfig()
        text = KWOK_ENV.read_text()
        text = text.replace('TEST_NAMESPACE="obs-conformance-test"', f'TEST_NAMESPACE="{self.namespace}"')
        text = text.replace('KUBECONFIG_FILE=".local-stack/kube/kubeconfig"', f'KUBECONFIG_FILE="{self.kubeconfig}"')
        assert str(self.kubeconfig) in text and self.namespace in text, "the kwok env file changed its keys"
        self.env_file = tmp_path / "rbac.env"
        self.env_file.write_text(text)

    def render(self) -> list[dict[str, Any]]:
        values = ["--set-file", f"env.file={KWOK_ENV}", "--set", f"rbac.testNamespace={self.namespace}", "--set", "rbac.createTestNamespace=false",
                  "--set", f"rbac.stackNamespace={self.kwok.text('NAMESPACE')}"]  # fmt: skip
        shown = ["--show-only", "templates/rbac.yaml", "--show-only", "templates/serviceaccount.yaml"]
        argv = ["template", self.release, str(CHART), "-n", self.namespace, *values, *shown]
        done = pinned_helm()(*argv).run(timeout=120)
        assert done.returncode == 0, done.stderr
        return [d for d in yaml.safe_load_all(done.stdout) if d]

    def apply(self, documents: list[dict[str, Any]]) -> None:
        kubectl(self.kwok, "apply", "-f", "-", stdin="\n---\n".join(json.dumps(d) for d in documents))

    def token_kubeconfig(self) -> Path:
        token = kubectl(self.kwok, "-n", self.namespace, "create", "token", self.name, "--duration=20m").strip()
        admin = yaml.safe_load(self.kwok.repo_path("KUBECONFIG_FILE").read_text())
        cluster = admin["clusters"][0]["cluster"]
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "kwok-obs-conformance",
            "clusters": [{"name": "kwok", "cluster": cluster}],
            "users": [{"name": "suite", "user": {"token": token}}],
            "contexts": [{"name": "kwok-obs-conformance", "context": {"cluster": "kwok", "user": "suite"}}],
        }  # fmt: skip
        path = self.tmp / "suite-kubeconfig"
        path.touch(mode=0o600)
        path.write_text(yaml.safe_dump(config))
        return path

    def run_k8s(self, *selection: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "pytest", "suites", "--env", str(self.env_file), "-m", "k8s", "-q",
                "--no-reports", "--no-stack-up", "-p", "no:cacheprovider", "-n", "0", *selection]  # fmt: skip
        return subprocess.run(argv, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=300)

    def rules(self, namespace: str) -> list[dict[str, Any]]:
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
                  "spec": {"namespace": namespace}}  # fmt: skip
        out = kubectl(
            self.kwok,
            "create",
            "--validate=false",
            "-f",
            "-",
            "-o",
            "json",
            stdin=json.dumps(review),
            kubeconfig=self.kubeconfig,
        )
        found: list[dict[str, Any]] = json.loads(out)["status"]["resourceRules"]
        return found

    def remove(self) -> None:
        for doc in self.documents:
            where = ["-n", doc["metadata"]["namespace"]] if "namespace" in doc["metadata"] else []
            kubectl(self.kwok, *where, "delete", doc["kind"], doc["metadata"]["name"], "--ignore-not-found")
        kubectl(self.kwok, "delete", "namespace", self.namespace, "--ignore-not-found", "--wait=false")


@pytest.fixture
def account(tmp_path: Path) -> Iterator[Account]:
    kwok = load_environment("kwok", environ={})
    LocalStack(kwok).ensure_started()  # the shared target: started if it is not running, never stopped here
    made = Account(kwok, tmp_path)
    try:
        yield made
    finally:
        made.remove()


def test_the_k8s_checks_pass_with_the_accounts_token_and_fail_naming_a_read_taken_away(account: Account) -> None:
    green = account.run_k8s()
    assert green.returncode == 0 and " passed" in green.stdout, green.stdout[-3000:] + green.stderr[-1500:]

    role = next(d for d in account.documents if d["kind"] == "Role" and d["metadata"]["name"].endswith("-reads"))
    role["rules"] = [r for r in role["rules"] if r["resources"] != ["ingresses"]]
    account.apply([role])
    red = account.run_k8s("-k", "ingress")
    assert red.returncode == 1, red.stdout[-3000:]
    # the API's own words, as the check's failure carries them (the body is JSON: its quotes escaped)
    said = 'ingresses.networking.k8s.io is forbidden: User \\"system:serviceaccount:'
    assert "answered 403" in red.stdout and said in red.stdout, red.stdout[-3000:]
    assert 'cannot list resource \\"ingresses\\"' in red.stdout, red.stdout[-3000:]
    assert f"system:serviceaccount:{account.namespace}:{account.name}" in red.stdout, red.stdout[-3000:]


def test_the_account_writes_only_in_the_test_namespace_and_reads_secrets_only_where_checks_do(
    account: Account,
) -> None:
    stack = account.kwok.text("NAMESPACE")
    elsewhere = [stack, "default", "kube-system", *account.kwok.app_namespaces]
    for namespace in [*elsewhere, account.namespace]:
        rules = [r for r in account.rules(namespace) if not set(r.get("apiGroups", [])) <= SELF_REVIEWS]
        writes = [r for r in rules if WRITES & set(r["verbs"])]
        secret_reads = [r for r in rules if "secrets" in r["resources"] or "*" in r["resources"]]
        if namespace == account.namespace:
            assert writes, f"the test namespace {namespace}: no write at all (the run's footprint needs some)"
            continue
        assert not writes, f"namespace {namespace}: the suite's account may write: {writes}"
        if namespace == stack:
            assert [r["verbs"] for r in secret_reads] == [["list"]], f"{namespace}: Secret rights {secret_reads}"
        else:
            assert not secret_reads, f"namespace {namespace}: the suite's account may read Secrets: {secret_reads}"
        assert all(set(r["verbs"]) <= {"get", "list"} for r in rules), f"{namespace}: {rules}"
