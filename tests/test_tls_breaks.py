"""The local TLS checks pass against nginx with good certificates and fail, naming the host and the
problem, against an expired or a wrong-host certificate signed by the same local CA."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from obs_conformance.deployer.engine import tls
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.envconf import load_environment
from tests.breakage import front_door_with, run_suites_with

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.usefixtures("stack")]

SUITE = "suites/test_local_front_door.py::test_handshake_serves_a_valid_certificate_for_the_host"


def private_state(tmp_path: Path, bad: str | None) -> Path:
    """A state dir with the real local CA and a certificate per host; loki's made ``bad``."""
    env = load_environment("local", environ={})
    state = tmp_path / "state"
    tls_dir = Layout(state).tls
    tls_dir.mkdir(parents=True)
    for name in ("ca.crt", "ca.key"):
        shutil.copy(Layout.default().tls / name, tls_dir / name)
    ca = tls.Issued(tls_dir / "ca.crt", tls_dir / "ca.key")
    now = datetime.now(UTC)
    for service in ("prometheus", "alertmanager", "loki", "tempo"):
        host = env.host(service)
        if service == "loki" and bad == "expired":
            tls.issue(ca, tls_dir, host, now - timedelta(days=100), now - timedelta(days=1))
        elif service == "loki" and bad == "wrong-host":
            tls.issue(ca, tls_dir, host, now, now + timedelta(days=90), sans=["local-local-grafana.localhost"])
        else:
            tls.issue(ca, tls_dir, host, now, now + timedelta(days=90))
    return state


def run_against(tmp_path: Path, bad: str | None) -> str:
    state = private_state(tmp_path, bad)
    with front_door_with(state, tmp_path) as (https, http):
        result = run_suites_with(
            tmp_path, {"INGRESS_HTTPS_PORT": str(https), "INGRESS_HTTP_PORT": str(http)}, SUITE, state=state
        )
    return result.stdout


def test_good_certificates_pass(tmp_path: Path) -> None:
    out = run_against(tmp_path, None)
    assert "4 passed" in out, out[-3000:]


def test_expired_certificate_fails(tmp_path: Path) -> None:
    out = run_against(tmp_path, "expired")
    assert "1 failed, 3 passed" in out, out[-3000:]
    assert (
        "(SNI local-local-loki.localhost): certificate CN=local-local-loki.localhost does not verify against the local CA: not verified: certificate has expired"
        in out
    )


def test_wrong_host_certificate_fails(tmp_path: Path) -> None:
    out = run_against(tmp_path, "wrong-host")
    assert "1 failed, 3 passed" in out, out[-3000:]
    assert "(SNI local-local-loki.localhost)" in out and "Hostname mismatch" in out
