"""The signal stack of ``--env local``: the real backends as processes, their TLS front door, and
the secrets they generate for themselves."""

from __future__ import annotations

import os
import pwd
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from obs_conformance.deployer.engine import htpasswd
from obs_conformance.deployer.engine.component import Component, Rendered
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.engine.processes import ProcessSpec
from obs_conformance.deployer.errors import StackError
from obs_conformance.deployer.targets.stack import postgres
from obs_conformance.deployer.targets.stack.cluster_config import ClusterConfig
from obs_conformance.deployer.targets.stack.components import (
    FRONT_DOOR_HTPASSWD,
    OTLP_HTPASSWD,
    Binaries,
    ingress_backends,
    process_specs,
    render_configs,
)
from obs_conformance.envconf import Environment

# placeholders until ``build`` ran: ``status`` and ``down`` only need the components' names
_UNBUILT = Binaries.unbuilt()
GENERATED_SECRETS = ("slack_webhook_url", "postgres_exporter_password", "ingress_auth_password", "otlp_auth_password")
# the user nginx's workers run as when its master is root (Debian's build): they read the htpasswd file
NGINX_WORKER_USER = "nobody"


def _secret_file(path: Path, make: str) -> str:
    """Read a generated secret, creating it (0600) on first use."""
    if not path.is_file():
        path.write_text(make + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass
class LocalTarget:
    env: Environment
    layout: Layout
    title: str = "local stack"
    bins: Binaries = _UNBUILT
    # what prometheus-operator would generate for this env (deployer/cluster/operator_config.py),
    # given by deployer/local.py: the rooms below the cluster's know nothing of charts
    cluster_config: Callable[[], ClusterConfig] | None = None

    def binaries(self) -> Binaries:
        return Binaries.build()

    def build(self) -> None:
        self.bins = self.binaries()

    def _webhook_file(self) -> Path:
        """Alertmanager reads the Slack URL from this 0600 file; the mock accepts only this hook.

        Always the mock's: a SLACK_WEBHOOK_URL in the environment is the production
        webhook, and the local stack must never post test alerts to it.
        """
        path = self.layout.secrets / "slack_webhook_url"
        mock = self.env.text("SLACK_MOCK_URL")
        if path.is_file() and not path.read_text().strip().startswith(f"{mock}/services/"):
            path.unlink()
        _secret_file(path, f"{mock}/services/T0CONFORM/B0CONFORM/{secrets.token_hex(12)}")
        return path

    def _postgres_password(self) -> str:
        if "POSTGRES_EXPORTER_PASSWORD" in self.env.secrets:
            return self.env.secret("POSTGRES_EXPORTER_PASSWORD").reveal()
        return _secret_file(self.layout.secrets / "postgres_exporter_password", secrets.token_urlsafe(18))

    def ingress_password(self) -> str:
        """The front door's basic-auth password: INGRESS_AUTH_PASSWORD, else one made for this stack."""
        if "INGRESS_AUTH_PASSWORD" in self.env.secrets:
            return self.env.secret("INGRESS_AUTH_PASSWORD").reveal()
        return _secret_file(self.layout.secrets / "ingress_auth_password", secrets.token_urlsafe(18))

    def otlp_password(self) -> str:
        """What OTLP senders authenticate with: OTLP_AUTH_PASSWORD, else one made for this stack."""
        if "OTLP_AUTH_PASSWORD" in self.env.secrets:
            return self.env.secret("OTLP_AUTH_PASSWORD").reveal()
        return _secret_file(self.layout.secrets / "otlp_auth_password", secrets.token_urlsafe(18))

    def _otlp_htpasswd(self) -> tuple[Rendered, ...]:
        """The collector's htpasswd (0600, SHA-512-crypt): a salt stable per env and user keeps the line,
        and so the collector's fingerprint, unchanged per ``up``; a new password restarts the collector."""
        if not self.env.otlp_auth:
            return ()
        user, password = self.env.otlp_user, self.otlp_password()
        line = htpasswd.htpasswd_line(user, password, htpasswd.stable_salt(password, f"{self.env.name}:{user}"))
        return (Rendered(self.layout.config / OTLP_HTPASSWD, line, private=True),)

    def _htpasswd_file(self) -> Path | None:
        """The front door's htpasswd (SHA-512-crypt), rewritten only when it no longer verifies the password."""
        if not self.env.front_door_auth:
            return None
        path = self.layout.config / FRONT_DOOR_HTPASSWD
        user, password = self.env.front_door_user, self.ingress_password()
        if not (path.is_file() and htpasswd.verifies(path.read_text(), user, password)):
            path.touch(mode=0o600)
            path.chmod(0o600)
            path.write_text(htpasswd.htpasswd_line(user, password))
        if os.geteuid() == 0:
            worker = pwd.getpwnam(NGINX_WORKER_USER)
            os.chown(path, worker.pw_uid, worker.pw_gid)
        return path

    def _certificates(self) -> None:
        """The local CA and a certificate per ingress host (renewed before CERT_MIN_DAYS)."""
        from obs_conformance.deployer.engine import tls  # cryptography loads where certificates are made

        ca = tls.ensure_ca(self.layout.tls, f"obs-conformance local CA ({self.env.name})")
        for host in ingress_backends(self.env):
            tls.ensure_host_cert(ca, self.layout.tls, host, self.env.integer("CERT_MIN_DAYS"))
        (self.layout.root / "nginx-temp").mkdir(exist_ok=True)

    def prepare(self) -> list[Rendered]:
        self.layout.create()
        self._certificates()
        if self.cluster_config is None:
            raise StackError("the local stack needs the cluster's configuration (LocalStack provides it)")
        return render_configs(
            self.env, self.layout, self._webhook_file(), self.cluster_config(), htpasswd_file=self._htpasswd_file()
        )

    def components(self) -> list[Component]:
        self.layout.create()
        user = self.env.text("POSTGRES_EXPORTER_USER")
        port = self.env.port("LOCAL_POSTGRES_PORT")
        password = self._postgres_password()
        dsn = f"postgresql://{user}:{quote(password, safe='')}@127.0.0.1:{port}/postgres?sslmode=disable"
        bin_dir = self.bins.postgres_bin
        socket = self.layout.pg_socket

        def init_cluster() -> None:
            postgres.init_cluster(bin_dir, self.layout.pg_data, socket)

        def ensure_role() -> None:  # every up: the password may have changed
            postgres.ensure_role(bin_dir, socket, port, user, password)

        own_steps: dict[str, Callable[[ProcessSpec], Component]] = {
            "postgresql": lambda spec: Component(spec, prepare=init_cluster, after_ready=ensure_role),
            "otel-collector": lambda spec: Component(spec, rendered=self._otlp_htpasswd()),
        }
        specs = process_specs(self.env, self.layout, self.bins, dsn, postgres.run_as())
        return [own_steps.get(spec.name, Component)(spec) for spec in specs]

    def data(self) -> list[Path]:
        return [self.layout.root / "data", self.layout.pg_data]

    def generated_secrets(self) -> list[str]:
        """The secrets this stack made for itself (mock hook token, Postgres, front-door and OTLP passwords), for masking."""
        found = []
        for name in GENERATED_SECRETS:
            path = self.layout.secrets / name
            if path.is_file():
                found.append(path.read_text().strip())
        return found
