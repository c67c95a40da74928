"""Authorization of school management: an instructor cannot read or change another instructor's
course, roster, sessions or students through the API or the pages (every route is tried with the
other instructor's ids), administrators' routes refuse instructors, album users and students are
refused everywhere, anonymous callers get 401 (API) or the sign-in page."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from server.db.models import AuditLog, Classroom, Course, Device, LectureSession, Student
from tests.server.conftest import PASSWORD, csrf_token_from


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(db, make_user, make_token):
    """Ada's and Bob's courses, each with a student and a session, a room and a device."""
    ada = make_user("instructor", email="ada@school.example")
    bob = make_user("instructor", email="bob@school.example")
    room = Classroom(name="R1")
    device = Device(device_id="cam-1", name="cam", classroom=room)
    ada_student = Student(student_number="A-1", name="Ann")
    bob_student = Student(student_number="B-1", name="Ben")
    mine = Course(code="A101", title="Ada's course", instructor_id=ada.id, students=[ada_student])
    theirs = Course(code="B101", title="Bob's course", instructor_id=bob.id, students=[bob_student])
    start = datetime(2026, 3, 2, 0, tzinfo=timezone.utc)
    my_session = LectureSession(course=mine, classroom=room, starts_at=start, ends_at=start.replace(hour=1))
    their_session = LectureSession(
        course=theirs, classroom=room, starts_at=start.replace(hour=2), ends_at=start.replace(hour=3)
    )
    db.add_all([device, mine, theirs, my_session, their_session])
    db.commit()
    return {
        "ada": ada,
        "ada_token": make_token(ada),
        "mine": mine.id,
        "theirs": theirs.id,
        "their_student": bob_student.id,
        "their_session": their_session.id,
        "room": room.id,
        "device": device.id,
    }


def instructor_api_routes(w) -> list[tuple[str, str, dict | None]]:
    """Every instructor-level endpoint, aimed at Bob's things."""
    c, s, st = w["theirs"], w["their_session"], w["their_student"]
    numbers = {"student_numbers": ["A-1"]}
    session = {"classroom_id": w["room"], "starts_at": "2026-04-01T09:00Z", "ends_at": "2026-04-01T10:00Z"}
    return [
        ("GET", f"/api/v1/courses/{c}", None),
        ("PATCH", f"/api/v1/courses/{c}", {"title": "Taken over"}),
        ("GET", f"/api/v1/courses/{c}/roster", None),
        ("POST", f"/api/v1/courses/{c}/roster", numbers),
        ("DELETE", f"/api/v1/courses/{c}/roster", {"student_numbers": ["B-1"]}),
        ("GET", f"/api/v1/courses/{c}/sessions", None),
        ("POST", f"/api/v1/courses/{c}/sessions", session),
        ("GET", f"/api/v1/sessions/{s}", None),
        ("DELETE", f"/api/v1/sessions/{s}", None),
        ("GET", f"/api/v1/students/{st}", None),
        ("PATCH", f"/api/v1/students/{st}", {"name": "Renamed"}),
        ("DELETE", f"/api/v1/students/{st}", None),
        ("POST", "/api/v1/students", {"student_number": "NEW-1", "name": "New", "course_id": c}),
    ]


def admin_api_routes(w) -> list[tuple[str, str, dict | None]]:
    return [
        ("POST", "/api/v1/courses", {"code": "X1", "title": "X"}),
        ("DELETE", f"/api/v1/courses/{w['theirs']}", None),
        ("POST", "/api/v1/classrooms", {"name": "R9"}),
        ("PATCH", f"/api/v1/classrooms/{w['room']}", {"name": "R9"}),
        ("GET", "/api/v1/devices", None),
        ("POST", "/api/v1/devices", {"device_id": "cam-9"}),
        ("PATCH", f"/api/v1/devices/{w['device']}", {"name": "mine now"}),
    ]


def listing_api_routes() -> list[tuple[str, str, dict | None]]:
    return [
        ("GET", "/api/v1/courses", None),
        ("GET", "/api/v1/students", None),
        ("GET", "/api/v1/classrooms", None),
    ]


def instructor_page_routes(w) -> list[tuple[str, str, dict]]:
    c, s, st = w["theirs"], w["their_session"], w["their_student"]
    return [
        ("GET", f"/courses/{c}", {}),
        ("POST", f"/courses/{c}/edit", {"title": "Taken over"}),
        ("POST", f"/courses/{c}/roster/add", {"student_numbers": "A-1"}),
        ("POST", f"/courses/{c}/roster/remove", {"student_number": "B-1"}),
        ("POST", f"/courses/{c}/students", {"student_number": "NEW-1", "name": "New"}),
        (
            "POST",
            f"/courses/{c}/sessions",
            {
                "date": "2026-04-01",
                "start_time": "09:00",
                "end_time": "10:00",
                "timezone": "UTC",
                "classroom_id": str(w["room"]),
            },
        ),
        (
            "POST",
            f"/courses/{c}/sessions/weekly",
            {
                "weekday": "monday",
                "start_time": "09:00",
                "duration_minutes": "60",
                "first_date": "2026-04-01",
                "last_date": "2026-04-30",
                "timezone": "UTC",
                "classroom_id": str(w["room"]),
            },
        ),
        ("POST", f"/courses/{c}/sessions/{s}/delete", {}),
        # Bob's session through Ada's own course id.
        ("POST", f"/courses/{w['mine']}/sessions/{s}/delete", {}),
        ("GET", f"/students/{st}", {}),
        ("POST", f"/students/{st}/edit", {"student_number": "B-1", "name": "Renamed"}),
        ("POST", f"/students/{st}/delete", {}),
        ("POST", "/students", {"student_number": "NEW-1", "name": "New", "course_id": str(c)}),
    ]


