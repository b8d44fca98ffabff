"""Port-forward access: one forward per backend URL, opened before the checks and closed after,
tested with a kubectl stand-in whose port-forward listens on the local port."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from obs_conformance.envconf import load_environment
from obs_conformance.fixtures.port_forward import close_forwards, forward_commands, open_forwards
from tests.breakage import free_port

ROOT = Path(__file__).resolve().parent.parent

KUBECTL = """#!{python}
import socket, sys
args = sys.argv[1:]
ports = [a for a in args if ":" in a and a.split(":")[0].isdigit()]
if "port-forward" in args and "svc/broken" not in args:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", int(ports[0].split(":")[0])))
    server.listen()
    while True:
        server.accept()[0].close()
sys.stderr.write("error: services \\"broken\\" not found\\n")
sys.exit(1)
"""


def kind_env_with_local_urls(tmp_path: Path) -> Path:
    text = (ROOT / "environments" / "kind" / "obs-conformance.env").read_text()
    replacements = {
        "PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",
        "ALERTMANAGER_URL": f"http://127.0.0.1:{free_port()}",
        "LOGS_URL": f"http://127.0.0.1:{free_port()}",
        "TRACES_URL": f"http://127.0.0.1:{free_port()}",
        "OTLP_HTTP_URL": f"http://127.0.0.1:{free_port()}",
        "OTLP_GRPC_ENDPOINT": f"127.0.0.1:{free_port()}",
        "BACKEND_ACCESS": "port-forward",
    }
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0]
        lines.append(f'{key}="{replacements[key]}"' if key in replacements else line)
    path = tmp_path / "kind-pf.env"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(KUBECTL.format(python=sys.executable))
    kubectl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def test_commands_forward_each_backend_service(tmp_path: Path) -> None:
    env = load_environment(str(kind_env_with_local_urls(tmp_path)), environ={})
    services = [command.argv[command.argv.index("port-forward") + 1] for command, _ in forward_commands(env)]
    assert services == [
        "svc/prom-stack-kube-prometheus-prometheus",
        "svc/prom-stack-kube-prometheus-alertmanager",
        "svc/loki-stack",
        "svc/tempo",
        "svc/otel-collector-collector",
        "svc/otel-collector-collector",
    ]
    assert all(
        command.argv[:3] == ("kubectl", "--context", "kind-obs-conformance") for command, _ in forward_commands(env)
    )


@pytest.mark.usefixtures("stand_in")
def test_forwards_open_then_close(tmp_path: Path) -> None:
    env = load_environment(str(kind_env_with_local_urls(tmp_path)), environ={})
    processes = open_forwards(env)
    addresses = [address for _, address in forward_commands(env)]
    for address in addresses:
        with socket.create_connection(address, timeout=2):
            pass
    close_forwards(processes)
    assert all(p.poll() is not None for p in processes)


@pytest.mark.usefixtures("stand_in")
def test_a_failing_forward_says_which_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import obs_conformance.envconf.stack_facts as facts

    monkeypatch.setitem(facts.SERVICES, "TRACES_URL", ("broken", 3200))
    env = load_environment(str(kind_env_with_local_urls(tmp_path)), environ={})
    with pytest.raises(RuntimeError, match=r'port-forward for svc/broken: .*services "broken" not found'):
        open_forwards(env)
