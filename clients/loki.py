"""Grafana Loki's HTTP API (3.x: OTLP resource attributes become index labels)."""

from __future__ import annotations

import json
import time

import yaml

from clients.http import HttpBackend
from clients.logs import LogRecord

LOOKBACK_SECONDS = 3600


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
        body = self.get_json("/loki/api/v1/query_range", self._params(selector, contains, limit))
        records: list[LogRecord] = []
        for stream in body["data"]["result"]:
            labels = dict(stream["stream"])
            for value in stream["values"]:
                fields = dict(value[2]) if len(value) > 2 and isinstance(value[2], dict) else {}
                flat: dict[str, str] = {}
                for group in ("structuredMetadata", "parsed"):
                    flat.update(fields.get(group, {}))
                records.append(LogRecord(labels=labels, body=value[1], timestamp_ns=int(value[0]), fields=flat))
        return records

    def retention(self) -> tuple[str, str]:
        """From Loki's running config (/config): limits_config.retention_period and the compactor."""
        config = yaml.safe_load(self.get_text("/config"))
        period = str(config.get("limits_config", {}).get("retention_period", "0s"))
        enabled = config.get("compactor", {}).get("retention_enabled", False)
        return period, "retention_enabled" if enabled else "retention disabled"

    def version(self) -> str:
        return str(self.get_json("/loki/api/v1/status/buildinfo").get("version", "unknown"))
