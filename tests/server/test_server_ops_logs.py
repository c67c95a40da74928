"""Structured logs: VISAGE_LOG_FORMAT=json gives one JSON object per line, tagged with the request id."""

from __future__ import annotations

import io
import json
import logging

import pytest

from server.logs import configure_logging
from server.settings import update_settings


@pytest.fixture
def captured(app):
    """The app's log lines, as configured for production, written to a buffer."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    update_settings(app, LOG_FORMAT="json")
    configure_logging(app, stream=buffer)
    yield buffer
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_each_request_logs_one_json_line_with_its_request_id(client, captured):
    response = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.1"})
    assert response.headers["X-Request-ID"] == "lb-7f3a.1"
    [entry] = [e for e in lines(captured) if e["logger"] == "visage.requests"]
    assert entry["request_id"] == "lb-7f3a.1"
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/healthz", 200)
    assert entry["level"] == "INFO" and entry["message"] == "GET /healthz 200"
    assert entry["duration_ms"] >= 0 and entry["time"].endswith("+00:00")


def test_a_missing_or_unsafe_request_id_is_replaced(client, captured):
    fresh = client.get("/healthz").headers["X-Request-ID"]
    unsafe = client.get("/healthz", headers={"X-Request-ID": 'x" injected=1'}).headers["X-Request-ID"]
    assert len(fresh) == 32 and len(unsafe) == 32 and fresh != unsafe
    assert [e["request_id"] for e in lines(captured)] == [fresh, unsafe]


def test_application_logs_inside_a_request_carry_its_id_and_exceptions(app, client, captured):
    @app.get("/boom")
    def boom():
        try:
            raise RuntimeError("disk on fire")
        except RuntimeError:
            logging.getLogger("visage.test").exception("could not save")
        return "saved anyway"

    client.get("/boom", headers={"X-Request-ID": "req-42"})
    [entry] = [e for e in lines(captured) if e["logger"] == "visage.test"]
    assert entry["request_id"] == "req-42" and entry["level"] == "ERROR"
    assert "RuntimeError: disk on fire" in entry["exception"]


def test_the_text_format_is_the_default(app, client):
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    try:
        configure_logging(app, stream=buffer)
        client.get("/healthz", headers={"X-Request-ID": "plain-1"})
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert "INFO visage.requests [plain-1] GET /healthz 200" in buffer.getvalue()
