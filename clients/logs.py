"""The log backends' common shape: records found by index labels and a text filter.

Selectors speak OpenTelemetry attribute names (``service.name``); each backend
maps them to its own label names (Loki: ``service_name``). A record keeps its index
labels apart from its structured metadata, so a check can say where a label must be.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from obs_conformance.clients.durations import duration_seconds

__all__ = ["LogRecord", "LogStore", "duration_seconds"]


def _lookup(source: dict[str, str], name: str) -> str | None:
    for candidate in (name, name.replace(".", "_")):
        if candidate in source:
            return source[candidate]
    return None


@dataclass(frozen=True)
class LogRecord:
    """One stored record: its index (stream) labels, body, structured metadata, and labels a
    query-time parser extracted (Loki's ``parsed``; none unless the query has a parser)."""

    labels: dict[str, str]
    body: str
    timestamp_ns: int
    fields: dict[str, str] = field(default_factory=dict)
    parsed: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        """A label or field by OpenTelemetry name or by its underscore form, wherever it is stored."""
        for source in (self.labels, self.fields, self.parsed):
            found = _lookup(source, name)
            if found is not None:
                return found
        return None

    def index_label(self, name: str) -> str | None:
        """``name`` as an index (stream) label only."""
        return _lookup(self.labels, name)

    def metadata(self, name: str) -> str | None:
        """``name`` as structured metadata (a field of the record, not of its stream) only."""
        return _lookup(self.fields, name)

    def placement(self, name: str) -> str:
        """Where ``name`` is stored: "index label", "structured metadata", "parsed" or "absent"."""
        if self.index_label(name) is not None:
            return "index label"
        if self.metadata(name) is not None:
            return "structured metadata"
        return "parsed" if _lookup(self.parsed, name) is not None else "absent"


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
