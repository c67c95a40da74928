"""Attendance reads do not write (issue 16): the session page (with its roll call form and unknown
faces), the session, unknown-face, audit and export endpoints, the day list, the course report, the
dashboard and a student's own page issue no INSERT, UPDATE or DELETE. What they show was written
when the sightings were stored or the session scheduled (`server.attendance.refresh`), so a session
scheduled after its room's camera saw students takes those sightings in the scheduling request.
Counted on the real statements the database receives (SQLAlchemy `before_cursor_execute`), on
SQLite and MariaDB."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from server.db import get_db
from server.db.models import LectureSession, Sighting, UnknownFaceReview
from tests.server.attendance_seed import START, seeded_world
from tests.server.conftest import PASSWORD, csrf_token_from

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


@contextmanager
def writes(app) -> Iterator[list[str]]:
    """The write statements the app's engine executes inside the block."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if WRITE.match(statement):
            seen.append(statement.split("\n")[0][:120])

    engine = get_db(app).engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def world(client, db, make_user, login):
    w = seeded_world(make_user, db, with_student=True)
    assert login(client, "owner@school.example", PASSWORD).status_code == 302
    return w


def reads(w) -> list[str]:
    return [
        f"/attendance/sessions/{w.session}",
        "/attendance?date=2026-03-02",
        f"/api/v1/sessions/{w.session}/attendance",
        f"/api/v1/sessions/{w.session}/unknown-faces",
        f"/api/v1/sessions/{w.session}/audit",
        f"/api/v1/sessions/{w.session}/export.csv",
        f"/api/v1/courses/{w.course}/export.csv",
        "/api/v1/attendance/sessions?date=2026-03-02",
        f"/courses/{w.course}",
        "/",
    ]


def test_attendance_pages_and_endpoints_issue_no_writes(app, client, db, world):
    w = world
    # Work a refresh would do, left undone (a sighting stored while ingest did not know the
    # session): a page that wrote would attach it and list its face.
    db.add(
        Sighting(
            event_id="pending-1", device_id=w.device, track_id="p", captured_at=START + timedelta(minutes=7)
        )
    )
    db.commit()
    with writes(app) as seen:
        for url in reads(w):
            response = client.get(url)
            assert response.status_code == 200, (url, response.get_data(as_text=True)[:300])
    assert seen == []
    # What they read was written when the sightings were stored: Ben's are the session's, and the
    # two unknown faces are listed for review.
    data = client.get(f"/api/v1/sessions/{w.session}/attendance").get_json()
    assert {row["student_number"]: row["status"] for row in data["students"]}["2026002"] == "late"
    assert data["unknown_faces_pending"] == 2
    db.expire_all()
    assert db.scalar(select(Sighting.session_id).where(Sighting.event_id == "pending-1")) is None


def test_a_students_own_page_issues_no_writes(app, client, world):
    client.post("/logout", data={"csrf_token": csrf_token_from(client.get("/").get_data(as_text=True))})
    client.post(
        "/login",
        data={
            "email": "ada@school.example",
            "password": PASSWORD,
            "csrf_token": csrf_token_from(client.get("/login").get_data(as_text=True)),
        },
    )
    with writes(app) as seen:
        for url in ("/me/attendance", "/api/v1/me/attendance"):
            response = client.get(url)
            assert response.status_code == 200, (url, response.get_data(as_text=True)[:300])
    assert seen == []


def test_a_session_scheduled_after_the_sightings_takes_them_when_it_is_created(app, client, db, world):
    """The room's camera saw students a week later, before anyone scheduled that lecture: the
    request that schedules it attaches them and lists their unknown face; reading it writes nothing."""
    w = world
    week = START + timedelta(days=14)
    db.add_all(
        [
            Sighting(event_id=f"late-{i}", device_id=w.device, student_id=w.s1, track_id="a", captured_at=t)
            for i, t in enumerate(week + timedelta(minutes=2 * n) for n in range(30))
        ]
        + [
            Sighting(event_id=f"stranger-{i}", device_id=w.device, track_id="z", captured_at=t)
            for i, t in enumerate(week + timedelta(minutes=2 * n) for n in range(5))
        ]
    )
    db.commit()
    token = csrf_token_from(client.get(f"/courses/{w.course}").get_data(as_text=True))
    created = client.post(
        f"/api/v1/courses/{w.course}/sessions",
        json={
            "classroom_id": w.room,
            "starts_at": week.isoformat(),
            "ends_at": (week + timedelta(hours=1)).isoformat(),
        },
        headers={"X-CSRFToken": token},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    session_id = created.get_json()["sessions"][0]["id"]
    db.expire_all()
    assert db.scalar(select(func.count()).where(Sighting.session_id == session_id)) == 35
    assert db.scalar(select(func.count()).where(UnknownFaceReview.session_id == session_id)) == 1
    with writes(app) as seen:
        page = client.get(f"/api/v1/sessions/{session_id}/attendance")
    assert seen == [] and page.status_code == 200
    assert db.get(LectureSession, session_id) is not None
