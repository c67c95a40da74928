"""How a long-running command (`visage server ingest`, `visage server worker`) waits for its end:
its own stop event, SIGTERM (what systemd sends) or Ctrl-C, all three leading to the same clean stop."""

from __future__ import annotations

import signal
import threading


def wait_until_stopped(done: threading.Event) -> None:
    """Block until `done` is set, SIGTERM arrives (it sets `done`) or Ctrl-C is pressed; the caller
    stops its workers afterwards, in a `finally`."""
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
