"""A deadline on reading a request's body, so that a client cannot hold a worker thread by
announcing more bytes than it sends (`Content-Length: 1000`, then 5 bytes, then silence).

Neither server in front of the app bounds that on its own: Werkzeug's development server and
gunicorn's `gthread` workers (deploy/gunicorn.conf.py) read the body in the request's thread with a
blocking socket and no timeout, and gunicorn's `timeout` only restarts a worker whose main loop
stops, which a `gthread` worker's never does (measured: the thread was still held after 40 s with
`--timeout 5`). So the app arms the connection's socket itself, through the socket both servers
put in the WSGI environ (`werkzeug.socket`, `gunicorn.socket`): every read of the body waits at
most BODY_IDLE_SECONDS for the next bytes (a socket timeout), and the whole body must arrive within
BODY_READ_SECONDS (a timer that shuts the socket's reading side, which wakes a read that a client
trickling a byte at a time would otherwise keep alive: both servers loop inside one `read()` until
they have the bytes asked for). A client that misses either gets a 408 with a sentence, and the
thread is free.

In production the reverse proxy (docs/deployment.md) buffers whole request bodies before gunicorn
sees them and has its own `client_body_timeout`; this deadline is what holds without one.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from flask import Flask
from werkzeug.exceptions import RequestTimeout

from server.settings import settings_of

SOCKET_KEYS = ("gunicorn.socket", "werkzeug.socket")
STOPPED = "The request body stopped arriving before its announced length (Content-Length): send it again."
TOO_SLOW = "The request body took too long to arrive: send it again over a faster connection."


class DeadlineInput:
    """`wsgi.input` whose reads time out: at most `idle` seconds each, all done by `deadline`."""

    def __init__(self, stream: IO[bytes], sock: socket.socket, idle: float, seconds: float) -> None:
        self.stream, self.sock, self.idle = stream, sock, idle
        self.deadline = time.monotonic() + seconds
        self.timer: threading.Timer | None = None

    def _arm(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise RequestTimeout(TOO_SLOW)
        if self.timer is None:
            self.timer = threading.Timer(left, self._stop_reading)
            self.timer.daemon = True
            self.timer.start()
        self.sock.settimeout(min(self.idle, left))

    def _stop_reading(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RD)  # a blocked read returns what it has: end of stream

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def _call(self, read: Callable[..., Any], *args: Any) -> Any:
        self._arm()
        try:
            data = read(*args)
        except TimeoutError:
            raise RequestTimeout(STOPPED) from None
        except OSError:
            if time.monotonic() >= self.deadline:
                raise RequestTimeout(TOO_SLOW) from None
            raise
        if time.monotonic() >= self.deadline:
            raise RequestTimeout(TOO_SLOW)
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self._call(self.stream.read, -1 if size is None else size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._call(self.stream.readline, -1 if size is None else size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return self._call(self.stream.readlines, hint)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


class BodyDeadline:
    """WSGI middleware installing `DeadlineInput` on requests that announce a body."""

    def __init__(self, app: Callable[..., Iterable[bytes]], flask_app: Flask) -> None:
        self.app, self.flask_app = app, flask_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        sock = next((environ[key] for key in SOCKET_KEYS if environ.get(key) is not None), None)
        announced = environ.get("CONTENT_LENGTH") not in (None, "", "0")
        if sock is not None and (announced or environ.get("HTTP_TRANSFER_ENCODING")):
            settings = settings_of(self.flask_app).server
            body = DeadlineInput(
                environ["wsgi.input"], sock, settings.body_idle_seconds, settings.body_read_seconds
            )
            environ["wsgi.input"] = body
            try:
                return self.app(environ, start_response)
            finally:
                body.cancel()
                # Back to blocking before the server reuses the connection (keep-alive, writing).
                sock.settimeout(None)
        return self.app(environ, start_response)


def init_app(app: Flask) -> None:
    app.wsgi_app = BodyDeadline(app.wsgi_app, app)  # type: ignore[method-assign]
