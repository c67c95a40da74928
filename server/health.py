"""Liveness and readiness probes for load balancers, systemd watchdogs and Kubernetes.

`/healthz`: the process answers (no dependency is touched, so a database outage does not get
every web worker restarted). `/readyz`: this instance can serve: the database answers and its
schema is at the code's migration head (a deploy whose `visage server init-db` has not run yet
is not ready), and Redis answers when jobs go through RQ. 503 with the reasons otherwise.
Both are public and say nothing secret: no URLs, no versions of dependencies.
"""

from __future__ import annotations

from functools import lru_cache

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import Connection, inspect, text

from server.db.session import get_db
from server.settings import current_settings

bp = Blueprint("health", __name__)


@lru_cache(maxsize=1)
def _head_revision() -> str | None:
    from server.db.migrate import head_revision

    return head_revision()


def _current_revision(connection: Connection) -> str | None:
    """Alembic's version row, read directly (cheap enough for every probe, and quiet)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def readiness_problems() -> list[str]:
    """What keeps this instance from serving; empty when it is ready."""
    problems: list[str] = []
    engine = get_db().engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            revision = _current_revision(connection)
    except Exception as exc:  # any driver error means "not reachable" here
        current_app.logger.warning("readiness: database unreachable: %s", exc)
        problems.append("database unreachable")
    else:
        head = _head_revision()
        if revision != head:
            problems.append(f"database schema at revision {revision or 'none'}, code expects {head}")
    if current_settings().jobs.runner == "rq":
        try:
            from server.jobs.queue import connect

            connect(current_app).ping()
        except Exception as exc:
            current_app.logger.warning("readiness: redis unreachable: %s", exc)
            problems.append("job queue (Redis) unreachable")
    return problems


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    problems = readiness_problems()
    if problems:
        return jsonify(status="unavailable", reasons=problems), 503
    return jsonify(status="ready", revision=_head_revision()), 200
