"""The stack fixture's warm-up: when it cannot finish, the run says so in one line naming Prometheus."""

from __future__ import annotations

import pytest

from obs_conformance.clients import registry
from obs_conformance.clients.errors import BackendError
from obs_conformance.envconf import load_environment
from obs_conformance.fixtures import stack


class _RefusingPrometheus:
    component = "Prometheus"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:1{path}"

    def targets(self) -> list[object]:
        raise BackendError("Prometheus", "GET http://127.0.0.1:1/api/v1/targets answered 400: bad_data")

    def rules(self) -> list[dict[str, object]]:
        return []


def test_a_warm_up_that_fails_is_reported_in_one_line_naming_prometheus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "prometheus", lambda env: _RefusingPrometheus())
    line = stack.warm_up(load_environment("local"))
    assert "\n" not in line
    assert line.startswith("warm-up of Prometheus did not finish")
    assert "GET http://127.0.0.1:1/api/v1/targets answered 400: bad_data" in line
