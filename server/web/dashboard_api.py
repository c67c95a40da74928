"""GET /api/v1/dashboard: the home page's figures for the signed-in user, polled by the page
(static/dashboard.js) so its counts stay live without a reload; scripts may read it too."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_login import current_user

from server.api.endpoints import api_route, registry
from server.api.io import DATETIME
from server.db import db_session, utcnow
from server.web.dashboard import dashboard

COUNTS = {
    "type": ["object", "null"],
    "description": "Null before the session starts. late/left_early include 'late & left early'; out: in"
    " the room no longer (live, while it runs); unknown: unknown faces waiting for review.",
    "properties": {
        key: {"type": "integer"}
        for key in ("present", "late", "left_early", "absent", "out", "unknown", "students")
    },
}
SESSION_CARD = registry.schema(
    "DashboardSession",
    {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "course": {"type": "object"},
            "classroom": {"type": ["string", "null"]},
            "starts_at": DATETIME,
            "ends_at": DATETIME,
            "status": {"type": "string", "enum": ["scheduled", "confirmed"]},
            "state": {"type": "string", "enum": ["upcoming", "running", "ended"]},
            "counts": COUNTS,
            "url": {"type": "string", "description": "The session's review page."},
        },
        "required": ["id", "course", "starts_at", "ends_at", "status", "url"],
    },
)
DASHBOARD = registry.schema(
    "Dashboard",
    {
        "type": "object",
        "description": "One section per role; the others are null.",
        "properties": {
            "role": {"type": "string"},
            "generated_at": DATETIME,
            "instructor": {
                "type": ["object", "null"],
                "properties": {
                    "day": {"type": "string", "format": "date"},
                    "timezone": {"type": "string"},
                    "today": {"type": "array", "items": SESSION_CARD},
                    "next": {"type": "array", "items": SESSION_CARD},
                    "unconfirmed": {"type": "array", "items": SESSION_CARD},
                },
            },
            "admin": {
                "type": ["object", "null"],
                "properties": {
                    "devices": {"type": "object"},
                    "rejected": {"type": "object"},
                    "jobs": {"type": "object"},
                },
            },
            "album": {
                "type": ["object", "null"],
                "properties": {
                    "photos": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "recent": {"type": "array", "items": {"type": "object"}},
                    "people": {"type": "array", "items": {"type": "object"}},
                },
            },
        },
        "required": ["role", "generated_at", "instructor", "admin", "album"],
    },
)


@api_route("/dashboard", roles=[], response=DASHBOARD, tags=["dashboard"])
def get_dashboard() -> dict[str, Any]:
    """The signed-in user's home figures: an instructor's sessions of today and next with live counts
    and the unconfirmed past ones; an administrator's devices, refused messages and job queue; an album
    user's indexing counts, newest uploads and people.

    Session counts come from the same computation as the session's attendance (`GET
    /sessions/{id}/attendance`), so both always agree."""
    return dashboard(db_session, current_user, current_app.config, utcnow())
