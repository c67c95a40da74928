"""Job kinds and their handlers, registered at import time with `@job_handler("album.index")`."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from server.jobs.context import JobContext

Handler = Callable[["JobContext", dict[str, Any]], "dict[str, Any] | None"]
# on_cancel(session, job_id, started): rows that follow the job, updated in the cancelling transaction.
CancelHook = Callable[["Session", int, bool], None]

HANDLERS: dict[str, Handler] = {}
# Kinds a user may cancel (POST /api/v1/jobs/<id>/cancel): their handlers expect JobCancelled.
CANCELLABLE: set[str] = set()
ON_CANCEL: dict[str, CancelHook] = {}


class UnknownJobKind(ValueError):
    """A job of a kind no handler is registered for (a typo, or a module missing from JOB_MODULES)."""


def job_handler(
    kind: str, cancellable: bool = False, on_cancel: CancelHook | None = None
) -> Callable[[Handler], Handler]:
    """Register `handler` as the code that runs jobs of `kind` (one handler per kind).

    `cancellable`: users may cancel its jobs; the handler then gets `JobCancelled` from
    `ctx.progress()` and must leave its own rows consistent before letting it propagate.
    `on_cancel` does the same for a job cancelled before it started (no handler runs then)."""
    if not kind or len(kind) > 64:
        raise ValueError(f"a job kind must be 1 to 64 characters, not {kind!r}")

    def decorator(handler: Handler) -> Handler:
        known = HANDLERS.get(kind)
        if known is not None and _qualname(known) != _qualname(handler):
            raise ValueError(f"the job kind {kind!r} already has a handler ({_qualname(known)})")
        HANDLERS[kind] = handler
        if cancellable:
            CANCELLABLE.add(kind)
        else:
            CANCELLABLE.discard(kind)
        if on_cancel is not None:
            ON_CANCEL[kind] = on_cancel
        else:
            ON_CANCEL.pop(kind, None)
        return handler

    return decorator


def _qualname(handler: Handler) -> str:
    return f"{handler.__module__}.{handler.__qualname__}"


def load_handlers() -> None:
    """Import every module listed in `server.jobs.JOB_MODULES` (registering their handlers)."""
    from server.jobs import JOB_MODULES

    for module in JOB_MODULES:
        importlib.import_module(module)


def get_handler(kind: str) -> Handler:
    handler = HANDLERS.get(kind)
    if handler is None:
        load_handlers()
        handler = HANDLERS.get(kind)
    if handler is None:
        raise UnknownJobKind(f"no handler for job kind {kind!r} (is its module in server.jobs.JOB_MODULES?)")
    return handler


def is_cancellable(kind: str) -> bool:
    if kind not in HANDLERS:
        load_handlers()
    return kind in CANCELLABLE


def kinds() -> list[str]:
    return sorted(HANDLERS)
