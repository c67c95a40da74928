"""Authorization of every attendance route, API and web: another instructor's ids answer 404 and
change nothing, anonymous callers are refused (401 / sign-in redirect), students get 403,
administrators reach every course."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from server.db.enums import ReviewDecision
from server.db.models import AttendanceOverride, AuditLog, LectureSession, Sighting, UnknownFaceReview
from tests.server.attendance_seed import seeded_world
from tests.server.conftest import PASSWORD, csrf_token_from


@pytest.fixture
def world(client, db, make_user, make_token):
    w = seeded_world(make_user, db)
    owner, other = w.owner, w.other
    w.owner_h = {"Authorization": f"Bearer {make_token(owner)}"}
    w.other_h = {"Authorization": f"Bearer {make_token(other)}"}
    faces = client.get(f"/api/v1/sessions/{w.session}/unknown-faces", headers=w.owner_h).get_json()
    w.face = faces[0]["id"]
    w.thumbnail = db.scalar(
        select(Sighting.id).where(Sighting.student_id == w.s1, Sighting.thumbnail.is_not(None))
    )
    return w


def api_routes(w) -> list[tuple[str, str, dict | None]]:
    """Every attendance API route that takes an id, with a body that would be valid for the owner."""
    s = w.session
    return [
        ("GET", f"/api/v1/sessions/{s}/attendance", None),
        ("POST", f"/api/v1/sessions/{s}/overrides", {"student_id": w.s4, "status": "excused", "reason": "x"}),
        ("POST", f"/api/v1/sessions/{s}/rollcall", {"entries": [{"student_id": w.s4, "status": "present"}]}),
        ("POST", f"/api/v1/sessions/{s}/confirm", None),
        ("GET", f"/api/v1/sessions/{s}/unknown-faces", None),
        ("POST", f"/api/v1/unknown-faces/{w.face}", {"decision": "assigned", "student_id": w.s4}),
        ("GET", f"/api/v1/sessions/{s}/audit", None),
        ("GET", f"/api/v1/sessions/{s}/export.csv", None),
        ("GET", f"/api/v1/courses/{w.course}/export.csv", None),
        ("GET", f"/api/v1/sightings/{w.thumbnail}/thumbnail", None),
    ]


def web_routes(w) -> list[tuple[str, str, dict | None]]:
    s = w.session
    return [
        ("GET", f"/attendance/sessions/{s}", None),
        (
            "POST",
            f"/attendance/sessions/{s}/overrides",
            {"student_id": w.s4, "status": "excused", "reason": "x"},
        ),
        ("POST", f"/attendance/sessions/{s}/rollcall", {"present": [w.s4]}),
        ("POST", f"/attendance/sessions/{s}/confirm", {}),
        ("POST", f"/attendance/unknown-faces/{w.face}", {"decision": "not_a_student"}),
    ]


def nothing_changed(db, w) -> None:
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(AttendanceOverride)) == 0
    assert db.scalar(select(func.count()).select_from(AuditLog)) == 0
    assert db.get(LectureSession, w.session).status.value == "scheduled"
    assert db.get(UnknownFaceReview, w.face).decision == ReviewDecision.PENDING
    assert db.scalar(select(func.count()).where(Sighting.student_id == w.s4)) == 0


def call(client, method, url, body, headers=None, form=False, token=None):
    if method == "GET":
        return client.get(url, headers=headers)
    if form:
        return client.post(url, data={**(body or {}), "csrf_token": token}, headers=headers)
    return (
        client.post(url, json=body, headers=headers)
        if body is not None
        else client.post(url, headers=headers)
    )


def test_another_instructor_gets_404_everywhere_and_changes_nothing(client, db, world, login):
    w = world
    for method, url, body in api_routes(w):
        response = call(client, method, url, body, headers=w.other_h)
        assert response.status_code == 404, (method, url, response.status_code)
        assert "error" in response.get_json()
    assert login(client, "other@school.example", PASSWORD).status_code == 302
    token = csrf_token_from(client.get("/attendance").get_data(as_text=True))
    for method, url, body in web_routes(w):
        response = call(client, method, url, body, form=True, token=token)
        assert response.status_code == 404, (method, url, response.status_code)
    nothing_changed(db, w)
    # the other instructor's own day list does not show the session
    page = client.get("/attendance?date=2026-03-02").get_data(as_text=True)
    assert "CS202" in page and "CS101" not in page


def test_anonymous_is_refused(client, db, world):
    w = world
    token = csrf_token_from(client.get("/login").get_data(as_text=True))  # so that CSRF is not the refusal
    for method, url, body in [
        *api_routes(w),
        ("GET", "/api/v1/attendance/sessions", None),
        ("GET", "/api/v1/me/attendance", None),
    ]:
        response = call(client, method, url, body, headers={"X-CSRFToken": token})
        assert response.status_code == 401, (method, url, response.status_code)
    for method, url, body in [*web_routes(w), ("GET", "/attendance", None), ("GET", "/me/attendance", None)]:
        response = call(client, method, url, body, form=True, token=token)
        assert response.status_code == 302 and "/login" in response.headers["Location"], (method, url)
    nothing_changed(db, w)


def test_students_get_403_on_instructor_routes(client, db, world, make_user, make_token):
    w = world
    headers = {"Authorization": f"Bearer {make_token(make_user('student', email='s@school.example'))}"}
    for method, url, body in api_routes(w):
        assert call(client, method, url, body, headers=headers).status_code == 403, (method, url)
    nothing_changed(db, w)


def test_administrators_reach_every_course(client, world, make_user, make_token):
    w = world
    headers = {"Authorization": f"Bearer {make_token(make_user('admin', email='root@school.example'))}"}
    for method, url, _body in api_routes(w):
        if method == "GET":
            assert client.get(url, headers=headers).status_code == 200, url
    assert client.get(f"/api/v1/sessions/{w.other_session}/attendance", headers=headers).status_code == 200
