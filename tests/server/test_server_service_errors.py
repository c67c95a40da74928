"""One error family, one handler (issue 16): a service raises `server.errors.NotFound(...)` (or any
`ServiceError`) and the app answers it with its status, as JSON `{"error": ..., **details}` to the
API and as the error page to the web, with what the request wrote rolled back. A unique-constraint
race that reaches a view answers 409 with its area's sentence. No view needs a decorator."""

from __future__ import annotations

import pytest
from flask import Blueprint
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from server.db import db_session
from server.db.models import Classroom
from server.errors import (
    CONCURRENT_CHANGE,
    CONCURRENT_CHANGE_BY_PACKAGE,
    Conflict,
    NotFound,
    ServiceError,
    TooLarge,
)

probe = Blueprint("error_probe", __name__)


def _write_then(error: Exception) -> None:
    """Add a classroom (flushed, not committed), then fail: the handler must roll it back."""
    db_session.add(Classroom(name="written before the error"))
    db_session.flush()
    raise error


@probe.get("/api/probe/missing")
def api_missing() -> str:
    _write_then(NotFound("no such probe", wanted=[1, 2]))
    return "unreachable"


@probe.get("/api/probe/clash")
def api_clash() -> str:
    _write_then(Conflict("the probe clashes"))
    return "unreachable"


@probe.get("/probe/too-large")
def page_too_large() -> str:
    _write_then(TooLarge("the probe is over 1 MiB"))
    return "unreachable"


@probe.get("/api/probe/status")
def api_explicit_status() -> str:
    raise ServiceError("not ready yet", status=503)


@probe.get("/api/probe/race")
def api_race() -> str:
    _write_then(IntegrityError("INSERT ...", {}, Exception("Duplicate entry")))
    return "unreachable"


@pytest.fixture
def probed(app):
    app.register_blueprint(probe)
    return app.test_client()


def classrooms(app) -> int:
    from server.db import get_db

    with get_db(app).session() as session:
        return session.scalar(select(func.count()).select_from(Classroom))


def test_a_service_error_answers_the_api_as_json_with_its_status_and_details(app, probed):
    missing = probed.get("/api/probe/missing")
    assert missing.status_code == 404 and missing.mimetype == "application/json"
    assert missing.get_json() == {"error": "no such probe", "wanted": [1, 2]}
    clash = probed.get("/api/probe/clash")
    assert clash.status_code == 409 and clash.get_json() == {"error": "the probe clashes"}
    assert probed.get("/api/probe/status").status_code == 503
    assert classrooms(app) == 0  # what the failing requests wrote was rolled back


def test_a_service_error_answers_a_page_with_the_error_page(app, probed):
    page = probed.get("/probe/too-large", headers={"Accept": "text/html"})
    assert page.status_code == 413 and page.mimetype == "text/html"
    assert "the probe is over 1 MiB" in page.get_data(as_text=True)
    # The same error asked for as JSON (a bearer-less client that accepts JSON only) stays JSON.
    data = probed.get("/probe/too-large", headers={"Accept": "application/json"})
    assert data.status_code == 413 and data.get_json() == {"error": "the probe is over 1 MiB"}
    assert classrooms(app) == 0


def test_a_unique_constraint_race_answers_409_with_its_areas_sentence(app, probed):
    race = probed.get("/api/probe/race")
    assert race.status_code == 409 and race.get_json() == {"error": CONCURRENT_CHANGE}
    assert classrooms(app) == 0
    # A view of the album package says so in the album's words.
    api_race.__module__ = "server.album.api"
    try:
        assert probed.get("/api/probe/race").get_json() == {
            "error": CONCURRENT_CHANGE_BY_PACKAGE["server.album"]
        }
    finally:
        api_race.__module__ = __name__


def test_the_area_errors_are_the_one_family():
    """The names the areas raise are the server's classes, so one handler answers them all."""
    from server.album.errors import AlbumError
    from server.attendance.review import ReviewError
    from server.enrolment.errors import EnrolmentError, ModelsUnavailable
    from server.school.errors import Invalid, SchoolError

    for error in (AlbumError, ReviewError, EnrolmentError, SchoolError, Invalid, ModelsUnavailable):
        assert issubclass(error, ServiceError)
    assert ModelsUnavailable("models missing").status == 503
    assert ReviewError("already decided", 409).status == 409
