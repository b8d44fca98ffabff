"""The kwok target's operators, without a cluster: their commands, builds and CRDs.

What runs against the real control plane is in tests/test_operators_kwok.py; here: every
listener and dialled address is loopback, the cert-manager entry point links no issuer
that would dial off the machine, the build recipes' version stamps, and the CRDs as the
charts render them, labelled for helm to adopt where the chart ships them as templates.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from obs_conformance.clients.kubernetes import KubernetesClient
from obs_conformance.deployer import pins
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.targets.kwok import operators
from obs_conformance.deployer.targets.kwok.components import KubePlane
from obs_conformance.deployer.targets.kwok.pki import ADMIN, KubePki
from obs_conformance.deployer.toolchain import gobuild, kube_build, operator_build
from obs_conformance.envconf import load_environment

FORBIDDEN_PACKAGES = ("/pkg/issuer/acme", "/pkg/issuer/vault", "/pkg/issuer/venafi", "Venafi/vcert", "acmechallenges")


def plane(tmp_path: Path) -> KubePlane:
    return KubePlane(load_environment("kwok"), Layout(tmp_path / "kube"), kube_build.kube_binaries())


def test_every_operator_listens_on_loopback_and_reads_the_admin_kubeconfig(tmp_path: Path) -> None:
    kube = plane(tmp_path)
    components = {c.name: c for c in operators.operators(kube)}
    assert list(components) == ["prometheus-operator", "opentelemetry-operator", "cert-manager"]
    for name, component in components.items():
        argv = component.spec.argv
        addresses = [a.split("=", 1)[1] for a in argv if re.search(r"-(addr|address)=", a)]
        assert addresses, f"{name}: no listen address flag in {argv}"
        for address in addresses:
            host = address.rsplit(":", 1)[0]
            assert ipaddress.ip_address(host).is_loopback, f"{name} listens on {address}"
        assert component.spec.ready_probe is not None and component.spec.ready_url.startswith("http://127.0.0.1:")
        kubeconfig = component.spec.env.get("KUBECONFIG") or next(
            a.split("=", 1)[1] for a in argv if a.startswith("--kubeconfig=")
        )
        assert kubeconfig == str(kube.kubeconfig), f"{name} reads {kubeconfig}"
        assert component.build is not None and component.prepare is not None

    prom, otel, cm = (components[n].spec.argv for n in components)
    assert "--kubelet-service=" in prom, "the kubelet Endpoints controller would publish node addresses"
    assert "--enable-webhooks=false" in otel and "--enable-leader-election=false" in otel
    assert f"--collector-image={pins.COLLECTOR_IMAGE}:{pins.OTELCOL_VERSION.lstrip('v')}" in otel
    assert "--leader-elect=false" in cm
    assert f"--cluster-resource-namespace={kube.env.text('NAMESPACE')}" in cm
    ports = [a.rsplit(":", 1)[1] for spec in (prom, otel, cm) for a in spec if re.search(r"-(addr|address)=", a)]
    assert len(set(ports)) == len(ports) == 5, ports


def test_binaries_are_named_by_version_and_entry_point_digest(tmp_path: Path) -> None:
    assert operator_build.prometheus_operator_binary().name == f"prometheus-operator-{pins.PROMETHEUS_OPERATOR_VERSION}"
    assert operator_build.opentelemetry_operator_binary().name == (
        f"opentelemetry-operator-v{pins.OPENTELEMETRY_OPERATOR_VERSION}"
    )
    assert pins.CHARTS["cert-manager"].version == pins.CERT_MANAGER_VERSION
    source = tmp_path / "certmanager"
    shutil.copytree(operator_build.CERT_MANAGER_SOURCE, source)
    before = operator_build.cert_manager_digest(source)
    assert before == operator_build.cert_manager_digest(operator_build.CERT_MANAGER_SOURCE)
    (source / "main.go").write_text((source / "main.go").read_text() + "\n// changed\n")
    assert operator_build.cert_manager_digest(source) != before, "an edited entry point must be rebuilt"


def test_entry_point_requires_the_charts_cert_manager_version() -> None:
    go_mod = operator_build.CERT_MANAGER_SOURCE / "go.mod"
    required = operator_build._required_version(go_mod, operator_build.CERT_MANAGER_MODULE)
    assert required == pins.CERT_MANAGER_VERSION, f"{go_mod} requires {required}"
    assert go_mod.read_text().startswith("module github.com/cert-manager/cert-manager/"), (
        "the entry point's module must sit under cert-manager's path to use its internal packages"
    )


@pytest.mark.slow
def test_entry_point_links_no_issuer_that_dials_off_the_machine() -> None:
    """ACME, Vault and Venafi would dial the internet; only selfSigned and CA issuers are linked."""
    done = subprocess.run(
        ["go", "list", "-deps", "."],
        cwd=operator_build.CERT_MANAGER_SOURCE,
        env=gobuild.go_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    packages = done.stdout.split()
    linked = [p for p in packages if any(f in p for f in FORBIDDEN_PACKAGES)]
    assert linked == [], f"the cert-manager entry point links {linked}"
    for wanted in ("pkg/issuer/selfsigned", "pkg/issuer/ca", "pkg/controller/certificates/issuing"):
        assert f"github.com/cert-manager/cert-manager/{wanted}" in packages


def test_opentelemetry_operator_is_stamped_from_versions_txt() -> None:
    text = "# comment\noperator=0.131.0\nopentelemetry-collector=0.131.1\n" + "\n".join(
        f"{key}=9.9.9" for key in operator_build.OTEL_VERSION_KEYS if key not in ("operator", "opentelemetry-collector")
    )
    flags = operator_build.versions_txt_ldflags(text)
    package = operator_build.OTEL_VERSION_PACKAGE
    assert f"-X {package}.version=0.131.0" in flags
    assert f"-X {package}.otelCol=0.131.1" in flags
    assert f"-X {package}.autoInstrumentationJava=9.9.9" in flags
    with pytest.raises(Exception, match="autoinstrumentation-go"):
        operator_build.versions_txt_ldflags(text.replace("autoinstrumentation-go=", "x="))


def test_nested_module_replaces_are_dropped(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text(
        "module example.com/op\n\ngo 1.24\n\nrequire example.com/op/api v1.0.0\n\n"
        "replace (\n\texample.com/op/api => ./api\n\texample.com/other => example.com/fork v1.0.0\n)\n"
    )
    operator_build.drop_local_replaces(tmp_path)
    text = (tmp_path / "go.mod").read_text()
    assert "./api" not in text and "example.com/fork v1.0.0" in text
    assert "require example.com/op/api v1.0.0" in text


def test_adopted_crds_carry_helm_ownership() -> None:
    crds = operators.ChartCrds("opentelemetry-operator", "opentelemetry-operator", "ns", (), adopt=True)
    crd = {"metadata": {"name": "x.example.io", "labels": {"a": "b"}, "creationTimestamp": None}, "spec": {}}
    found = operators.adopted(crd, crds)
    assert found["metadata"]["labels"] == {"a": "b", "app.kubernetes.io/managed-by": "Helm"}
    assert found["metadata"]["annotations"] == {
        "meta.helm.sh/release-name": "opentelemetry-operator",
        "meta.helm.sh/release-namespace": "ns",
    }
    assert "creationTimestamp" not in found["metadata"] and crd["metadata"]["labels"] == {"a": "b"}


@pytest.mark.slow
def test_crds_render_from_the_pinned_charts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Webhooks off: no conversion webhook a kwok pod would have to serve; adoption metadata where helm needs it."""
    from tests.cluster_render import parsed_documents

    if operators.chart_source().directory is None:
        pytest.skip("no offline chart mirror ($OBSCONF_CHARTS or ../shared/charts)")
    # helm template runs every time; its output's documents are those load_all made of the same text
    monkeypatch.setattr(operators, "load_all", parsed_documents)
    env = load_environment("kwok")
    wanted = {
        "prometheus-operator": {"prometheuses.monitoring.coreos.com", "alertmanagers.monitoring.coreos.com"},
        "opentelemetry-operator": {"opentelemetrycollectors.opentelemetry.io", "instrumentations.opentelemetry.io"},
        "cert-manager": {"certificates.cert-manager.io", "clusterissuers.cert-manager.io"},
    }
    for name, crds in operators.operator_crds(env).items():
        documents = operators.render_crds(crds, operators.chart_source(), pins.KUBERNETES_VERSION)
        names = {d["metadata"]["name"] for d in documents}
        assert wanted[name] <= names, f"{name}: {sorted(names)}"
        for document in documents:
            assert "conversion" not in document["spec"] or document["spec"]["conversion"]["strategy"] == "None", (
                f"{document['metadata']['name']}: {json.dumps(document['spec']['conversion'])}"
            )
            annotations = document["metadata"].get("annotations") or {}
            assert (annotations.get("meta.helm.sh/release-name") == crds.release) == crds.adopt


