"""Home page (what the signed-in user can do), the administrator's account list
(health and readiness probes are in server.health)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, send_from_directory
from flask_login import current_user
from sqlalchemy import select
from werkzeug import Response

from server.auth.decorators import login_required, role_required
from server.db import db_session, utcnow
from server.db.enums import Role
from server.db.models import User
from server.web.dashboard import dashboard
from server.web.live import refresh_seconds

bp = Blueprint("web", __name__)


@bp.get("/")
@login_required
def home() -> str:
    """The signed-in user's dashboard (server/web/dashboard.py); static/dashboard.js keeps its counts
    live from GET /api/v1/dashboard, the same document."""
    config = current_app.config
    return render_template(
        "home.html",
        user=current_user,
        board=dashboard(db_session, current_user, config, utcnow()),
        refresh_seconds=refresh_seconds(),
    )


@bp.get("/admin/users")
@role_required(Role.ADMIN)
def users() -> str:
    rows = db_session.scalars(select(User).order_by(User.email)).all()
    return render_template("admin/users.html", users=rows)


@bp.get("/favicon.ico")
def favicon() -> Response:
    """The site icon where browsers look for it by default (pages also link static/favicon.svg), so
    no page load ends in a 404; public, like the sign-in page that shows it."""
    response = send_from_directory(
        str(current_app.static_folder), "favicon.ico", mimetype="image/vnd.microsoft.icon", max_age=86400
    )
    return response
