"""The scale bench's peak RSS is pytest's own: a child started by a big parent reports its own peak
(VmHWM), where getrusage's ru_maxrss reports the parent's (Linux carries it across fork and exec)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHILD = (
    "import resource; from bench.scale_plugin import peak_rss_kib; "
    "print(peak_rss_kib() // 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"
)


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="VmHWM is Linux's /proc")
def test_peak_rss_is_the_process_own_not_its_parents() -> None:
    ballast = bytearray(200 * 1024 * 1024)
    ballast[::4096] = b"\x01" * len(range(0, len(ballast), 4096))  # touched: resident in this process
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, check=True)
    own, inherited = (int(x) for x in done.stdout.split())
    assert inherited >= 200, f"ru_maxrss {inherited} MiB: expected the parent's 200+ MiB (the bias this avoids)"
    assert own < 100, f"peak_rss_kib: {own} MiB, expected the child's own (well under its parent's 200+ MiB)"
    del ballast
