"""The live roster state of a running session through the JSON API and the session page (SQLite and
MariaDB): "in", "out of the room since hh:mm" (last sighting more than ATTENDANCE_OUT_AFTER_SECONDS
ago) and "not seen", null outside the session's time."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from server.db import utcnow
from server.db.models import Classroom, Course, Device, LectureSession, Sighting, Student
from tests.server.conftest import PASSWORD


def heartbeat(first: datetime, last: datetime, step: timedelta = timedelta(seconds=30)) -> list[datetime]:
    out, t = [], first
    while t <= last:
        out.append(t)
        t += step
    return out


def live_world(db, owner, now: datetime) -> SimpleNamespace:
    """A session running now (started 30 min ago) and one that ended yesterday, same students:

    Ada seen every 30 s until 20 s ago (in), Cho until 5 min ago (out), Dan never (not seen)."""
    room = Classroom(name="R-live")
    cam = Device(device_id="cam-live", name="Live camera", classroom=room)
    ada = Student(student_number="L001", name="Ada Live")
    cho = Student(student_number="L003", name="Cho Live")
    dan = Student(student_number="L004", name="Dan Live")
    course = Course(code="LIVE1", title="Live roster", instructor=owner, students=[ada, cho, dan])
    start = now - timedelta(minutes=30)
    running = LectureSession(
        course=course, classroom=room, starts_at=start, ends_at=now + timedelta(minutes=30), period_minutes=60
    )
    ended = LectureSession(
        course=course,
        classroom=room,
        starts_at=start - timedelta(days=1),
        ends_at=now - timedelta(days=1),
        period_minutes=60,
    )
    db.add_all([room, cam, course, running, ended])
    db.flush()
    rows = []
    for session, day in ((running, timedelta(0)), (ended, timedelta(days=1))):
        for student, last in ((ada, now - timedelta(seconds=20)), (cho, now - timedelta(minutes=5))):
            for t in heartbeat(start - day, last - day):
                rows.append(
                    Sighting(
                        event_id=f"{session.id}-{student.student_number}-{t:%H%M%S}",
                        device=cam,
                        session=session,
                        student=student,
                        track_id="t1",
                        captured_at=t,
                        received_at=t + timedelta(seconds=1),
                        score=0.8,
                        quality=0.9,
                    )
                )
    db.add_all(rows)
    db.commit()
    return SimpleNamespace(
        running=running.id,
        ended=ended.id,
        ada=ada.id,
        cho=cho.id,
        dan=dan.id,
        start=start,
        cho_last=now - timedelta(minutes=5),
    )


@pytest.fixture
def world(db, make_user, make_token):
    owner = make_user("instructor", email="owner@school.example", display_name="Olga Owner")
    now = utcnow().replace(microsecond=0)
    w = live_world(db, owner, now)
    w.h = {"Authorization": f"Bearer {make_token(owner)}"}
    return w


def rows(client, w, session_id: int) -> dict[int, dict]:
    response = client.get(f"/api/v1/sessions/{session_id}/attendance", headers=w.h)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {row["student_id"]: row for row in response.get_json()["students"]}


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def test_live_state_in_the_api_while_the_session_runs(client, world):
    w = world
    students = rows(client, w, w.running)
    assert students[w.ada]["live"] == {"state": "in", "since": iso(w.start)}
    assert students[w.cho]["live"] == {"state": "out", "since": iso(w.cho_last)}
    assert students[w.dan]["live"] == {"state": "not_seen", "since": None}


def test_no_live_state_after_the_session(client, world):
    w = world
    students = rows(client, w, w.ended)
    assert {sid: row["live"] for sid, row in students.items()} == {w.ada: None, w.cho: None, w.dan: None}
    assert students[w.ada]["evidence"]["sightings"] > 0  # the same sightings, only no live state


def test_the_threshold_is_a_setting(client, app, world):
    w = world
    app.config["ATTENDANCE_OUT_AFTER_SECONDS"] = 600  # Cho's 5 minutes are now within it
    assert rows(client, w, w.running)[w.cho]["live"] == {"state": "in", "since": iso(w.start)}


def test_session_page_shows_out_of_the_room_since(client, world, login):
    w = world
    assert login(client, "owner@school.example", PASSWORD).status_code == 302
    html = client.get(f"/attendance/sessions/{w.running}").get_data(as_text=True)
    assert now_cells(html) == {
        w.ada: f"in the room since {w.start:%H:%M}",
        w.cho: f"out of the room since {w.cho_last:%H:%M}",
        w.dan: "not seen yet",
    }
    ended = client.get(f"/attendance/sessions/{w.ended}").get_data(as_text=True)
    assert now_cells(ended) == {w.ada: "", w.cho: "", w.dan: ""}


def now_cells(html: str) -> dict[int, str]:
    """Student id -> the text of their roster row's "Now" cell."""
    cells = re.findall(r'<tr data-student="(\d+)">.*?<td class="now">(.*?)</td>', html, re.S)
    return {int(sid): re.sub(r"<[^>]+>", "", cell).strip() for sid, cell in cells}
