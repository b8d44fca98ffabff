"""The kwok target as declared: components, flags, kubeconfigs and PKI, without building or starting anything."""

from __future__ import annotations

import ipaddress
import re
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from obs_conformance.deployer.engine.component import Component, Rendered
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.errors import StackError
from obs_conformance.deployer.local import target_for
from obs_conformance.deployer.targets.kwok import pki as kube_pki
from obs_conformance.deployer.targets.kwok.components import (
    DISABLED_CONTROLLERS,
    HOSTPATH_PROVISIONER,
    KUBERNETES_SERVICE_IP,
    node_document,
    storage_class_document,
)
from obs_conformance.deployer.targets.kwok.target import KubeTarget
from obs_conformance.deployer.toolchain import kube_build
from obs_conformance.envconf import Environment, load_environment

IPV4 = re.compile(r"(?<![\d.])(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(?:/\d+)?(?![\d.])")


@pytest.fixture(scope="module")
def env() -> Environment:
    return load_environment("kwok")


@pytest.fixture
def components(env: Environment, tmp_path: Path) -> dict[str, Component]:
    return {c.name: c for c in KubeTarget(env, Layout(tmp_path)).components()}


def flags(component: Component) -> dict[str, str]:
    return dict(arg.removeprefix("--").split("=", 1) for arg in component.spec.argv[1:] if "=" in arg)


def test_the_control_plane_in_start_order(components: dict[str, Component]) -> None:
    control_plane = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]
    assert list(components)[:5] == control_plane, "the control plane first, then what else the target runs"


def test_every_address_in_every_command_is_loopback(components: dict[str, Component]) -> None:
    """Listeners, advertised addresses, node and pod IPs, the Service range: nothing could lead off the machine."""
    seen = []
    for component in components.values():
        for arg in component.spec.argv:
            for address in IPV4.findall(arg):
                seen.append(address)
                assert ipaddress.ip_address(address).is_loopback, f"{component.name}: {arg} is not on loopback"
    assert len(seen) >= 10, seen


def test_every_listener_takes_its_port_from_the_env(env: Environment, components: dict[str, Component]) -> None:
    assert flags(components["etcd"])["listen-client-urls"] == f"http://127.0.0.1:{env.port('LOCAL_ETCD_PORT')}"
    assert flags(components["etcd"])["listen-peer-urls"] == f"http://127.0.0.1:{env.port('LOCAL_ETCD_PEER_PORT')}"
    assert flags(components["kube-apiserver"])["secure-port"] == str(env.port("LOCAL_KUBE_APISERVER_PORT"))
    assert flags(components["kube-controller-manager"])["secure-port"] == str(
        env.port("LOCAL_KUBE_CONTROLLER_MANAGER_PORT")
    )
    assert flags(components["kube-scheduler"])["secure-port"] == str(env.port("LOCAL_KUBE_SCHEDULER_PORT"))
    assert flags(components["kwok"])["server-address"] == f"127.0.0.1:{env.port('LOCAL_KWOK_PORT')}"
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert flags(components[name])["bind-address"] == "127.0.0.1", name


def test_apiserver_writes_no_endpoints_and_authorizes_with_rbac(components: dict[str, Component]) -> None:
    apiserver = flags(components["kube-apiserver"])
    assert apiserver["endpoint-reconciler-type"] == "none"
    assert apiserver["authorization-mode"] == "Node,RBAC"
    assert apiserver["etcd-servers"] == flags(components["etcd"])["advertise-client-urls"]


def test_controller_manager_provisions_host_paths_without_cloud_controllers(components: dict[str, Component]) -> None:
    manager = flags(components["kube-controller-manager"])
    assert manager["enable-hostpath-provisioner"] == "true"
    assert manager["controllers"].split(",") == ["*", *(f"-{name}" for name in DISABLED_CONTROLLERS)]
    assert {"node-ipam-controller", "service-lb-controller", "cloud-node-lifecycle-controller"} == set(
        DISABLED_CONTROLLERS
    )


def test_kwok_leases_nodes_and_manages_only_fake_ones(components: dict[str, Component]) -> None:
    kwok = flags(components["kwok"])
    assert kwok["node-lease-duration-seconds"] == "40"
    assert kwok["manage-nodes-with-annotation-selector"] == "kwok.x-k8s.io/node=fake"
    assert kwok["manage-all-nodes"] == "false"
    assert kwok["config"] == str(kube_build.kube_binaries().kwok_stages)
    assert (
        components["kwok"].spec.env["KWOK_WORKDIR"].startswith(str(Path(flags(components["etcd"])["data-dir"]).parent))
    )


def test_admin_kubeconfig_is_the_envs_file_with_its_context(env: Environment, components: dict[str, Component]) -> None:
    (admin,) = components["kube-apiserver"].rendered
    assert admin.path == env.repo_path("KUBECONFIG_FILE")
    assert admin.private
    document = yaml.safe_load(admin.text)
    assert document["current-context"] == env.text("KUBE_CONTEXT")
    (cluster,) = document["clusters"]
    assert cluster["cluster"]["server"] == f"https://127.0.0.1:{env.port('LOCAL_KUBE_APISERVER_PORT')}"
    (user,) = document["users"]
    assert set(user["user"]) == {"client-certificate", "client-key"}, "keys are referenced, never embedded"
    assert user["user"]["client-key"].endswith("client-admin.key")


