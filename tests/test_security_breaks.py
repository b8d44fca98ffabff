"""The security checks, made to fail for real: a private nginx on the local stack's backends with
and without basic authentication, and TLS servers that accept TLS 1.1 or serve a SHA-1-signed
certificate. Anonymous access fails the checks naming the host, the request and the answer; the
same exposure under ``INGRESS_AUTH="off"`` passes only as a waived risk, listed in the terminal,
summary.json and report.html."""

from __future__ import annotations

import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from obs_conformance.clients.front_door import FrontDoor
from obs_conformance.deployer.engine.htpasswd import htpasswd_line
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.envconf import load_environment
from obs_conformance.fixtures.report_html import render_html
from obs_conformance.fixtures.reporting import CheckResult, summarize, waived_risk_lines, waived_risks
from tests.breakage import front_door_with, run_suites_with

SUITE = "suites/test_security.py"
HOSTS = ("prometheus", "alertmanager", "loki", "tempo")


def private_state(tmp_path: Path, with_auth: bool) -> tuple[Path, Path | None]:
    """The local CA and host certificates, a password of its own and (``with_auth``) its htpasswd."""
    state = tmp_path / "state"
    layout = Layout(state)
    shutil.copytree(Layout.default().tls, layout.tls)
    password = secrets.token_urlsafe(18)
    (layout.secrets / "ingress_auth_password").write_text(password + "\n")
    if not with_auth:
        return state, None
    # nginx's workers (nobody, when its master is root) read it on each request: pytest's tmp_path is 0700
    readable = Path(tempfile.mkdtemp(prefix="obsconf-htpasswd-"))
    readable.chmod(0o755)
    htpasswd = readable / "htpasswd"
    htpasswd.write_text(htpasswd_line("obs-conformance", password))  # a throwaway password's hash
    htpasswd.chmod(0o644)
    return state, htpasswd


def run_against(tmp_path: Path, with_auth: bool, overrides: dict[str, str] | None = None) -> str:
    state, htpasswd = private_state(tmp_path, with_auth)
    try:
        with front_door_with(state, tmp_path, htpasswd) as (https, http):
            ports = {"INGRESS_HTTPS_PORT": str(https), "INGRESS_HTTP_PORT": str(http)}
            result = run_suites_with(tmp_path, ports | (overrides or {}), SUITE, "-p", "no:randomly", state=state)
    finally:
        if htpasswd is not None:
            shutil.rmtree(htpasswd.parent)
    return result.stdout + result.stderr


@pytest.mark.stack
@pytest.mark.slow
@pytest.mark.usefixtures("stack")
def test_with_authentication_every_check_passes(tmp_path: Path) -> None:
    out = run_against(tmp_path, with_auth=True)
    assert "17 passed" in out and "WAIVED" not in out, out[-3000:]


@pytest.mark.stack
@pytest.mark.slow
@pytest.mark.usefixtures("stack")
def test_anonymous_access_fails_naming_host_request_and_answer(tmp_path: Path) -> None:
    out = run_against(tmp_path, with_auth=False)
    assert "5 failed, 12 passed" in out, out[-3000:]
    for service in HOSTS:
        host = f"local-local-{service}.localhost"
        assert f"front door {host}: anonymous GET https://{host}:" in out, out[-3000:]
    assert "answered 200" in out and "expected 401 or 403" in out
    assert "anonymous POST https://local-local-alertmanager.localhost:" in out
    assert "/api/v2/silences (a silence) answered 200" in out and "the silence it created was expired again" in out


@pytest.mark.stack
@pytest.mark.slow
@pytest.mark.usefixtures("stack")
def test_authentication_off_is_a_waived_risk_not_a_silent_pass(tmp_path: Path) -> None:
    out = run_against(tmp_path, with_auth=False, overrides={"INGRESS_AUTH": "off"})
    assert "17 passed" in out, out[-3000:]
    assert "WAIVED RISKS (5): exposures the env accepted" in out, out[-3000:]
    assert "local-local-alertmanager.localhost: anonymous POST" in out and "anyone can silence every alert" in out


def test_waived_risks_reach_summary_and_html() -> None:
    env = load_environment("local", environ={})
    result = CheckResult("suites/test_security.py::test_x", waived=["h: anonymous GET https://h/ answered 200"])
    summary = summarize(env, [result], "run", {})
    assert summary["waived_risks"] == [{"check": result.nodeid, "risk": result.waived[0]}]
    assert waived_risk_lines(waived_risks([result]))[0].startswith("WAIVED RISKS (1)")
    page = render_html(summary | {"verdict": "passed"})
    assert 'id="waived-risks"' in page and "anonymous GET https://h/ answered 200" in page


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak.localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "weak.crt", tmp_path / "weak.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@contextmanager
def tls_server(cert: Path, key: Path, legacy: bool) -> Iterator[int]:
    """A loopback TLS server answering handshakes in a thread; ``legacy`` accepts TLS 1.0/1.1 too."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    if legacy:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(raw, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                raw.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_a_server_accepting_tls_1_1_is_reported(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    with tls_server(cert, key, legacy=True) as port:
        accepted, seen = FrontDoor("127.0.0.1", port, port, None, 5.0).legacy_handshake("weak.localhost")
    assert accepted and seen.startswith("accepted TLSv1"), seen
    with tls_server(cert, key, legacy=False) as port:
        accepted, seen = FrontDoor("127.0.0.1", port, port, None, 5.0).legacy_handshake("weak.localhost")
    assert not accepted and seen.startswith("refused"), seen


def _sha1_certificate(tmp_path: Path) -> tuple[Path, Path]:
    """cryptography no longer signs with SHA-1; OpenSSL's command line still does."""
    cert, key = tmp_path / "sha1.crt", tmp_path / "sha1.key"
    argv = ["openssl", "req", "-x509", "-sha1", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=weak.localhost"]
    argv += ["-days", "1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(argv, capture_output=True, timeout=60, check=True)
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a SHA-1 certificate")
def test_a_sha1_signed_certificate_is_reported(tmp_path: Path) -> None:
    cert, key = _sha1_certificate(tmp_path)
    with tls_server(cert, key, legacy=False) as port:
        chain = FrontDoor("127.0.0.1", port, port, None, 5.0).served_chain("weak.localhost")
    assert [(link.subject, link.signature_hash) for link in chain] == [("CN=weak.localhost", "sha1")]
