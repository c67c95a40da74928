"""Home page (what the signed-in user can do), the administrator's account list
(health and readiness probes are in server.health)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import select

from server.auth.decorators import login_required, role_required
from server.db import db_session
from server.db.enums import Role
from server.db.models import User

bp = Blueprint("web", __name__)


@bp.get("/")
@login_required
def home() -> str:
    return render_template("home.html", user=current_user)


@bp.get("/admin/users")
@role_required(Role.ADMIN)
def users() -> str:
    rows = db_session.scalars(select(User).order_by(User.email)).all()
    return render_template("admin/users.html", users=rows)
