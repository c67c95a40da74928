"""The live roster state of a running session through the JSON API and the session page (SQLite and
MariaDB): "in", "out of the room since hh:mm" (last sighting more than ATTENDANCE_OUT_AFTER_SECONDS
ago) and "not seen", null outside the session's time."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from server.db import utcnow
from server.settings import update_settings
from tests.server.conftest import PASSWORD
from tests.server.live_seed import live_world


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
    update_settings(app, ATTENDANCE_OUT_AFTER_SECONDS=600)  # Cho's 5 minutes are now within it
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
