"""Where the local stack keeps its configs, data, logs, pids and generated secrets."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from obs_conformance.envconf.paths import PROJECT_ROOT

REPO_ROOT = PROJECT_ROOT  # the checkout, or the current directory when installed


@dataclass(frozen=True)
class Layout:
    root: Path

    @classmethod
    def default(cls) -> Layout:
        return cls(Path(os.environ.get("OBSCONF_STATE", REPO_ROOT / ".local-stack")))

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def tls(self) -> Path:
        """The local CA and the ingress hosts' certificates and keys."""
        return self.secrets / "tls"

    @property
    def pod_logs(self) -> Path:
        """Synthetic pod log files, laid out like /var/log/pods, tailed by the log agent."""
        return self.root / "pods"

    @property
    def pg_root(self) -> Path:
        """PostgreSQL refuses to run as root, and the postgres user may not reach a checkout under
        /root: as root, its files live under /var/lib, in a directory named after this layout."""
        if os.geteuid() != 0:
            return self.root
        digest = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:12]
        return Path("/var/lib/obs-conformance") / digest

    @property
    def pg_data(self) -> Path:
        return self.pg_root / "postgresql"

    @property
    def pg_socket(self) -> Path:
        return self.pg_root / "pg-socket"

    def data(self, component: str) -> Path:
        return self.root / "data" / component

    def create(self) -> None:
        for path in (self.config, self.logs, self.run, self.root / "data", self.pod_logs):
            path.mkdir(parents=True, exist_ok=True)
        for path in (self.pg_root.parent, self.pg_root):
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o755)
        self.secrets.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.secrets.chmod(0o700)
