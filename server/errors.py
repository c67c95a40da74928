"""Errors in the client's language: JSON `{"error": "..."}` for the API, an HTML page for the web.

Views just `abort(404, "no such session")`; services raise a `ServiceError` (`NotFound("no such
course")`), which knows its HTTP status but not whether an API client or a page asked. The handlers
below, registered once for the whole app, pick the representation, so no view needs a decorator.
A unique-constraint race (IntegrityError) that reaches a view answers 409 the same way.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, has_request_context, render_template, request
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from server.i18n import N_

log = logging.getLogger(__name__)

API_PREFIX = "/api/"

# Sentences below are marked with N_ for the catalogue and translated when answered (translated()).
CSRF_MESSAGE = N_(
    "The form was not sent from this site or has expired (CSRF check failed): reload the page and try again."
)


class ServiceError(Exception):
    """A request a service refuses: an HTTP status and one sentence telling the caller what to fix.

    Raised before anything is written, or the handler rolls the transaction back: nothing
    half-done. `details` become extra fields of the API answer (e.g. the unknown student numbers
    of a roster change); pages show the message only."""

    status = 400

    def __init__(self, message: str, status: int | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.details = details


class Invalid(ServiceError):
    """The input fails validation (400)."""

    status = 400


class Forbidden(ServiceError):
    """The caller may see the thing but not make this change (403)."""

    status = 403


class NotFound(ServiceError):
    """No such thing, or none the caller may see (404: another user's ids look unknown)."""

    status = 404


class Conflict(ServiceError):
    """The change clashes with the current state: a duplicate, an overlap, recorded evidence (409)."""

    status = 409


class TooLarge(ServiceError):
    """An upload or a request over a size limit; the message names the limit (413)."""

    status = 413


class Unprocessable(ServiceError):
    """Well-formed but not usable, e.g. a photo without a face (422)."""

    status = 422


class Unavailable(ServiceError):
    """Something the operator must install or start is missing, e.g. the face models (503)."""

    status = 503


CONCURRENT_CHANGE = N_(
    "the change conflicts with another one made at the same time (e.g. a duplicate): reload and retry"
)
# What a unique-constraint race answers, by the package of the view it reached (longest prefix wins).
CONCURRENT_CHANGE_BY_PACKAGE = {
    "server.album": N_("your album changed at the same time: send the request again"),
    "server.enrolment": N_("the enrolment changed at the same time: send the request again"),
    "server.faces_api": N_("the photos changed at the same time: send the request again"),
}


def is_api_request() -> bool:
    """True for the JSON API (its URL space, a bearer-token client, or a client asking for JSON only)."""
    if request.path.startswith(API_PREFIX):
        return True
    if request.headers.get("Authorization", "").lower().startswith("bearer"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.accept_mimetypes.accept_html


def translated(message: str) -> str:
    """`message` in the request's language when the catalogue holds it (server/i18n.py); English
    otherwise, e.g. for a sentence with a value built in (an f-string) or for a client that asked
    for no language."""
    if not message or not has_request_context() or "babel" not in current_app.extensions:
        return message
    return gettext(message)


def json_error(status: int, message: str, response: Response | None = None) -> Response:
    """A JSON error body; keeps the headers of `response` (Allow, WWW-Authenticate...) when given."""
    response = response or Response(status=status)
    response.status_code = status
    response.set_data(json.dumps({"error": translated(message)}))
    response.content_type = "application/json"
    return response


def back_link() -> str | None:
    """Where an error page leads back to: the page a view named (`g.error_back`, e.g. the form that
    was sent), else the page on this site the request came from (its Referer), never another site's.
    None when there is nothing better than the start page."""
    explicit = g.get("error_back")
    if explicit:
        return str(explicit)
    referrer = urlsplit(request.referrer or "")
    path = referrer.path
    if referrer.netloc != request.host or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return None
    if path == request.path and request.method in ("GET", "HEAD"):
        return None  # the failing page itself
    return path + (f"?{referrer.query}" if referrer.query else "")


def handle_http_error(error: HTTPException) -> Response | tuple[str, int]:
    status = error.code or 500
    message = error.description or error.name
    if isinstance(error, CSRFError):
        message = CSRF_MESSAGE if not is_api_request() else f"CSRF check failed: {error.description}"
    if is_api_request():
        return json_error(status, message, error.get_response())
    return error_page(status, message, error.name)


def error_page(status: int, message: str, title: str | None = None) -> tuple[str, int]:
    """The HTML error page for `status` saying `message`."""
    page = render_template(
        "error.html",
        status=status,
        title=translated(title or HTTP_STATUS_CODES.get(status, "Error")),
        message=translated(message),
        back=back_link() if status < 500 else None,
        from_form=request.method not in ("GET", "HEAD"),
    )
    return page, status


def _refused(status: int, message: str, details: dict[str, Any]) -> Response | tuple[str, int]:
    """Roll back what the request wrote, then answer `message` as JSON or as the error page."""
    from server.db import db_session  # here: the database package is not needed to import this module

    db_session.rollback()
    if is_api_request():
        response = json_error(status, message)
        if details:
            response.set_data(json.dumps({"error": translated(message), **details}))
        return response
    return error_page(status, message)


def handle_service_error(error: ServiceError) -> Response | tuple[str, int]:
    return _refused(error.status, error.message, error.details)


def concurrent_change_message() -> str:
    """The 409 sentence for a unique-constraint race in the view this request reached."""
    view = current_app.view_functions.get(request.endpoint or "")
    module = getattr(view, "__module__", "") or ""
    prefixes = [prefix for prefix in CONCURRENT_CHANGE_BY_PACKAGE if module.startswith(prefix + ".")]
    return CONCURRENT_CHANGE_BY_PACKAGE[max(prefixes, key=len)] if prefixes else CONCURRENT_CHANGE


def handle_integrity_error(error: IntegrityError) -> Response | tuple[str, int]:
    """Two requests inserted the same unique thing at once: the loser answers 409, nothing kept."""
    log.info("unique-constraint race on %s %s: %s", request.method, request.path, error.orig)
    return _refused(409, concurrent_change_message(), {})


def register_error_handlers(app: Flask) -> None:
    """HTTP errors, service errors and unique-constraint races, and uncaught exceptions (which
    Flask logs with their traceback, then reports as InternalServerError whose generic
    description reveals nothing of the cause)."""
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(InternalServerError, handle_http_error)
    app.register_error_handler(ServiceError, handle_service_error)
    app.register_error_handler(IntegrityError, handle_integrity_error)
