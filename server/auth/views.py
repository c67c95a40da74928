"""Sign-in and sign-out pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext, ngettext, refresh
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug import Response

from server.audit import record
from server.auth.accounts import AccountError, authenticate, normalize_email, set_password
from server.auth.forms import LanguageForm, LoginForm, LogoutForm, PasswordForm
from server.auth.passwords import passwords
from server.auth.ratelimit import LoginLimit
from server.auth.tokens import bearer_token
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
    wait = limit.reserve(db_session, email, ip)  # before the password check: atomic under bursts
    if wait is not None:
        minutes = max(1, round(wait / 60))
        flash(
            ngettext(
                "Too many failed sign-ins. Try again in about %(num)d minute.",
                "Too many failed sign-ins. Try again in about %(num)d minutes.",
                minutes,
            ),
            "error",
        )
        return render_template("auth/login.html", form=form), 429

    user = authenticate(db_session, passwords(), email, form.password.data or "")
    if user is None:
        db_session.commit()  # the reserved place stays: it is this failure
        flash(gettext("Wrong email or password."), "error")
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
    if current_user.is_authenticated and bearer_token(request) is None:
        current_user.end_sessions()  # a copy of the cookie taken before is dead too
        db_session.commit()
    logout_user()
    session.clear()
    flash(gettext("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> Response | str | tuple[str, int]:
    """Change one's own password. Every other session of the account ends (a new nonce); this
    browser is signed in again with the new one."""
    form = PasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/password.html", form=form), 400 if request.method == "POST" else 200
    user = current_user._get_current_object()
    hasher = passwords()
    limit, ip = LoginLimit.from_config(current_app.config), request.remote_addr or "unknown"
    if limit.reserve(db_session, user.email, ip) is not None:  # the sign-in limit guards guesses here too
        form.current.errors.append(gettext("Too many wrong passwords. Try again later."))
        return render_template("auth/password.html", form=form), 429
    if not hasher.verify(user.password_hash, form.current.data or ""):
        db_session.commit()
        form.current.errors.append(gettext("That is not your current password."))
        return render_template("auth/password.html", form=form), 400
    limit.clear(db_session, user.email, ip)
    if form.new.data != form.confirm.data:
        form.confirm.errors.append(gettext("The two new passwords differ."))
        return render_template("auth/password.html", form=form), 400
    try:
        set_password(db_session, hasher, user, form.new.data or "")
    except AccountError as exc:
        message = gettext(str(exc))  # the account rules' sentence, translated when the catalogue has it
        form.new.errors.append(f"{message[:1].upper()}{message[1:]}.")
        return render_template("auth/password.html", form=form), 400
    record(db_session, user, "user.password", "user", user.id)
    db_session.commit()
    session.clear()
    login_user(user)  # the new nonce: this browser stays signed in, every other session is gone
    session.permanent = True
    flash(gettext("Password changed. Other sessions of your account are signed out."), "info")
    return redirect(url_for("web.home"))


@bp.route("/account/language", methods=["GET", "POST"])
@login_required
def language() -> Response | str | tuple[str, int]:
    """The pages' language for this account: one of the catalogues, or "" to follow the browser's
    Accept-Language (stored as NULL, migration 0019)."""
    user = current_user._get_current_object()
    form = LanguageForm(language=user.language or "")
    if not form.validate_on_submit():
        return render_template("auth/language.html", form=form), 400 if request.method == "POST" else 200
    before = user.language
    user.language = form.language.data or None
    record(db_session, user, "user.language", "user", user.id, before={"language": before},
           after={"language": user.language})  # fmt: skip
    db_session.commit()
    refresh()  # this answer already speaks the new language
    flash(gettext("Language saved."), "info")
    return redirect(url_for("auth.language"))


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


from server.auth import token_views  # noqa: E402, F401  (the API tokens page, on this blueprint)
