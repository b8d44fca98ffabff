"""The cluster deploy of an env rendered with the real pinned charts, offline, for the render tests.

Everything comes from the deployer's own plan: its values files, its manifests and the
exact ``helm upgrade --install`` releases ``up`` would run, each through ``helm template``
(helm built at the pinned version) from the offline chart mirror ``../shared/charts``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from obs_conformance.deployer import pins
from obs_conformance.deployer.cluster.chart_render import lint, template_text
from obs_conformance.deployer.cluster.manifests import render_cluster
from obs_conformance.deployer.cluster.plan import Release, releases, up_plan
from obs_conformance.deployer.engine.layout import REPO_ROOT
from obs_conformance.deployer.toolchain.charts import ChartSource, load_all
from obs_conformance.deployer.toolchain.gobuild import cache_dir
from obs_conformance.deployer.toolchain.helm_build import build_helm
from obs_conformance.envconf import Environment, load_environment

CHARTS = ChartSource.from_option(str(REPO_ROOT.parent / "shared" / "charts"))
CLUSTER_ENVS = ("dev", "kind", "kwok")
SECRETS = {
    "SLACK_WEBHOOK_URL": "https://hooks.example.invalid/services/TSECRET/BSECRET/render-secret-42",
    "POSTGRES_EXPORTER_PASSWORD": "render-pg-secret-42",
    "INGRESS_AUTH_PASSWORD": "render-front-door-secret-42",
    "OTLP_AUTH_PASSWORD": "render-otlp-secret-42",
}
# Manifests the plan applies with kubectl (the rest of the rendered files are values files).
APPLIED = ("namespace.yaml", "cluster-issuer.yaml", "otel-collector.yaml", "instrumentation.yaml",
           "service-monitors.yaml", "conformance-rules.yaml", "tempo-ingress.yaml", "postgres.yaml")  # fmt: skip


@dataclass
class ClusterRender:
    """One env's deploy: our rendered files, the plan's releases, and each release's manifests."""

    env: Environment
    directory: Path
    files: dict[str, str]
    releases: dict[str, Release]
    manifests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @functools.cached_property
    def _applied(self) -> list[dict[str, Any]]:
        return [
            doc
            for name in APPLIED
            if name in self.files
            for doc in yaml.safe_load_all(self.files[name])
            if isinstance(doc, dict)
        ]

    def applied(self) -> list[dict[str, Any]]:
        """The objects of the manifests the plan applies itself (not through helm), parsed once like the releases'."""
        return self._applied

    def objects(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(release or "kubectl", object) for everything the deploy creates (``helm test`` hooks are not)."""
        for release, docs in self.manifests.items():
            for doc in docs:
                hooks = (doc.get("metadata") or {}).get("annotations") or {}
                hook = str(hooks.get("helm.sh/hook", ""))
                if not any(h.strip().startswith("test") for h in hook.split(",")):  # test, test-success
                    yield release, doc
        for doc in self.applied():
            yield "kubectl", doc

    def find(self, kind: str, name: str | None = None, release: str | None = None) -> list[dict[str, Any]]:
        return [
            doc
            for where, doc in self.objects()
            if doc.get("kind") == kind
            and (name is None or doc.get("metadata", {}).get("name") == name)
            and (release is None or where == release)
        ]

    def one(self, kind: str, name: str, release: str | None = None) -> dict[str, Any]:
        found = self.find(kind, name, release)
        assert len(found) == 1, f"{self.env.name}: expected one {kind} {name}, rendered {len(found)}"
        return found[0]

    def secret_file(self, name: str, key: str, release: str | None = None) -> str:
        secret = self.one("Secret", name, release)
        if key in secret.get("stringData", {}):
            return str(secret["stringData"][key])
        return base64.b64decode(secret["data"][key]).decode()


def helm() -> Path:
    return build_helm()


def _environment(name: str) -> Environment:
    return load_environment(name, environ=SECRETS)


def _cached(what: str, release: Release, run: Callable[[], str]) -> str:
    """Output of a helm command on a release, cached on disk by everything it depends on (xdist workers share it)."""
    inputs = [what, pins.HELM_VERSION, pins.KUBERNETES_VERSION, release.name, release.namespace, *release.chart]
    for arg in (*release.chart, *release.values):
        path = Path(arg)
        if path.is_absolute() and path.is_file():
            inputs.append(hashlib.sha256(path.read_bytes()).hexdigest())
    key = hashlib.sha256(json.dumps([*inputs, *(a for a in release.values if not Path(a).is_absolute())]).encode())
    cached = cache_dir() / "render" / f"{what}-{release.name}-{key.hexdigest()[:24]}.txt"
    if not cached.is_file():
        text = run()
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(cached)
    return cached.read_text()


def parsed_documents(text: str) -> list[dict[str, Any]]:
    """``load_all`` of a helm output, kept on disk as JSON keyed by the text and the loader.

    Building Python objects from the charts' megabytes of YAML costs seconds in every
    process (each xdist worker renders); JSON reads back in milliseconds. Only a result
    that survives the round trip unchanged is kept (no timestamps, no non-string keys).
    """
    loader = (REPO_ROOT / "deployer" / "cluster" / "chart_render.py").read_bytes()
    key = hashlib.sha256(yaml.__version__.encode() + loader + text.encode()).hexdigest()[:32]
    cached = cache_dir() / "render" / f"parsed-{key}.json"
    if cached.is_file():
        docs: list[dict[str, Any]] = json.loads(cached.read_text())
        return docs
    docs = load_all(text)
    try:
        dumped = json.dumps(docs)
    except (TypeError, ValueError):
        return docs
    if json.loads(dumped) == docs:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(dumped)
        tmp.replace(cached)
    return docs


def _templated(release: Release) -> list[dict[str, Any]]:
    return parsed_documents(_cached("template", release, lambda: template_text(release, pins.KUBERNETES_VERSION)))


def lint_output(release: Release) -> str:
    """``helm lint --strict`` of the release's chart and values (an error raises RenderError, never cached)."""
    return _cached("lint", release, lambda: lint(release, pins.KUBERNETES_VERSION))


@functools.cache
def rendered(name: str) -> ClusterRender:
    """The env's deploy, rendered once per process."""
    env = _environment(name)
    directory = Path(tempfile.mkdtemp(prefix=f"obsconf-render-{name}-"))
    files = render_cluster(env, directory)
    files.write()
    steps = up_plan(env, files, require_secrets=True, charts=CHARTS)
    result = ClusterRender(env, directory, files.files, {r.name: r for r in releases(steps)})
    for release in result.releases.values():
        result.manifests[release.name] = _templated(release)
    return result


def shared_otlp_htpasswd() -> Path:
    """The shared local stack's OTLP htpasswd: private collectors rendered from the local config check
    the same users, so the env's OTLP credentials (fixtures/otlp_auth.py) are let in there too."""
    from obs_conformance.deployer.engine.layout import Layout
    from obs_conformance.deployer.targets.stack.components import OTLP_HTPASSWD

    return Layout.default().config / OTLP_HTPASSWD


def local_collector_config(home: Path) -> dict[str, Any]:
    """The local stack's collector config as ``deployer local up`` renders it (rendered into ``home``):
    what the breakage tests and the bench run private collectors from."""
    from obs_conformance.deployer.cluster.operator_config import cluster_config
    from obs_conformance.deployer.engine.layout import Layout
    from obs_conformance.deployer.targets.stack.components import render_configs
    from obs_conformance.envconf import load_environment

    layout = Layout(home / "state")
    layout.create()
    hook = layout.secrets / "slack_webhook_url"
    hook.write_text("http://127.0.0.1:18080/services/T/B/unused")
    env = load_environment("local", environ={})
    rendered = render_configs(env, layout, hook, cluster_config(env, CHARTS), otlp_htpasswd_file=shared_otlp_htpasswd())
    config: dict[str, Any] = next(yaml.safe_load(r.text) for r in rendered if r.path.name == "otelcol.yaml")
    return config
