"""GET /api/v1/dashboard: the home page's figures for the signed-in user, polled by the page
(static/dashboard.js) so its counts stay live without a reload; scripts may read it too."""

from __future__ import annotations

from flask import current_app
from flask_login import current_user

from server.api.endpoints import api_route
from server.db import db_session, utcnow
from server.web.dashboard import dashboard
from server.web.schemas import Dashboard


@api_route("/dashboard", roles=[], response=Dashboard, tags=["dashboard"])
def get_dashboard() -> Dashboard:
    """The signed-in user's home figures: an instructor's sessions of today and next with live counts
    and the unconfirmed past ones; an administrator's devices, refused messages and job queue; an album
    user's indexing counts, newest uploads and people.

    Session counts come from the same computation as the session's attendance (`GET
    /sessions/{id}/attendance`), so both always agree."""
    return Dashboard.model_validate(dashboard(db_session, current_user, current_app.config, utcnow()))
