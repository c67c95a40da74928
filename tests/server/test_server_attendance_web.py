"""The instructor's review pages and the student's own page, through the Flask test client on
SQLite and MariaDB: forms with CSRF, post/redirect/get, visible messages for bad input."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from server.db import utcnow
from server.db.models import AttendanceOverride, AuditLog, LectureSession
from tests.server.attendance_seed import seeded_world
from tests.server.conftest import PASSWORD, csrf_token_from


@pytest.fixture
def world(client, db, make_user, login):
    w = seeded_world(make_user, db, with_student=True)
    assert login(client, "owner@school.example", PASSWORD).status_code == 302
    return w


def page(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def row_of(html: str, student_id: int) -> str:
    match = re.search(rf'<tr data-student="{student_id}">(.*?)</tr>', html, re.S)
    assert match, f"no roster row for student {student_id}"
    return match.group(1)


def count(db, model) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model))


def test_day_list_shows_my_sessions_and_today_by_default(client, db, world):
    w = world
    html = page(client, "/attendance?date=2026-03-02")
    assert f'href="/attendance/sessions/{w.session}"' in html
    assert "CS101" in html and "CS202" not in html and "R-101" in html
    assert f"/api/v1/courses/{w.course}/export.csv" in html

    now = utcnow()
    db.add(
        LectureSession(
            course_id=w.course,
            starts_at=now - timedelta(minutes=5),
            ends_at=now + timedelta(minutes=55),
            period_minutes=60,
        )
    )
    db.commit()
    today = page(client, "/attendance")
    assert "(today)" in today and "CS101" in today and ">now<" in today

    bad = page(client, "/attendance?date=yesterday", 400)
    assert "YYYY-MM-DD" in bad


def test_session_page_shows_roster_evidence_and_sections(client, world):
    w = world
    response = client.get(f"/attendance/sessions/{w.session}")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html)), "no inline scripts (CSP)"
    assert '<script src="/static/attendance.js"' in html
    assert f'data-attendance-url="/api/v1/sessions/{w.session}/attendance"' in html

    ada, ben, cho, dan = (row_of(html, sid) for sid in (w.s1, w.s2, w.s3, w.s4))
    assert (
        "Ada Lovelace" in ada and "s-present" in ada and "09:00" in ada and "11:00" in ada and ">61<" in ada
    )
    assert '<img src="/api/v1/sightings/' in ada and "<img" not in ben
    assert "badge s-late" in ben and "09:25" in ben
    assert re.search(r"badge s-left_early.*badge s-present.*badge s-absent", cho, re.S)
    assert "badge s-absent" in dan and ">0<" in dan
    assert "2 to review" in html and "track u1" in html
    assert "No changes yet" in html
    assert 'id="rollcall-form"' in html and html.count('name="present"') == 4


def test_override_form_is_audited_and_shown(client, db, world):
    w = world
    html = page(client, f"/attendance/sessions/{w.session}")
    token = csrf_token_from(html)
    response = client.post(
        f"/attendance/sessions/{w.session}/overrides",
        data={
            "csrf_token": token,
            "student_id": w.s4,
            "period": "",
            "status": "excused",
            "reason": "Doctor's note",
        },
    )
    assert response.status_code == 303
    html = page(client, response.headers["Location"])
    assert "Dan Ivers: excused for the session" in html
    assert "badge s-excused manual" in row_of(html, w.s4)
    audit = html[html.index('id="audit-log"') :]
    assert "Olga Owner" in audit and "Dan Ivers (2026004) · session" in audit
    assert "absent → excused" in audit and "Doctor&#39;s note" in audit

    response = client.post(
        f"/attendance/sessions/{w.session}/overrides",
        data={"csrf_token": token, "student_id": w.s3, "period": "1", "status": "present", "reason": "Lab"},
    )
    assert response.status_code == 303
    html = page(client, f"/attendance/sessions/{w.session}")
    assert "Cho Min-jun (2026003) · period 2" in html and "absent → present" in html
    assert count(db, AttendanceOverride) == 2 and count(db, AuditLog) == 2


def test_override_form_errors_are_shown_and_write_nothing(client, db, world):
    w = world
    token = csrf_token_from(page(client, f"/attendance/sessions/{w.session}"))
    cases = [
        ({"student_id": w.s4, "status": "excused", "reason": ""}, "reason"),
        ({"student_id": w.s4, "status": "asleep", "reason": "x"}, "must be one of"),
        ({"student_id": w.s5, "status": "excused", "reason": "x"}, "not on the roster"),
        ({"student_id": "abc", "status": "excused", "reason": "x"}, "student_id"),
        ({"student_id": w.s4, "status": "excused", "reason": "x", "period": "7"}, "period"),
    ]
    for data, message in cases:
        response = client.post(
            f"/attendance/sessions/{w.session}/overrides", data={"csrf_token": token, **data}
        )
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        assert 'id="form-error"' in html and message in html, message
    assert count(db, AttendanceOverride) == 0 and count(db, AuditLog) == 0


def test_roll_call_form_is_one_request(client, db, world):
    w = world
    token = csrf_token_from(page(client, f"/attendance/sessions/{w.session}"))
    # Ada and Ben stay ticked (already counted), Cho is unticked (-> absent), Dan ticked (-> present)
    response = client.post(
        f"/attendance/sessions/{w.session}/rollcall",
        data={"csrf_token": token, "present": [w.s1, w.s2, w.s4], "reason": ""},
    )
    assert response.status_code == 303
    html = page(client, response.headers["Location"])
    assert "Roll call saved: 2 students changed." in html
    assert "badge s-absent manual" in row_of(html, w.s3) and "badge s-present manual" in row_of(html, w.s4)
    assert "badge s-late" in row_of(html, w.s2)  # ticked and late stays late
    assert count(db, AttendanceOverride) == 2 and count(db, AuditLog) == 1
    assert "Manual roll call" in html and "Cho Min-jun: left early → absent" in html

    bad = client.post(
        f"/attendance/sessions/{w.session}/rollcall", data={"csrf_token": token, "present": [w.s5]}
    )
    assert bad.status_code == 400 and "not on the roster" in bad.get_data(as_text=True)
    assert count(db, AttendanceOverride) == 2 and count(db, AuditLog) == 1


def test_confirm_and_unknown_face_forms(client, db, world):
    w = world
    html = page(client, f"/attendance/sessions/{w.session}")
    token = csrf_token_from(html)
    faces = re.findall(r'data-face="(\d+)"', html)
    assert len(faces) == 2

    response = client.post(f"/attendance/sessions/{w.session}/confirm", data={"csrf_token": token})
    assert response.status_code == 303
    html = page(client, response.headers["Location"])
    assert "Confirmed by Olga Owner" in html and "Confirm again" in html

    assign = client.post(
        f"/attendance/unknown-faces/{faces[0]}",
        data={"csrf_token": token, "decision": "assigned", "student_id": w.s4},
    )
    assert assign.status_code == 303
    html = page(client, assign.headers["Location"])
    assert "Face assigned to Dan Ivers: 26 sightings now count for them." in html
    assert "badge s-left_early" in row_of(html, w.s4)
    dismiss = client.post(
        f"/attendance/unknown-faces/{faces[1]}", data={"csrf_token": token, "decision": "not_a_student"}
    )
    assert dismiss.status_code == 303
    html = page(client, f"/attendance/sessions/{w.session}")
    assert "0 to review" in html and "Assigned to <strong>Dan Ivers</strong>" in html
    assert "assigned to Dan Ivers (2026004), 26 sightings (after confirmation)" in html

    again = client.post(
        f"/attendance/unknown-faces/{faces[0]}", data={"csrf_token": token, "decision": "not_a_student"}
    )
    assert again.status_code == 409 and "already assigned" in again.get_data(as_text=True)


def test_student_page_shows_only_their_own_rows(client, world, login, make_user):
    client.post("/logout", data={"csrf_token": csrf_token_from(page(client, "/"))})
    assert login(client, "ada@school.example", PASSWORD).status_code == 302
    home = page(client, "/")
    assert 'href="/me/attendance"' in home and 'href="/attendance"' not in home
    html = page(client, "/me/attendance")
    assert "Ada Lovelace" in html and "2026001" in html and "CS101" in html
    assert html.count("data-session=") == 2
    assert "Ben Okafor" not in html and "Cho Min-jun" not in html and "CS202" not in html
    assert client.get(f"/attendance/sessions/{world.session}").status_code == 403

    make_user("student", email="nobody@school.example")
    client.post("/logout", data={"csrf_token": csrf_token_from(html)})
    login(client, "nobody@school.example", PASSWORD)
    assert "No student record is linked" in page(client, "/me/attendance", 404)
