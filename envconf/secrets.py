"""Secrets that cannot leak by accident: a value whose str() and repr() are masked.

The Slack webhook and the Postgres exporter password come from the process
environment or an ignored secrets file, never from git. Code that needs the real
value calls :meth:`Secret.reveal` at the one place it is handed to a process.
"""

from __future__ import annotations

from collections.abc import Iterable

MASK = "****"


class Secret:
    """A string that prints as ``****``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def mask(text: str, secrets: Iterable[Secret]) -> str:
    """Replace every secret value found in ``text`` by the mask."""
    for secret in secrets:
        value = secret.reveal()
        if len(value) >= 4:
            text = text.replace(value, MASK)
    return text
