"""Security headers on every response. All assets are served by the server itself (no CDN: classrooms
may be offline), so the content security policy can be strict: this origin only, no inline script."""

from __future__ import annotations

from flask import Flask, Response, request
from flask_login import current_user

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def no_store_when_signed_in(response: Response) -> Response:
    """Pages and API answers for a signed-in user (cookie or token) are never stored: not by a
    shared proxy, and not in the browser's cache, where the back button would show them to the next
    person at a classroom PC after sign-out. Static files stay cacheable."""
    if request.endpoint != "static" and (current_user.is_authenticated or "Authorization" in request.headers):
        response.headers["Cache-Control"] = "no-store"
        response.headers.setdefault("Pragma", "no-cache")
    return response


def add_security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
    app.after_request(no_store_when_signed_in)
