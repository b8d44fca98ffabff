"""The Slack mock answers like Slack's incoming webhooks and records what Alertmanager sends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from obs_conformance.clients.slack_mock import SlackMockClient
from obs_conformance.slack_mock.server import MockState, SlackMockServer, read_hooks

HOOK = "/services/T0001/B0001/abcdefghijklmnopqrstuvwx"


@pytest.fixture
def mock() -> Iterator[tuple[str, MockState]]:
    state = MockState(hooks={HOOK}, archived={"/services/T0001/B0002/archivedarchivedarchived"})
    server = SlackMockServer(("127.0.0.1", 0), state)
    # shutdown() waits up to one poll interval (0.5 s by default) at every teardown
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    server.server_close()


def post(base: str, path: str, body: bytes, content_type: str = "application/json") -> requests.Response:
    return requests.post(base + path, data=body, headers={"Content-Type": content_type}, timeout=5)


def test_valid_payload_is_ok_and_recorded(mock: tuple[str, MockState]) -> None:
    base, _ = mock
    payload = {
        "channel": "#monitoring",
        "username": "Alertmanager",
        "attachments": [{"title": "[FIRING:1] Probe", "text": "run_id=r-42", "color": "danger", "fields": []}],
    }
    response = post(base, HOOK, json.dumps(payload).encode())
    assert (response.status_code, response.text) == (200, "ok")
    messages = SlackMockClient(base, 5).messages(contains="r-42")
    assert len(messages) == 1
    assert messages[0].channel == "#monitoring"
    assert messages[0].attachments[0]["title"] == "[FIRING:1] Probe"
    assert messages[0].hook.endswith("/****"), "the hook's credential part must never be served back"
    assert SlackMockClient(base, 5).messages(contains="other-run") == []


def test_form_encoded_payload_is_accepted(mock: tuple[str, MockState]) -> None:
    base, _ = mock
    body = "payload=" + quote(json.dumps({"text": "hello form"}))
    response = post(base, HOOK, body.encode(), "application/x-www-form-urlencoded")
    assert (response.status_code, response.text) == (200, "ok")


@pytest.mark.parametrize(
    ("path", "body", "status", "answer"),
    [
        (HOOK, b"{not json", 400, "invalid_payload"),
        (HOOK, b"[1, 2]", 400, "invalid_payload"),
        (HOOK, b'{"channel": "#monitoring"}', 400, "no_text"),
        ("/services/T0001/B0001/unknownunknownunknown000", b'{"text": "x"}', 404, "no_service"),
        ("/services/T0001/B0002/archivedarchivedarchived", b'{"text": "x"}', 410, "channel_is_archived"),
    ],
)
def test_errors_match_slack(mock: tuple[str, MockState], path: str, body: bytes, status: int, answer: str) -> None:
    base, state = mock
    response = post(base, path, body)
    assert (response.status_code, response.text) == (status, answer)
    assert state.messages == []


def test_rate_limit_answers_429_with_retry_after(mock: tuple[str, MockState]) -> None:
    base, _ = mock
    requests.post(base + "/api/faults", json={"rate_limit": 1, "retry_after": 3}, timeout=5)
    first = post(base, HOOK, b'{"text": "x"}')
    assert (first.status_code, first.headers["Retry-After"]) == (429, "3")
    assert post(base, HOOK, b'{"text": "x"}').status_code == 200


def test_hooks_file_takes_paths_or_urls(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    hooks.write_text(f"# comment\nhttp://127.0.0.1:1{HOOK}\n/services/A/B/C\n")
    assert read_hooks(hooks) == {HOOK, "/services/A/B/C"}


def test_messages_since_a_moment_on_the_mock_clock(mock: tuple[str, MockState]) -> None:
    """``since`` keeps what arrived then or later: a message of an earlier run is never read as this run's."""
    base, state = mock
    client = SlackMockClient(base, 5)
    payload = {"channel": "#monitoring", "text": "[FIRING:1] Watchdog"}
    assert post(base, HOOK, json.dumps(payload).encode()).status_code == 200
    between = client.on_mock_clock(time.time())
    assert post(base, HOOK, json.dumps({**payload, "text": "[FIRING:1] Watchdog again"}).encode()).status_code == 200
    assert len(client.messages(contains="Watchdog")) == 2
    later = client.messages(contains="Watchdog", since=between)
    assert [m.text for m in later] == ["[FIRING:1] Watchdog again"]
    assert later[0].received_at >= between >= state.messages[0].received_at
    assert client.messages(contains="Watchdog", since=float("inf")) == []
    assert requests.get(f"{base}/api/messages", params={"since": "yesterday"}, timeout=5).status_code == 400
