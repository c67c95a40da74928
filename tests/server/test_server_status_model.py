"""One status model (issue 15): the instructor's corrections, for the whole session or one period,
give the same session and period statuses in the engine, the API, the session page, the session CSV
and the course CSV (SQLite and MariaDB).

Each case posts overrides in order through the API to one student of the seeded classroom
(tests/server/attendance_seed.py: Cho is present, absent / left_early; Ben late, present / late) and
states the statuses engine rule 9 must give: a session correction fills every period that has no
correction of its own (late: P1 late; left early: P2 left early; present, absent, excused: all of
them), a later period correction stands on top of it, one made before it is retired, and the
session status is always rule 6 over the periods.
"""

from __future__ import annotations

import csv
import io
import re

import pytest

from server.attendance.service import compute_session
from server.db import get_db
from server.db.models import LectureSession
from tests.server.attendance_seed import seeded_world
from tests.server.conftest import PASSWORD

CASES = {
    # the case: "late" for the whole session left P1 absent and the CSV said present
    "cho_session_late": ("s3", [(None, "late")], "late", ["late", "present"]),
    "cho_session_absent": ("s3", [(None, "absent")], "absent", ["absent", "absent"]),
    "cho_session_excused": ("s3", [(None, "excused")], "excused", ["excused", "excused"]),
    "cho_session_left_early": ("s3", [(None, "left_early")], "left_early", ["present", "left_early"]),
    "cho_session_late_and_left_early": (
        "s3",
        [(None, "late_and_left_early")],
        "late_and_left_early",
        ["late", "left_early"],
    ),
    "cho_period_present": ("s3", [(1, "present")], "present", ["present", "present"]),
    "cho_period_excused": ("s3", [(1, "excused")], "present", ["present", "excused"]),
    "cho_session_then_period": ("s3", [(None, "late"), (0, "absent")], "late", ["absent", "present"]),
    "cho_period_then_session": ("s3", [(0, "absent"), (None, "present")], "present", ["present", "present"]),
    "ben_session_present": ("s2", [(None, "present")], "present", ["present", "present"]),
    "ben_period_absent": ("s2", [(0, "absent")], "late", ["absent", "present"]),
}


@pytest.fixture
def world(client, db, make_user, make_token, login):
    w = seeded_world(make_user, db)
    owner = w.owner
    w.h = {"Authorization": f"Bearer {make_token(owner)}"}
    assert login(client, "owner@school.example", PASSWORD).status_code == 302
    return w


def csv_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"), newline="")))


def page_statuses(html: str, student_id: int) -> list[str]:
    """The badges of the student's roster row: the session's, then one per period."""
    row = re.search(rf'<tr data-student="{student_id}">(.*?)</tr>', html, re.S)
    assert row, f"no roster row for student {student_id}"
    return re.findall(r'class="badge s-(\w+)', row.group(1))


@pytest.mark.parametrize(("who", "overrides", "session", "periods"), CASES.values(), ids=CASES.keys())
def test_corrections_give_one_status_everywhere(app, client, world, who, overrides, session, periods):
    w = world
    sid = getattr(w, who)
    for period, status in overrides:
        answer = client.post(
            f"/api/v1/sessions/{w.session}/overrides",
            json={"student_id": sid, "status": status, "reason": f"case {status}", "period": period},
            headers=w.h,
        )
        assert answer.status_code == 201, answer.get_data(as_text=True)
    expected = (session, periods)

    # The API first: reading a session attaches the sightings ingest left without one (Ben's).
    api = client.get(f"/api/v1/sessions/{w.session}/attendance", headers=w.h).get_json()
    mine = next(r for r in api["students"] if r["student_id"] == sid)
    assert (mine["status"], [p["status"] for p in mine["periods"]]) == expected
    assert mine["source"] == "manual"

    with app.app_context(), get_db(app).session() as db:
        row = compute_session(db, db.get(LectureSession, w.session), app.config).result.student(sid)
        assert (row.status.value, [p.status.value for p in row.periods]) == expected
        assert row.source.value == "manual"

    number = w.numbers[sid]
    for url in (f"/api/v1/sessions/{w.session}/export.csv", f"/api/v1/courses/{w.course}/export.csv"):
        rows = [
            r
            for r in csv_rows(client.get(url, headers=w.h))
            if r["student_number"] == number and r["session_start"] == "2026-03-02T09:00:00Z"
        ]
        assert len(rows) == 1, url
        assert (rows[0]["status"], [rows[0]["period_1"], rows[0]["period_2"]]) == expected, url
        assert rows[0]["source"] == "manual", url

    html = client.get(f"/attendance/sessions/{w.session}").get_data(as_text=True)
    assert page_statuses(html, sid) == [session, *periods]
