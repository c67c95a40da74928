"""Objects an app builds once and keeps in `app.extensions` (face models, the storage client): built on
first use rather than at start-up, so a command or a test that never needs them never pays for them,
and built only once even when the first requests arrive together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask

T = TypeVar("T")

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def build_once(app: Flask, key: str, build: Callable[[], T]) -> T:
    """`app.extensions[key]`, from `build()` on first use. One lock per key: loading the face models
    does not hold up the first use of something else."""
    found: Any = app.extensions.get(key)
    if found is not None:
        return found
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        found = app.extensions.get(key)
        if found is None:
            found = build()
            app.extensions[key] = found
    return found
