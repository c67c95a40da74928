"""A request whose Content-Length exceeds its body (issue 14: it held a development-server worker)
gets a 408 once the body stops arriving, and the thread serves the next request: under Werkzeug's
development server and under gunicorn with the shipped configuration (`gthread` workers, whose
`timeout` does not cover a body that never arrives), each with one thread, so a held thread shows."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

REPO = Path(__file__).resolve().parents[2]
SHORT_BODY = (
    b"POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 100000\r\n\r\nemail=a"
)


def answer(port: int, request: bytes, wait: float = 15.0) -> tuple[bytes, float]:
    """The first bytes the server answers `request` with, and how long that took."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as conn:
        started = time.monotonic()
        conn.sendall(request)
        try:
            data = conn.recv(200)
        except TimeoutError:
            data = b""
        return data, time.monotonic() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def dev_server(tmp_path) -> Iterator[int]:
    """The app under Werkzeug's development server, one request at a time (threaded=False)."""
    from server.app import create_app

    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'visage.db'}",
            "SECRET_KEY": "test",
            "BODY_IDLE_SECONDS": 1,
            "BODY_READ_SECONDS": 3,
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()


def test_a_short_body_gets_408_and_frees_the_development_server(dev_server):
    data, took = answer(dev_server, SHORT_BODY)
    assert re.match(rb"HTTP/1.[01] 408", data), data
    assert took < 5
    data, _took = answer(dev_server, b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert re.match(rb"HTTP/1.[01] 200", data), data


def test_a_trickled_body_meets_the_whole_body_deadline(dev_server):
    with socket.create_connection(("127.0.0.1", dev_server), timeout=15) as conn:
        started = time.monotonic()
        conn.sendall(SHORT_BODY)
        conn.settimeout(0.5)
        data = b""
        while not data and time.monotonic() - started < 12:  # a byte every 0.5 s: never idle for 1 s
            try:
                data = conn.recv(200)
            except TimeoutError:
                try:
                    conn.sendall(b"x")
                except OSError:
                    break
        took = time.monotonic() - started
    assert re.match(rb"HTTP/1.[01] 408", data), data
    assert 2.5 < took < 6


def test_gunicorn_with_the_shipped_configuration_answers_408_and_serves_the_next_request(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'visage.db'}",
        "VISAGE_INSTANCE_PATH": str(tmp_path / "instance"),
        "VISAGE_SECRET_KEY": "test",
        "VISAGE_BODY_IDLE_SECONDS": "1",
        "VISAGE_JOBS_START": "false",
        "VISAGE_WEB_WORKERS": "1",
        "VISAGE_WEB_THREADS": "1",
        "VISAGE_WEB_BIND": f"127.0.0.1:{port}",
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [str(gunicorn), "-c", "deploy/gunicorn.conf.py", "server.wsgi:app"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        data, took = answer(port, SHORT_BODY)
        assert re.match(rb"HTTP/1.[01] 408", data), data
        assert took < 5
        data, _took = answer(port, b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert re.match(rb"HTTP/1.[01] 200", data), data
    finally:
        process.terminate()
        process.wait(timeout=30)
