"""The log backends' common shape: records found by index labels and a text filter.

Selectors speak OpenTelemetry attribute names (``service.name``); each backend
maps them to its own label names (Loki: ``service_name``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class LogRecord:
    """One stored record: its index labels, body and every other field (structured metadata)."""

    labels: dict[str, str]
    body: str
    timestamp_ns: int
    fields: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        """A label or field by OpenTelemetry name or by its underscore form."""
        for source in (self.labels, self.fields):
            for candidate in (name, name.replace(".", "_")):
                if candidate in source:
                    return source[candidate]
        return None


class LogStore(Protocol):
    """What the log checks need of a log backend, whichever it is."""

    component: str

    def query_text(self, selector: dict[str, str], contains: str) -> str:
        """The backend's query for ``selector`` and ``contains`` (LogQL, LogsQL)."""
        ...

    def query_url(self, selector: dict[str, str], contains: str) -> str:
        """The exact request :meth:`find` sends, for failure messages."""
        ...

    def find(self, selector: dict[str, str], contains: str, limit: int = 100) -> list[LogRecord]: ...

    def retention(self) -> tuple[str, str]:
        """The running retention period and how compaction is set (as the backend reports them)."""
        ...

    def version(self) -> str: ...
