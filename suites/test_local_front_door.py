"""The local stack's TLS front door and storage, in place of the cluster's ingress and PVCs:
a real handshake per ingress host, the served certificate checked like cert-manager's, HTTP->HTTPS,
and the data directories within the env's sizes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from obs_conformance.clients.tls import parse_certificate, served_certificate
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.envconf import Environment

pytestmark = [pytest.mark.tls]

SERVICES = ("prometheus", "alertmanager", "loki", "tempo")


@pytest.fixture(scope="module")
def layout(env: Environment) -> Layout:
    if not env.profile.stack_as_processes:
        pytest.skip("the local front door exists where the stack runs as processes only (clusters: test_k8s_tls.py)")
    return Layout.default()


@pytest.mark.parametrize("service", SERVICES)
def test_handshake_serves_a_valid_certificate_for_the_host(env: Environment, layout: Layout, service: str) -> None:
    host, port = env.host(service), env.port("INGRESS_HTTPS_PORT")
    address = env.text("INGRESS_ADDRESS")
    served, verdict = served_certificate(
        host, port, env.duration("HTTP_TIMEOUT").seconds, ca_file=str(layout.tls / "ca.crt"), address=address
    )
    where = f"TLS front door {address}:{port} (SNI {host})"
    assert verdict == "verified", (
        f"{where}: certificate {served.subject} does not verify against the local CA: {verdict}"
    )
    assert served.covers(host), f"{where}: certificate SANs {list(served.sans)}, expected one covering {host}"
    days = served.days_left()
    assert days >= env.integer("CERT_MIN_DAYS"), (
        f"{where}: certificate expires in {days:.1f} days, expected at least {env.integer('CERT_MIN_DAYS')}"
    )
    issued = layout.tls / f"{host}.crt"
    if issued.is_file():
        stored = parse_certificate(issued.read_bytes())
        assert served.sha256 == stored.sha256, (
            f"{where}: serves {served.subject} ({served.sha256[:16]}), not the issued {issued}"
        )


@pytest.mark.parametrize("service", SERVICES)
def test_plain_http_redirects_to_https(env: Environment, layout: Layout, service: str) -> None:
    host = env.host(service)
    url = f"http://{env.text('INGRESS_ADDRESS')}:{env.port('INGRESS_HTTP_PORT')}/"
    response = requests.get(
        url, headers={"Host": host}, allow_redirects=False, timeout=env.duration("HTTP_TIMEOUT").seconds
    )
    location = response.headers.get("Location", "")
    assert response.status_code in {301, 302, 307, 308} and location.startswith(f"https://{host}"), (
        f"TLS front door: http://{host}/ (via {url}) answered {response.status_code} Location={location!r}, expected a redirect to https://{host}"
    )


@pytest.mark.parametrize(
    ("component", "directory"),
    [("PROMETHEUS", "prometheus"), ("ALERTMANAGER", "alertmanager"), ("LOKI", "victorialogs")],
)
def test_data_directory_within_env_size(env: Environment, layout: Layout, component: str, directory: str) -> None:
    path = layout.data(directory)
    assert path.is_dir(), f"{component}: data directory {path} missing"
    used = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
    size = env.quantity(f"{component}_STORAGE_SIZE")
    limit = env.fraction("PVC_USAGE_MAX")
    assert used < limit * size.bytes, (
        f"{component}: {path} holds {used / 2**30:.2f}Gi, over {limit:.0%} of {size} (headroom {1 - used / size.bytes:.0%})"
    )
    free = shutil.disk_usage(path).free
    assert used + free >= size.bytes * 0.1, (
        f"{component}: filesystem of {path} has {free / 2**30:.1f}Gi free, too little for {size}"
    )
