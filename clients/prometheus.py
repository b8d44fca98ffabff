"""Prometheus HTTP API v1: reads through prometheus-api-client, plus what it lacks.

``prometheus_api_client.PrometheusConnect`` serves instant queries and targets;
rules, exemplars, status/config and buildinfo have no method there, so those go
through :class:`~clients.http.HttpBackend` like every other client. Either way an
error names Prometheus, the URL and what came back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
import yaml
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from obs_conformance.clients.errors import BackendError, BackendUnreachable
from obs_conformance.clients.http import HttpBackend, _reason

T = TypeVar("T")


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector: its labels and value."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Target:
    """One active scrape target as /api/v1/targets reports it."""

    job: str
    instance: str
    health: str
    last_error: str
    scrape_interval: str


# functions whose argument matching nothing makes them return a series: a selector there is not dead
ABSENCE_FUNCTIONS = ("absent", "absent_over_time")


@dataclass(frozen=True)
class Selector:
    """One vector selector of a parsed expression, as Prometheus' own parser (/api/v1/parse_query) read it."""

    matchers: tuple[tuple[str, str, str], ...]  # (label, operator, value), the name as __name__
    in_absence: bool = False  # under absent()/absent_over_time(): matching nothing is what makes it answer

    @property
    def metric(self) -> str:
        return self.label("__name__") or ""

    def label(self, name: str) -> str | None:
        """The value an equality matcher on ``name`` requires, or None."""
        return next((value for label, op, value in self.matchers if label == name and op == "="), None)

    @property
    def text(self) -> str:
        """The selector as PromQL (``name{label="v"}``), what /api/v1/series takes as ``match[]``."""
        rest = [(n, op, v) for n, op, v in self.matchers if not (n == "__name__" and op == "=")]
        inner = ", ".join(f"{n}{op}{json.dumps(v, ensure_ascii=False)}" for n, op, v in rest)
        if not self.metric:
            return f"{{{inner}}}"
        return f"{self.metric}{{{inner}}}" if inner else self.metric


def selectors_of(ast: Any, in_absence: bool = False) -> list[Selector]:
    """Every vector selector of a /api/v1/parse_query tree (prometheus web/api/v1/translate_ast.go), in order.

    Matrix selectors carry their vector selector's matchers; subqueries, calls, aggregations,
    binary and unary expressions are walked; literals have none.
    """
    if not isinstance(ast, dict):
        return []
    kind = ast.get("type")
    if kind in ("vectorSelector", "matrixSelector"):
        matchers = tuple((str(m["name"]), str(m["type"]), str(m["value"])) for m in ast.get("matchers") or [])
        return [Selector(matchers, in_absence)]
    if kind == "call":
        absence = in_absence or ast.get("func", {}).get("name") in ABSENCE_FUNCTIONS
        return [s for arg in ast.get("args") or [] for s in selectors_of(arg, absence)]
    children = [ast.get(key) for key in ("expr", "param", "lhs", "rhs")]
    return [s for child in children for s in selectors_of(child, in_absence)]