def json_text(body: dict[str, object]) -> str:
    return json.dumps(body)


class _Response:
    def __init__(self, url: str, status: int, body: dict[str, object]) -> None:
        self.url, self.status_code, self._body, self.text = url, status, body, json_text(body)

    def json(self) -> dict[str, object]:
        return self._body


class _FakeCrdApi:
    """The CRD endpoints of an API server, in memory: server-side apply stores, GET answers (Established)."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, object]] = {}
        self.patches: list[str] = []

    def request(self, method: str, url: str, json: dict[str, object] | None = None, **kwargs: object) -> _Response:
        name = url.rsplit("/", 1)[1]
        if method == "PATCH" and json is not None:
            self.patches.append(name)
            self.stored[name] = {**json, "status": {"conditions": [{"type": "Established", "status": "True"}]}}
        return _Response(url, 200, self.stored[name]) if name in self.stored else _Response(url, 404, {})

    def get(self, url: str, **kwargs: object) -> _Response:
        return self.request("GET", url)


def test_crds_are_applied_once_then_skipped_while_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pki = KubePki(tmp_path)
    admin = pki.client(ADMIN)
    api = KubernetesClient.with_client_certificate("https://127.0.0.1:1", pki.ca.cert, admin.cert, admin.key, 5.0)
    fake = _FakeCrdApi()
    monkeypatch.setattr(api.session, "request", fake.request)
    monkeypatch.setattr(api.session, "get", fake.get)
    crds = [{"metadata": {"name": f"{n}.example.io", "annotations": {"a": "b"}}, "spec": {"n": n}} for n in ("x", "y")]
    operators.apply_crds(api, crds, 5.0)
    assert fake.patches == ["x.example.io", "y.example.io"]
    assert fake.stored["x.example.io"]["metadata"]["annotations"]["a"] == "b"  # type: ignore[index]
    operators.apply_crds(api, crds, 5.0)
    assert fake.patches == ["x.example.io", "y.example.io"], "an unchanged CRD was sent again"
    changed = [crds[0], {**crds[1], "spec": {"n": "y2"}}]
    operators.apply_crds(api, changed, 5.0)
    assert fake.patches[2:] == ["y.example.io"], "a changed CRD was not applied"
