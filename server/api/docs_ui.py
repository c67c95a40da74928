"""The API's reference for people: Swagger UI at /api/docs, reading /api/v1/openapi.json.

Swagger UI's files come from the PyPI package `swagger-ui-bundle-v2` (the `swagger_ui_bundle` module,
Swagger UI 5.31.0, the first line to render OpenAPI 3.1; pinned in setup.cfg) and are served from the
installed package, never from a CDN (classrooms may be offline) and never copied into this repository.
Only the two files the page needs are served. Without the package the page still answers, with a
sentence saying what to install and a link to the raw document.

The page is public, like the document it shows. "Try it out" runs as the browser's signed-in user:
`static/api_docs.js` adds the session's CSRF token to state-changing requests, as the site's own
scripts do; API clients use a bearer token instead (the Authorize button).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, render_template, send_from_directory
from werkzeug import Response

bp = Blueprint("api_docs", __name__)

ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js"})
CACHE_SECONDS = 7 * 24 * 3600  # the files change only with the package version, which is in the URL


def swagger_ui() -> tuple[Path, str] | None:
    """(folder of Swagger UI's files, its version), or None when the package is not installed."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    folder = Path(str(swagger_ui_path))
    return folder, folder.name.removeprefix("swagger-ui-")


@bp.get("/api/docs")
def docs_page() -> tuple[str, int] | str:
    """Swagger UI on the OpenAPI document (or what to install, with a 503, when it is missing)."""
    found = swagger_ui()
    if found is None:
        return render_template("api/docs.html", version=None), 503
    return render_template("api/docs.html", version=found[1])


@bp.get("/api/docs/<version>/<name>")
def docs_asset(version: str, name: str) -> Response:
    """One of Swagger UI's files, from the installed package (404 for anything else)."""
    found = swagger_ui()
    if found is None or version != found[1] or name not in ASSETS:
        abort(404, "no such file of the API documentation page")
    return send_from_directory(found[0], name, max_age=CACHE_SECONDS)
