"""VictoriaLogs' LogsQL API: the local stack's log store, in Loki's place.

Loki's Go module is AGPL-licensed and this workplace does not build it, so the
local stack stores logs in VictoriaLogs (Apache-2.0). Like Loki 3, it takes OTLP
logs; the local collector names the design's index labels as its stream fields
(``VL-Stream-Fields``, as Loki's otlp_config does), and every other attribute
becomes a plain field, as structured metadata does in Loki.
"""

from __future__ import annotations

import json

from obs_conformance.clients.errors import BackendError
from obs_conformance.clients.http import HttpBackend
from obs_conformance.clients.logs import LogRecord

_RESERVED = {"_msg", "_time", "_stream", "_stream_id"}


def _stream_labels(stream: str) -> dict[str, str]:
    """Parse ``{a="1",b="2"}`` as VictoriaLogs prints a stream."""
    labels: dict[str, str] = {}
    inner = stream.strip()[1:-1]
    while inner:
        key, _, rest = inner.partition("=")
        value, end = json.JSONDecoder().raw_decode(rest)
        labels[key.strip().strip('"')] = str(value)
        inner = rest[end:].lstrip(",").strip()
    return labels


class VictoriaLogsClient(HttpBackend):
    component = "log store (VictoriaLogs, in Loki's place)"

    def query_text(self, selector: dict[str, str], contains: str) -> str:
        terms = [f"{json.dumps(k)}:={json.dumps(v)}" for k, v in sorted(selector.items())]
        if contains:
            terms.append(json.dumps(contains))
        return " AND ".join(terms) if terms else "*"

    def query_url(self, selector: dict[str, str], contains: str) -> str:
        return f"{self.url('/select/logsql/query')}?query={self.query_text(selector, contains)}"

    def find(self, selector: dict[str, str], contains: str, limit: int = 100) -> list[LogRecord]:
        params = {"query": self.query_text(selector, contains), "limit": str(limit), "start": "1h"}
        text = self.get_text("/select/logsql/query", params)
        records: list[LogRecord] = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise BackendError(self.component, f"non-JSON line from /select/logsql/query: {line[:200]!r}") from e
            labels = _stream_labels(row.get("_stream", "{}"))
            fields = {k: str(v) for k, v in row.items() if k not in _RESERVED and k not in labels}
            records.append(LogRecord(labels=labels, body=str(row.get("_msg", "")), timestamp_ns=0, fields=fields))
        return records

    def retention(self) -> tuple[str, str]:
        """From /flags; VictoriaLogs always merges parts (its compaction) and deletes by partition."""
        for line in self.get_text("/flags").splitlines():
            if line.startswith("-retentionPeriod="):
                return line.split("=", 1)[1].strip('"'), "always on (background merges)"
        raise BackendError(self.component, "GET /flags has no -retentionPeriod")

    def version(self) -> str:
        for line in self.get_text("/metrics").splitlines():
            if line.startswith("vm_app_version{"):
                return line.split('short_version="', 1)[-1].split('"', 1)[0] or "unknown"
        return "unknown (built without version info)"
