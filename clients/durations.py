"""Durations as backends print them, which is not always how an env file writes them."""

from __future__ import annotations

import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|y|w|d|h|m|s)")
_UNIT_SECONDS = {
    "y": 365 * 86400.0, "w": 7 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0,
    "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9,
}  # fmt: skip


def duration_seconds(text: str) -> float:
    """A duration as the backends print it, in seconds: ``30d``, ``1d12h`` and ``4w2d`` (Prometheus'
    ``model.Duration``, Loki's retention), ``720h0m0s`` (Go's ``time.Duration``), ``0``.

    Raises ValueError on anything else, so a retention nobody can read is no silent pass.
    """
    raw = text.strip().strip('"')
    if raw == "0":
        return 0.0
    parts = _DURATION_PART.findall(raw)
    if not parts or "".join(n + u for n, u in parts) != raw:
        raise ValueError(f"{text!r} is not a duration (like 30d, 1d12h, 720h0m0s)")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
