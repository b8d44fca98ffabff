"""Value types of environment files, each parsed strictly so a typo fails at load time.

A parser raises :class:`ValueError` with a short reason; the loader adds file,
line and key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$")
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti)$")
_QUANTITY_BYTES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_CPU = re.compile(r"^(\d+)m$|^(\d+(?:\.\d+)?)$")
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class Duration:
    """A Prometheus-style duration (``30s``, ``5m``, ``30d``) kept as written and in seconds."""

    text: str
    seconds: float

    def __str__(self) -> str:
        return self.text

    @property
    def hours_text(self) -> str:
        """The duration in whole hours, for configs that take no ``d`` unit."""
        return f"{int(self.seconds // 3600)}h"


@dataclass(frozen=True)
class Quantity:
    """A Kubernetes memory or storage quantity (``35Gi``, ``1.9Gi``)."""

    text: str
    bytes: int

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Endpoint:
    """A ``host:port`` pair, as gRPC clients and listeners take it."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_duration(raw: str) -> Duration:
    match = _DURATION.match(raw)
    if match is None:
        raise ValueError(f"{raw!r} is not a duration (like 500ms, 30s, 5m, 30d)")
    return Duration(raw, float(match.group(1)) * _DURATION_SECONDS[match.group(2)])


def parse_quantity(raw: str) -> Quantity:
    match = _QUANTITY.match(raw)
    if match is None:
        raise ValueError(f"{raw!r} is not a size (like 512Mi, 1.9Gi, 35Gi)")
    return Quantity(raw, int(float(match.group(1)) * _QUANTITY_BYTES[match.group(2)]))


def parse_cpu(raw: str) -> str:
    if _CPU.match(raw) is None:
        raise ValueError(f"{raw!r} is not a CPU amount (like 100m or 1.5)")
    return raw


def parse_port(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ValueError(f"{raw!r} is not a port (1-65535)")
    return int(raw)


def parse_hostname(raw: str) -> str:
    labels = raw.split(".")
    if len(raw) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{raw!r} is not a hostname (lowercase labels of a-z, 0-9 and -)")
    return raw


def parse_name(raw: str) -> str:
    if _LABEL.match(raw) is None:
        raise ValueError(f"{raw!r} is not a name (lowercase a-z, 0-9 and -, at most 63)")
    return raw


def parse_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"{raw!r} is not an http(s) URL")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as e:
        raise ValueError(f"{raw!r} has a bad port") from e
    if parts.query or parts.fragment:
        raise ValueError(f"{raw!r} must not carry a query or fragment")
    return raw.rstrip("/")


def parse_endpoint(raw: str) -> Endpoint:
    host, sep, port = raw.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{raw!r} is not host:port")
    if host not in {"localhost"} and not re.match(r"^[0-9.]+$", host):
        parse_hostname(host)
    return Endpoint(host, parse_port(port))


def parse_text(raw: str) -> str:
    if not raw:
        raise ValueError("is empty")
    return raw


def parse_choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError(f"{raw!r} is not one of {', '.join(choices)}")
        return raw

    return parse


def parse_fraction(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError as e:
        raise ValueError(f"{raw!r} is not a number") from e
    if not 0 < value <= 1:
        raise ValueError(f"{raw!r} is not a fraction in (0, 1]")
    return value


def parse_identifier(raw: str) -> str:
    """A SQL role name: letters, digits and underscores, not starting with a digit."""
    if re.match(r"^[a-z_][a-z0-9_]{0,62}$", raw) is None:
        raise ValueError(f"{raw!r} is not an identifier (lowercase a-z, 0-9 and _)")
    return raw


_K8S_SUFFIX = {
    "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40,
}  # fmt: skip


def k8s_quantity_value(raw: str) -> float:
    """A Kubernetes quantity as a number, so ``1.5`` equals ``1500m`` and ``1.9Gi`` its canonical form."""
    match = re.match(r"^([0-9.]+(?:e[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$", raw.strip())
    if match is None:
        raise ValueError(f"{raw!r} is not a Kubernetes quantity")
    return round(float(match.group(1)) * _K8S_SUFFIX[match.group(2) or ""], 3)
