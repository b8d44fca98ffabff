"""The local PostgreSQL the postgres-exporter watches: a private cluster in the state dir.

PostgreSQL refuses to run as root, so as root the cluster belongs to the
``postgres`` user the Debian package creates. The exporter's role gets its
password over psql's standard input, never on a command line.
"""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

from obs_conformance.deployer.errors import StackError
from obs_conformance.deployer.toolchain.run import run

TIMEOUT = 120.0


def run_as() -> str | None:
    """The user to run PostgreSQL as: ``postgres`` when we are root, else ourselves."""
    return "postgres" if os.geteuid() == 0 else None


def _chown(path: Path, user: str | None) -> None:
    if user is not None:
        entry = pwd.getpwnam(user)
        shutil.chown(path, entry.pw_uid, entry.pw_gid)


def init_cluster(bin_dir: str, data: Path, socket_dir: Path) -> None:
    """initdb once; local socket trusts only the cluster owner, TCP needs a password."""
    user = run_as()
    socket_dir.mkdir(parents=True, exist_ok=True)
    _chown(socket_dir, user)
    if (data / "PG_VERSION").is_file():
        return
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    _chown(data, user)
    argv = [
        f"{bin_dir}/initdb",
        "-D",
        str(data),
        "-U",
        "postgres",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "-E",
        "UTF8",
    ]
    done = run(argv, user=user, timeout=TIMEOUT)
    if done.returncode != 0:
        raise StackError(f"postgresql: initdb failed (exit {done.returncode}): {done.stderr.strip()[-400:]}")


def ensure_role(bin_dir: str, socket_dir: Path, port: int, role: str, password: str) -> None:
    """Create or update the exporter's login role with pg_monitor."""
    literal = password.replace("'", "''")
    sql = (
        f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') "
        f"THEN CREATE ROLE {role} LOGIN; END IF; END$$;\n"
        f"ALTER ROLE {role} WITH LOGIN PASSWORD '{literal}';\n"
        f"GRANT pg_monitor TO {role};\n"
    )
    argv = [
        f"{bin_dir}/psql",
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        str(socket_dir),
        "-p",
        str(port),
        "-U",
        "postgres",
        "-d",
        "postgres",
    ]
    done = run(argv, input=sql, user=run_as(), timeout=TIMEOUT)
    if done.returncode != 0:
        raise StackError(
            f"postgresql: creating role {role} failed (exit {done.returncode}): {done.stderr.strip()[-400:]}"
        )