def test_each_component_has_its_own_identity(components: dict[str, Component]) -> None:
    for name, identity in (
        ("kube-controller-manager", kube_pki.CONTROLLER_MANAGER),
        ("kube-scheduler", kube_pki.SCHEDULER),
        ("kwok", kube_pki.KWOK),
    ):
        (rendered,) = components[name].rendered
        assert rendered.private
        assert flags(components[name])["kubeconfig"] == str(rendered.path)
        (user,) = yaml.safe_load(rendered.text)["users"]
        assert user["name"] == identity.user
        assert user["user"]["client-certificate"].endswith(f"client-{identity.name}.crt")


def test_a_changed_kubeconfig_changes_the_fingerprint(components: dict[str, Component]) -> None:
    scheduler = components["kube-scheduler"]
    (rendered,) = scheduler.rendered
    changed = Component(scheduler.spec, rendered=(Rendered(rendered.path, rendered.text + "# changed\n", True),))
    assert scheduler.fingerprint([]) != changed.fingerprint([])
    assert scheduler.fingerprint([]) == Component(scheduler.spec, rendered=scheduler.rendered).fingerprint([])


def test_private_rendered_files_are_0600(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "kubeconfig"
    assert Rendered(path, "a: 1\n", private=True).write()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not Rendered(path, "a: 1\n", private=True).write(), "unchanged text is not rewritten"


def test_fake_nodes_and_the_storage_class() -> None:
    node = node_document("kwok-node-0", 0)
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert ipaddress.ip_address(addresses["InternalIP"]).is_loopback
    storage = storage_class_document("standard")
    assert storage["provisioner"] == HOSTPATH_PROVISIONER
    assert storage["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"


def test_pki_files_identities_and_renewal(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    pki = kube_pki.ensure_pki(directory, "test", KUBERNETES_SERVICE_IP, ("kube-scheduler",))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for key in [*directory.glob("*.key")]:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    apiserver = x509.load_pem_x509_certificate(pki.apiserver.cert.read_bytes())
    sans = apiserver.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", KUBERNETES_SERVICE_IP}
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    admin = x509.load_pem_x509_certificate(pki.client(kube_pki.ADMIN).cert.read_bytes())
    assert [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:masters"]
    scheduler = x509.load_pem_x509_certificate(pki.client(kube_pki.SCHEDULER).cert.read_bytes())
    assert scheduler.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:kube-scheduler"

    before = {path.name: path.read_bytes() for path in directory.iterdir()}
    kube_pki.ensure_pki(directory, "test", KUBERNETES_SERVICE_IP, ("kube-scheduler",))
    assert {path.name: path.read_bytes() for path in directory.iterdir()} == before, "a second run changes nothing"

    pki.ca.cert.unlink()  # a new CA: every leaf is reissued under it
    kube_pki.ensure_pki(directory, "test", KUBERNETES_SERVICE_IP, ("kube-scheduler",))
    ca = x509.load_pem_x509_certificate(pki.ca.cert.read_bytes())
    x509.load_pem_x509_certificate(pki.apiserver.cert.read_bytes()).verify_directly_issued_by(ca)
    assert pki.service_account_key.read_bytes() == before["sa.key"], "service-account tokens stay valid"


def test_staging_replaces_point_at_the_published_modules() -> None:
    go_mod: dict[str, object] = {
        "Replace": [
            {"Old": {"Path": "k8s.io/api"}, "New": {"Path": "./staging/src/k8s.io/api"}},
            {"Old": {"Path": "k8s.io/sample-apiserver"}, "New": {"Path": "./staging/src/k8s.io/sample-apiserver"}},
            {"Old": {"Path": "example.com/other"}, "New": {"Path": "example.com/fork", "Version": "v1.0.0"}},
        ]
    }
    assert kube_build.staging_edits(go_mod, "v1.33.13") == [
        "-dropreplace=k8s.io/api",
        "-require=k8s.io/api@v0.33.13",
        "-dropreplace=k8s.io/sample-apiserver",
        "-droprequire=k8s.io/sample-apiserver",
    ]


def test_binaries_are_version_stamped() -> None:
    ldflags = kube_build.version_ldflags("v1.33.13").split()
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"{package}.gitVersion=v1.33.13" in ldflags
        assert f"{package}.gitMajor=1" in ldflags
        assert f"{package}.gitMinor=33" in ldflags


def test_stages_follow_the_kustomizations(tmp_path: Path) -> None:
    (tmp_path / "stage" / "fast").mkdir(parents=True)
    (tmp_path / "stage" / "node").mkdir()
    (tmp_path / "stage" / "fast" / "kustomization.yaml").write_text("resources:\n- ../node\n- pod.yaml\n")
    (tmp_path / "stage" / "node" / "kustomization.yaml").write_text("resources:\n- init.yaml\n- lease.yaml\n")
    assert kube_build.stage_documents(tmp_path, "stage/fast") == [
        "stage/node/init.yaml",
        "stage/node/lease.yaml",
        "stage/fast/pod.yaml",
    ]


def test_state_lives_apart_from_the_local_stack(env: Environment) -> None:
    default = Layout.default()
    assert target_for(env).layout.root == default.root / "kube"
    with pytest.raises(StackError, match="TARGET=kind"):
        target_for(load_environment("kind"))
