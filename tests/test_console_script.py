"""`pytest` as its console script in a checkout with the editable install: the plugin list loads
through the pytest11 entry point before the root conftest, without the checkout on sys.path first
(what ``python -m pytest`` adds). A plugin module imported before its turn then warns, and
``filterwarnings = error`` makes that a start-up error ("Error while loading plugin pytest11")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_pytest_console_script_starts_in_the_checkout() -> None:
    # -P: sys.path without the current directory, as the `pytest` console script runs
    done = subprocess.run(
        [sys.executable, "-P", "-m", "pytest", "-q", "tests/test_architecture.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"pytest did not start in {ROOT}: {(done.stdout + done.stderr).strip()[-800:]}"
