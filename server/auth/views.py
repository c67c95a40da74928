"""Sign-in and sign-out pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug import Response

from server.auth.accounts import authenticate, normalize_email
from server.auth.forms import LoginForm, LogoutForm
from server.auth.passwords import passwords
from server.auth.ratelimit import LoginLimit
from server.db import db_session

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm(next=request.args.get("next", ""))
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("auth/login.html", form=form), status

    email = normalize_email(form.email.data or "")
    ip = request.remote_addr or "unknown"
    limit = LoginLimit.from_config(current_app.config)
    wait = limit.retry_after(db_session, email, ip)
    if wait is not None:
        minutes = max(1, round(wait / 60))
        flash(f"Too many failed sign-ins. Try again in about {minutes} minute(s).", "error")
        return render_template("auth/login.html", form=form), 429

    user = authenticate(db_session, passwords(), email, form.password.data or "")
    if user is None:
        limit.record_failure(db_session, email, ip)
        db_session.commit()
        flash("Wrong email or password.", "error")
        return render_template("auth/login.html", form=form), 401

    limit.clear(db_session, email, ip)
    db_session.commit()
    session.clear()  # nothing from before sign-in carries over
    login_user(user)
    session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME
    return redirect(safe_next(form.next.data))


@bp.post("/logout")
def logout() -> Response:
    form = LogoutForm()
    form.validate_on_submit()  # CSRF was already checked for every POST; this just consumes the form
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this site, else the home page (no open redirect to other sites)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return url_for("web.home")
    # Browsers read a backslash as a slash and drop tabs and newlines: "/<backslash>evil.example"
    # would lead to another site.
    if "\\" in target or any(ord(char) < 0x20 for char in target):
        return url_for("web.home")
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else url_for("web.home")
