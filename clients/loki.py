"""Grafana Loki's HTTP API (3.x: OTLP resource attributes become index labels).

Queries ask for categorized labels (``X-Loki-Response-Encoding-Flags: categorize-labels``):
without it Loki folds an entry's structured metadata and parsed labels into its stream
labels, and "is an index label" could not be told from "is structured metadata". With it
(Loki's ``pkg/util/marshal`` ``encodeStream``), ``stream`` holds the index labels only and
each value is ``[ts, line, {"structuredMetadata": {...}, "parsed": {...}}]``, and
``data.encodingFlags`` echoes the flag; a response without the echo is refused.
"""

from __future__ import annotations

import json
import time
from typing import Any

import yaml

from obs_conformance.clients.errors import BackendError
from obs_conformance.clients.http import HttpBackend
from obs_conformance.clients.logs import LogRecord

LOOKBACK_SECONDS = 3600
ENCODING_FLAGS_HEADER = "X-Loki-Response-Encoding-Flags"
CATEGORIZE_LABELS = "categorize-labels"


def loki_label(name: str) -> str:
    """Loki's OTLP mapping of an attribute name to a label name (``service.name`` -> ``service_name``)."""
    return name.replace(".", "_").replace("-", "_")


class LokiClient(HttpBackend):
    component = "Loki"

    def query_text(self, selector: dict[str, str], contains: str) -> str:
        matchers = ", ".join(f"{loki_label(k)}={json.dumps(v)}" for k, v in sorted(selector.items()))
        line_filter = f" |= {json.dumps(contains)}" if contains else ""
        return "{" + matchers + "}" + line_filter

    def _params(self, selector: dict[str, str], contains: str, limit: int) -> dict[str, str]:
        now = time.time_ns()
        return {
            "query": self.query_text(selector, contains),
            "start": str(now - LOOKBACK_SECONDS * 10**9),
            "end": str(now + 60 * 10**9),
            "limit": str(limit),
            "direction": "forward",
        }

    def query_url(self, selector: dict[str, str], contains: str) -> str:
        return f"{self.url('/loki/api/v1/query_range')}?query={self.query_text(selector, contains)}"

    def find(self, selector: dict[str, str], contains: str, limit: int = 100) -> list[LogRecord]:
        body = self.get_json(
            "/loki/api/v1/query_range",
            self._params(selector, contains, limit),
            headers={ENCODING_FLAGS_HEADER: CATEGORIZE_LABELS},
        )
        return self.parse_streams(body, self.query_url(selector, contains))

    def parse_streams(self, body: dict[str, Any], where: str) -> list[LogRecord]:
        """Records of a categorized ``streams`` answer; an uncategorized one is an error, not a guess."""
        data = body.get("data") or {}
        if data.get("resultType") != "streams":
            raise BackendError(self.component, f"{where}: resultType {data.get('resultType')!r}, expected 'streams'")
        if CATEGORIZE_LABELS not in (data.get("encodingFlags") or []):
            raise BackendError(
                self.component,
                f"{where}: the answer has no encodingFlags [{CATEGORIZE_LABELS!r}] although {ENCODING_FLAGS_HEADER} "
                "asked for it (Loki older than 3.0, or a proxy dropped the header): index labels cannot be told "
                "apart from structured metadata",
            )
        records: list[LogRecord] = []
        for stream in data.get("result", []):
            labels = {str(k): str(v) for k, v in stream["stream"].items()}
            for value in stream["values"]:
                groups = value[2] if len(value) > 2 and isinstance(value[2], dict) else {}
                records.append(
                    LogRecord(
                        labels=labels,
                        body=str(value[1]),
                        timestamp_ns=int(value[0]),
                        fields={str(k): str(v) for k, v in (groups.get("structuredMetadata") or {}).items()},
                        parsed={str(k): str(v) for k, v in (groups.get("parsed") or {}).items()},
                    )
                )
        return records

    def retention(self) -> tuple[str, str]:
        """From Loki's running config (/config): limits_config.retention_period and the compactor."""
        config = yaml.safe_load(self.get_text("/config"))
        period = str(config.get("limits_config", {}).get("retention_period", "0s"))
        enabled = config.get("compactor", {}).get("retention_enabled", False)
        return period, "retention_enabled" if enabled else "retention disabled"

    def version(self) -> str:
        return str(self.get_json("/loki/api/v1/status/buildinfo").get("version", "unknown"))