def admin_page_routes(w) -> list[tuple[str, str, dict]]:
    return [
        ("POST", "/courses", {"code": "X1", "title": "X"}),
        ("POST", f"/courses/{w['theirs']}/delete", {}),
        ("GET", "/admin/classrooms", {}),
        ("POST", "/admin/classrooms", {"name": "R9"}),
        ("POST", f"/admin/classrooms/{w['room']}", {"name": "R9"}),
        ("POST", "/admin/devices", {"device_id": "cam-9"}),
        ("POST", f"/admin/devices/{w['device']}", {"name": "mine now", "classroom_id": ""}),
    ]


def listing_page_routes() -> list[tuple[str, str, dict]]:
    return [("GET", "/courses", {}), ("GET", "/students", {})]


def snapshot(db, w) -> tuple:
    """Everything of Bob's (and the shared room and device) that an attempt could change."""
    db.expire_all()
    course = db.get(Course, w["theirs"])
    return (
        course.title,
        course.code,
        [s.student_number for s in course.students],
        [(s.id, s.starts_at) for s in course.sessions],
        db.get(Student, w["their_student"]).name,
        db.scalar(select(func.count()).select_from(Student)),
        db.get(Classroom, w["room"]).name,
        db.get(Device, w["device"]).name,
        db.scalar(select(func.count()).select_from(AuditLog)),
    )


def test_instructor_cannot_reach_another_instructors_things_through_the_api(client, db, world):
    before = snapshot(db, world)
    headers = bearer(world["ada_token"])
    for method, url, body in instructor_api_routes(world):
        response = client.open(url, method=method, json=body, headers=headers)
        assert response.status_code == 404, (method, url, response.get_json())
        assert "error" in response.get_json()
    for method, url, body in admin_api_routes(world):
        response = client.open(url, method=method, json=body, headers=headers)
        assert response.status_code == 403, (method, url)
    assert snapshot(db, world) == before
    assert [c["code"] for c in client.get("/api/v1/courses", headers=headers).get_json()] == ["A101"]
    assert [s["student_number"] for s in client.get("/api/v1/students", headers=headers).get_json()] == [
        "A-1"
    ]
    assert [s["student_number"] for s in client.get("/api/v1/students?q=B", headers=headers).get_json()] == []


def test_instructor_cannot_reach_another_instructors_things_through_the_pages(client, db, world, login):
    before = snapshot(db, world)
    login(client, "ada@school.example", PASSWORD)
    listing = client.get("/courses").get_data(as_text=True)
    assert "A101" in listing and "B101" not in listing
    students = client.get("/students").get_data(as_text=True)
    assert "A-1" in students and "B-1" not in students
    token = csrf_token_from(listing)
    for method, url, form in instructor_page_routes(world):
        response = client.open(url, method=method, data={**form, "csrf_token": token})
        assert response.status_code == 404, (method, url)
        page = response.get_data(as_text=True)
        assert "Ben" not in page and "Bob's course" not in page, url  # nothing of Bob's is shown
    for method, url, form in admin_page_routes(world):
        response = client.open(url, method=method, data={**form, "csrf_token": token})
        assert response.status_code == 403, (method, url)
    assert snapshot(db, world) == before


@pytest.mark.parametrize("role", ["album_user", "student"])
def test_accounts_without_the_instructor_role_are_refused_everywhere(
    client, db, world, make_user, make_token, login, role
):
    user = make_user(role, email=f"{role}@school.example")
    headers = bearer(make_token(user))
    before = snapshot(db, world)
    routes = instructor_api_routes(world) + admin_api_routes(world) + listing_api_routes()
    routes.append(("GET", f"/api/v1/courses/{world['mine']}", None))
    for method, url, body in routes:
        response = client.open(url, method=method, json=body, headers=headers)
        assert response.status_code == 403, (method, url)
    login(client, f"{role}@school.example", PASSWORD)
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    for method, url, form in instructor_page_routes(world) + admin_page_routes(world) + listing_page_routes():
        response = client.open(url, method=method, data={**form, "csrf_token": token})
        assert response.status_code == 403, (method, url)
    home = client.get("/").get_data(as_text=True)
    assert "/courses" not in home  # no link to what they cannot open
    assert snapshot(db, world) == before


def test_anonymous_callers_are_refused(client, db, world):
    before = snapshot(db, world)
    for method, url, body in instructor_api_routes(world) + admin_api_routes(world) + listing_api_routes():
        response = client.open(url, method=method, json=body)
        # A change without a session is refused by the CSRF check before authentication is asked.
        assert response.status_code == (401 if method == "GET" else 400), (method, url)
        assert "error" in response.get_json()
    for method, url, _form in (
        instructor_page_routes(world) + admin_page_routes(world) + listing_page_routes()
    ):
        response = client.open(url, method=method)
        if method == "GET":
            assert response.status_code == 302 and "/login" in response.headers["Location"], url
        else:
            assert response.status_code in (302, 400), url  # sign-in redirect, or the CSRF refusal first
    assert snapshot(db, world) == before


def test_session_authenticated_api_calls_need_the_csrf_header(client, db, world, login):
    login(client, "ada@school.example", PASSWORD)
    url = f"/api/v1/courses/{world['mine']}"
    assert client.patch(url, json={"title": "No token"}).status_code == 400
    token = csrf_token_from(client.get("/courses").get_data(as_text=True))
    response = client.patch(url, json={"title": "With token"}, headers={"X-CSRFToken": token})
    assert response.status_code == 200 and response.get_json()["title"] == "With token"
