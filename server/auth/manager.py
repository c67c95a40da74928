"""Who is calling: Flask-Login sessions for browsers, bearer tokens for scripts and devices, and the
CSRF rule that goes with each.

* A device's token (`Bearer vsd_...`, server.devices.tokens) signs in no user: only the device
  endpoints accept it, and every other view treats the request as anonymous (401).
* A request with `Authorization: Bearer ...` is authenticated by that token only (a session cookie
  it may also carry is ignored); a bad token is a 401 at once, whatever the URL. Such requests
  skip the CSRF check: a browser never attaches that header on its own, so a forged cross-site
  request cannot carry it.
* Every other state-changing request (POST, PUT, PATCH, DELETE), forms and session-authenticated
  API calls alike, must carry the session's CSRF token (form field `csrf_token` or header
  `X-CSRFToken`; templates get it from `csrf_token()`).
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from flask import Flask, Request, Response, current_app, flash, g, redirect, request, url_for
from flask_babel import gettext
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from server.auth.tokens import bearer_token, find_token, touch
from server.db import db_session
from server.db.models import User
from server.devices.tokens import is_device_token
from server.errors import is_api_request, json_error
from server.i18n import N_
from server.settings import current_settings

login_manager = LoginManager()
csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # replaced by check_request below, which knows tokens
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    app.before_request(check_request)


@login_manager.user_loader
def load_session_user(user_id: str) -> User | None:
    if bearer_token(request) is not None:
        return None  # a bearer request is authenticated by its token alone
    number, _, nonce = user_id.partition(":")
    try:
        user = db_session.get(User, int(number))
    except (ValueError, OverflowError):
        return None
    if user is None or not user.active or not nonce:
        return None
    # a cookie from before a sign-out or a password change carries an old nonce: refused
    return user if hmac.compare_digest(nonce.encode(), user.session_nonce.encode()) else None


@login_manager.request_loader
def load_token_user(req: Request) -> User | None:
    token = bearer_token(req)
    if token is None:
        return None
    row = find_token(db_session, token)
    if row is None:
        return None
    touch(db_session, row, timedelta(seconds=current_settings().server.token_touch_seconds))
    g.api_token = row
    return row.user


@login_manager.unauthorized_handler
def unauthorized() -> Response:
    """Anonymous caller on a protected view: 401 JSON for the API, the sign-in page for browsers."""
    if is_api_request():
        message = N_("authentication required: send 'Authorization: Bearer <token>' or sign in")
        return unauthorized_json(message)
    flash(gettext("Please sign in to see this page."), "info")
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=target))


def unauthorized_json(message: str, invalid_token: bool = False) -> Response:
    response = json_error(401, message)
    challenge = 'Bearer realm="visage"'
    if invalid_token:
        challenge += ', error="invalid_token"'
    response.headers["WWW-Authenticate"] = challenge
    return response


def check_request() -> Response | None:
    """Before every view: refuse bad bearer tokens, and check CSRF on everything else."""
    token = bearer_token(request)
    if is_device_token(token):
        return None  # a device's token authenticates no user: the device endpoints check it themselves
    if token is not None:
        if not current_user.is_authenticated:
            return unauthorized_json(N_("invalid, expired or revoked API token"), invalid_token=True)
        return None
    if not current_app.config.get("WTF_CSRF_ENABLED", True) or request.endpoint is None:
        return None
    csrf.protect()
    return None