class PrometheusClient(HttpBackend):
    component = "Prometheus"

    def __init__(self, base_url: str, timeout: float, session: requests.Session | None = None) -> None:
        super().__init__(base_url, timeout, session)
        # Its own session: the hook turns a 4xx/5xx into our errors (with URL and body) before the
        # library flattens it into "HTTP Status Code N"; retries belong to the deadline polls, not
        # to urllib3 (the library's default retries 5xx three times with a 1 s back-off).
        api_session = requests.Session()
        api_session.auth = self.session.auth  # the front door's credentials, where the URL goes through it
        api_session.hooks["response"].append(self._raise_for_status)
        self.api = PrometheusConnect(
            self.base_url,
            session=api_session,
            retry=Retry(0, read=False),
            timeout=timeout,  # type: ignore[arg-type]  # annotated int, handed to requests as is
        )

    def _raise_for_status(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        where = f"{response.request.method} {response.url}"
        if response.status_code >= 500:
            raise BackendUnreachable(
                self.component, f"{where} answered {response.status_code}: {response.text[:300]}", response.status_code
            )
        if response.status_code >= 400:
            raise BackendError(
                self.component, f"{where} answered {response.status_code}: {response.text[:300]}", response.status_code
            )

    def _api(self, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except requests.RequestException as e:
            raise BackendUnreachable(self.component, f"{what} failed: {_reason(e, self.timeout)}") from e
        except (PrometheusApiClientException, KeyError, ValueError) as e:
            raise BackendError(self.component, f"{what}: unexpected answer: {e}") from e

    def _data(self, path: str, params: dict[str, str] | None = None) -> Any:
        body = self.get_json(path, params)
        if body.get("status") != "success":
            raise BackendError(self.component, f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query_url(self, promql: str) -> str:
        """The request a failure message shows (query left readable, not URL-encoded)."""
        return f"{self.url('/api/v1/query')}?query={promql}"

    def query(self, promql: str) -> list[Sample]:
        result: Any = self._api(f"GET {self.query_url(promql)}", lambda: self.api.custom_query(promql))
        # custom_query returns data.result alone: an instant vector is a list of {metric, value}
        if not isinstance(result, list) or not all(isinstance(item, dict) and "value" in item for item in result):
            raise BackendError(self.component, f"{promql!r} gave {str(result)[:200]}, not an instant vector")
        return [Sample(dict(item["metric"]), float(item["value"][1])) for item in result]

    def targets(self) -> list[Target]:
        data: Any = self._api(
            f"GET {self.url('/api/v1/targets')}?state=active", lambda: self.api.get_targets(state="active")
        )
        return [
            Target(
                job=t["labels"].get("job", ""),
                instance=t["labels"].get("instance", ""),
                health=t["health"],
                last_error=t.get("lastError", ""),
                scrape_interval=t.get("scrapeInterval", ""),
            )
            for t in data["activeTargets"]
        ]

    def exemplars(self, promql: str, lookback: float = 3600) -> list[dict[str, Any]]:
        """Exemplars of the series selected by ``promql`` (needs --enable-feature=exemplar-storage)."""
        now = time.time()
        data = self._data(
            "/api/v1/query_exemplars", {"query": promql, "start": str(now - lookback), "end": str(now + 60)}
        )
        return [exemplar for series in data for exemplar in series.get("exemplars", [])]

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule, each with its group name added."""
        groups = self._data("/api/v1/rules")["groups"]
        return [{**rule, "group": group["name"]} for group in groups for rule in group["rules"]]

    def rule_groups(self) -> list[dict[str, Any]]:
        """Every loaded rule group as /api/v1/rules reports it: name, file, ``interval`` (seconds) and rules."""
        groups: list[dict[str, Any]] = self._data("/api/v1/rules")["groups"]
        return groups

    def parse_query(self, promql: str) -> Any:
        """The expression's syntax tree, parsed by Prometheus itself (GET /api/v1/parse_query)."""
        return self._data("/api/v1/parse_query", {"query": promql})

    def selectors(self, promql: str) -> list[Selector]:
        """The vector selectors of ``promql``, by Prometheus' own parser: never a hand-written PromQL parser."""
        return selectors_of(self.parse_query(promql))

    def series_url(self, match: str) -> str:
        """The request a failure message shows (selector left readable)."""
        return f"{self.url('/api/v1/series')}?match[]={match}"

    def has_series(self, match: str, start: float, end: float) -> bool:
        """Whether ``match`` selects at least one series with samples between ``start`` and ``end`` (limit 1)."""
        params = {"match[]": match, "start": f"{start:.3f}", "end": f"{end:.3f}", "limit": "1"}
        return bool(self._data("/api/v1/series", params))

    def started_at(self) -> str:
        """When the server started (RFC 3339, /api/v1/status/runtimeinfo): a young server has not yet run
        the first evaluation of a rule group with a long interval."""
        return str(self._data("/api/v1/status/runtimeinfo")["startTime"])

    def config(self) -> dict[str, Any]:
        parsed: dict[str, Any] = yaml.safe_load(self._data("/api/v1/status/config")["yaml"])
        return parsed

    def version(self) -> str:
        return str(self._data("/api/v1/status/buildinfo")["version"])

    def ready(self) -> bool:
        return self.request("GET", "/-/ready").status_code == 200
