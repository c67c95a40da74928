"""Errors in the client's language: JSON `{"error": "..."}` for the API, an HTML page for the web.

Views just `abort(404, "no such session")`; the handlers below pick the representation.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from flask import Flask, Response, g, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

API_PREFIX = "/api/"

CSRF_MESSAGE = (
    "The form was not sent from this site or has expired (CSRF check failed): reload the page and try again."
)


def is_api_request() -> bool:
    """True for the JSON API (its URL space, a bearer-token client, or a client asking for JSON only)."""
    if request.path.startswith(API_PREFIX):
        return True
    if request.headers.get("Authorization", "").lower().startswith("bearer"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.accept_mimetypes.accept_html


def json_error(status: int, message: str, response: Response | None = None) -> Response:
    """A JSON error body; keeps the headers of `response` (Allow, WWW-Authenticate...) when given."""
    response = response or Response(status=status)
    response.status_code = status
    response.set_data(json.dumps({"error": message}))
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
    page = render_template(
        "error.html",
        status=status,
        title=error.name,
        message=message,
        back=back_link() if status < 500 else None,
        from_form=request.method not in ("GET", "HEAD"),
    )
    return page, status


def register_error_handlers(app: Flask) -> None:
    """HTTP errors, and uncaught exceptions (which Flask logs with their traceback, then reports as
    InternalServerError whose generic description reveals nothing of the cause)."""
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(InternalServerError, handle_http_error)
