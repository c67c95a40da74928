"""The lecture schedule: sessions stored in UTC from offset-carrying times, weekly series through
zoneinfo (across a DST change), the one-session-per-room rule, deletion, and which session a
device's classroom holds at an instant. SQLite and MariaDB."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from server.db.models import AuditLog, Classroom, Course, Device, LectureSession, Sighting
from server.school import current_session_for_device, next_session_for_device


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def setup(db, make_user, make_token):
    """Ada teaches CS101, Bob teaches MA201; rooms R1 and R2."""
    ada = make_user("instructor", email="ada@school.example")
    bob = make_user("instructor", email="bob@school.example")
    mine = Course(code="CS101", title="Intro", instructor_id=ada.id)
    theirs = Course(code="MA201", title="Algebra", instructor_id=bob.id)
    r1, r2 = Classroom(name="R1"), Classroom(name="R2")
    db.add_all([mine, theirs, r1, r2])
    db.commit()
    return {
        "ada": bearer(make_token(ada)),
        "bob": bearer(make_token(bob)),
        "mine": mine.id,
        "theirs": theirs.id,
        "r1": r1.id,
        "r2": r2.id,
    }


def session_count(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(LectureSession))


def post_sessions(client, setup, body, who="ada", course="mine"):
    return client.post(f"/api/v1/courses/{setup[course]}/sessions", json=body, headers=setup[who])


def test_one_session_is_stored_in_utc_with_hourly_periods_by_default(client, db, setup):
    response = post_sessions(
        client,
        setup,
        {
            "classroom_id": setup["r1"],
            "starts_at": "2026-03-02T09:00:00+09:00",
            "ends_at": "2026-03-02T11:30+09:00",
        },
    )
    assert response.status_code == 201, response.get_json()
    (created,) = response.get_json()["sessions"]
    assert created["starts_at"] == "2026-03-02T00:00:00Z" and created["ends_at"] == "2026-03-02T02:30:00Z"
    assert created["period_minutes"] == 60 and created["periods"] == 3  # 60 + 60 + 30
    assert created["classroom_name"] == "R1" and created["status"] == "scheduled"
    db.expire_all()
    row = db.get(LectureSession, created["id"])
    assert row.starts_at == datetime(2026, 3, 2, 0, 0, tzinfo=timezone.utc)
    fetched = client.get(f"/api/v1/sessions/{created['id']}", headers=setup["ada"]).get_json()
    assert fetched == created
    entry = db.scalars(select(AuditLog).where(AuditLog.entity_type == "lecture_session")).one()
    assert entry.action == "session.create" and entry.after["starts_at"] == "2026-03-02T00:00:00Z"

    fifty = post_sessions(
        client,
        setup,
        {
            "classroom_id": setup["r2"],
            "starts_at": "2026-03-03T00:00Z",
            "ends_at": "2026-03-03T03:00Z",
            "period_minutes": 50,
        },
    )
    assert fifty.get_json()["sessions"][0]["periods"] == 4


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        ({"starts_at": "2026-03-02T09:00:00", "ends_at": "2026-03-02T10:00:00+09:00"}, "no UTC offset"),
        ({"starts_at": "next monday", "ends_at": "2026-03-02T10:00:00+09:00"}, "not an ISO 8601"),
        (
            {"starts_at": "2026-03-02T10:00:00+09:00", "ends_at": "2026-03-02T09:00:00+09:00"},
            "after 'starts_at'",
        ),
        ({"starts_at": "2026-03-02T10:00:00Z", "ends_at": "2026-03-02T10:00:00Z"}, "after 'starts_at'"),
        ({"starts_at": "2026-03-02T00:00:00Z", "ends_at": "2026-03-03T00:00:01Z"}, "at most 24 hours"),
        (
            {"starts_at": "2026-03-02T00:00:00Z", "ends_at": "2026-03-02T01:00:00Z", "period_minutes": 0},
            "period_minutes",
        ),
        (
            {"starts_at": "2026-03-02T00:00:00Z", "ends_at": "2026-03-02T01:00:00Z", "classroom_id": 999999},
            "not a classroom",
        ),
        (
            {"starts_at": "2026-03-02T00:00:00Z", "ends_at": "2026-03-02T01:00:00Z", "classroom_id": None},
            "'classroom_id' is required",
        ),
        (
            {"starts_at": "2026-03-02T00:00:00Z", "ends_at": "2026-03-02T01:00:00Z", "room": 1},
            "unknown field",
        ),
        ({"starts_at": "2026-03-02T00:00:00Z", "ends_at": "2026-03-02T01:00:00Z", "weekly": {}}, "not both"),
        (
            {
                "weekly": {
                    "weekday": 1,
                    "start_time": "09:00",
                    "duration_minutes": 60,
                    "first_date": "2026-03-02",
                    "last_date": "2026-03-30",
                    "timezone": "Asia/Seoul",
                }
            },
            "day name",
        ),
        (
            {
                "weekly": {
                    "weekday": "monday",
                    "start_time": "9am",
                    "duration_minutes": 60,
                    "first_date": "2026-03-02",
                    "last_date": "2026-03-30",
                    "timezone": "Asia/Seoul",
                }
            },
            "HH:MM",
        ),
        (
            {
                "weekly": {
                    "weekday": "monday",
                    "start_time": "09:00",
                    "duration_minutes": 60,
                    "first_date": "2026-03-02",
                    "last_date": "2026-03-30",
                    "timezone": "Mars/Olympus",
                }
            },
            "time zone",
        ),
        (
            {
                "weekly": {
                    "weekday": "monday",
                    "start_time": "09:00",
                    "duration_minutes": 60,
                    "first_date": "2026-03-30",
                    "last_date": "2026-03-02",
                    "timezone": "Asia/Seoul",
                }
            },
            "not be before",
        ),
        (
            {
                "weekly": {
                    "weekday": "sunday",
                    "start_time": "09:00",
                    "duration_minutes": 60,
                    "first_date": "2026-03-02",
                    "last_date": "2026-03-06",
                    "timezone": "Asia/Seoul",
                }
            },
            "there is no sunday",
        ),
        (
            {
                "weekly": {
                    "weekday": "mon",
                    "start_time": "09:00",
                    "duration_minutes": 60,
                    "first_date": "2026-03-02",
                    "last_date": "2036-03-02",
                    "timezone": "Asia/Seoul",
                }
            },
            "at most",
        ),
        # 02:30 does not exist in Berlin on 29 March 2026 (clocks jump from 02:00 to 03:00).
        (
            {
                "weekly": {
                    "weekday": "sun",
                    "start_time": "02:30",
                    "duration_minutes": 60,
                    "first_date": "2026-03-22",
                    "last_date": "2026-04-05",
                    "timezone": "Europe/Berlin",
                }
            },
            "does not exist on 2026-03-29",
        ),
    ],
)
def test_invalid_schedule_requests_are_refused_with_a_message_and_nothing_written(
    client, db, setup, body, phrase
):
    body = {"classroom_id": setup["r1"], **body}
    response = post_sessions(client, setup, body)
    assert response.status_code == 400, response.get_json()
    assert phrase in response.get_json()["error"]
    assert session_count(db) == 0
    assert db.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_weekly_series_keeps_wall_clock_time_across_a_dst_change(client, db, setup):
    # Berlin: CET (UTC+1) until Sunday 29 March 2026, CEST (UTC+2) from then on.
    body = {
        "classroom_id": setup["r1"],
        "period_minutes": 90,
        "weekly": {
            "weekday": "Tuesday",
            "start_time": "09:00",
            "duration_minutes": 180,
            "first_date": "2026-03-15",
            "last_date": "2026-04-07",
            "timezone": "Europe/Berlin",
        },
    }
    response = post_sessions(client, setup, body)
    assert response.status_code == 201, response.get_json()
    sessions = response.get_json()["sessions"]
    assert [(s["starts_at"], s["ends_at"]) for s in sessions] == [
        ("2026-03-17T08:00:00Z", "2026-03-17T11:00:00Z"),
        ("2026-03-24T08:00:00Z", "2026-03-24T11:00:00Z"),
        ("2026-03-31T07:00:00Z", "2026-03-31T10:00:00Z"),
        ("2026-04-07T07:00:00Z", "2026-04-07T10:00:00Z"),
    ]
    assert {s["periods"] for s in sessions} == {2}

    # Seoul has no DST: the same UTC time every week; the first date itself counts when it fits.
    seoul = post_sessions(
        client,
        setup,
        {
            "classroom_id": setup["r2"],
            "weekly": {
                "weekday": "mon",
                "start_time": "13:30",
                "duration_minutes": 75,
                "first_date": "2026-03-02",
                "last_date": "2026-03-16",
                "timezone": "Asia/Seoul",
            },
        },
    ).get_json()["sessions"]
    assert [s["starts_at"] for s in seoul] == [
        "2026-03-02T04:30:00Z",
        "2026-03-09T04:30:00Z",
        "2026-03-16T04:30:00Z",
    ]
    assert session_count(db) == 7
    db.expire_all()
    assert db.scalar(select(func.count()).where(AuditLog.action == "session.create")) == 7


def test_overlapping_session_in_the_same_room_is_a_conflict_and_series_are_all_or_nothing(client, db, setup):
    first = post_sessions(
        client,
        setup,
        {
            "classroom_id": setup["r1"],
            "starts_at": "2026-03-24T09:00:00+01:00",
            "ends_at": "2026-03-24T12:00+01:00",
        },
        who="bob",
        course="theirs",
    )
    assert first.status_code == 201
    clash = post_sessions(
        client,
        setup,
        {
            "classroom_id": setup["r1"],
            "starts_at": "2026-03-24T11:59:00+01:00",
            "ends_at": "2026-03-24T13:00+01:00",
        },
    )
    assert clash.status_code == 409
    error = clash.get_json()
    assert "R1 is already booked" in error["error"] and "2026-03-24 08:00 UTC" in error["error"]
    assert "MA201" not in error["error"]  # Bob's course is not named to Ada
    assert error["conflicts"] == [{"starts_at": "2026-03-24T08:00:00Z", "ends_at": "2026-03-24T11:00:00Z"}]

    # Back to back is fine (sessions are half-open), and so is another room at the same time.
    after = {
        "classroom_id": setup["r1"],
        "starts_at": "2026-03-24T12:00:00+01:00",
        "ends_at": "2026-03-24T13:00+01:00",
    }
    assert post_sessions(client, setup, after).status_code == 201
    other_room = {
        "classroom_id": setup["r2"],
        "starts_at": "2026-03-24T10:00+01:00",
        "ends_at": "2026-03-24T11:00+01:00",
    }
    assert post_sessions(client, setup, other_room).status_code == 201

    # A series whose third week clashes creates nothing at all.
    series = {
        "classroom_id": setup["r1"],
        "weekly": {
            "weekday": "tue",
            "start_time": "10:00",
            "duration_minutes": 60,
            "first_date": "2026-03-10",
            "last_date": "2026-04-14",
            "timezone": "Europe/Berlin",
        },
    }
    before = session_count(db)
    refused = post_sessions(client, setup, series)
    assert refused.status_code == 409 and "nothing was scheduled" in refused.get_json()["error"]
    assert len(refused.get_json()["conflicts"]) == 1
    assert session_count(db) == before
    # Bob, whose session it is, is told which one.
    theirs = post_sessions(client, setup, series, who="bob", course="theirs")
    assert theirs.status_code == 409 and "by MA201" in theirs.get_json()["error"]
    assert theirs.get_json()["conflicts"][0]["course_code"] == "MA201"


def test_listing_by_time_window_and_deleting_only_without_evidence(client, db, setup):
    series = {
        "classroom_id": setup["r1"],
        "weekly": {
            "weekday": "wed",
            "start_time": "09:00",
            "duration_minutes": 60,
            "first_date": "2026-03-04",
            "last_date": "2026-03-25",
            "timezone": "UTC",
        },
    }
    created = post_sessions(client, setup, series).get_json()["sessions"]
    url = f"/api/v1/courses/{setup['mine']}/sessions"
    assert len(client.get(url, headers=setup["ada"]).get_json()) == 4
    window = client.get(
        url,
        query_string={"from": "2026-03-11T09:30:00Z", "to": "2026-03-18T09:00:00+00:00"},
        headers=setup["ada"],
    )
    assert [s["starts_at"] for s in window.get_json()] == ["2026-03-11T09:00:00Z"]  # overlaps, so included
    naive = client.get(url, query_string={"from": "2026-03-11T09:30:00"}, headers=setup["ada"])
    assert naive.status_code == 400 and "offset" in naive.get_json()["error"]
    backwards = client.get(
        url, query_string={"from": "2026-03-12T00:00Z", "to": "2026-03-11T00:00Z"}, headers=setup["ada"]
    )
    assert backwards.status_code == 400

    device = Device(device_id="cam", name="cam", classroom_id=setup["r1"])
    db.add(device)
    db.flush()
    db.add(
        Sighting(
            event_id="s1",
            device_id=device.id,
            session_id=created[0]["id"],
            track_id="t",
            captured_at=datetime(2026, 3, 4, 9, 5, tzinfo=timezone.utc),
        )
    )
    db.commit()
    kept = client.delete(f"/api/v1/sessions/{created[0]['id']}", headers=setup["ada"])
    assert kept.status_code == 409 and "1 recorded sighting:" in kept.get_json()["error"]
    assert client.delete(f"/api/v1/sessions/{created[1]['id']}", headers=setup["ada"]).status_code == 204
    assert client.get(f"/api/v1/sessions/{created[1]['id']}", headers=setup["ada"]).status_code == 404
    assert session_count(db) == 3
    db.expire_all()
    assert db.scalar(select(func.count()).where(AuditLog.action == "session.delete")) == 1


def test_current_session_for_device(db, setup):
    r1, r2 = setup["r1"], setup["r2"]
    nine = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    morning = LectureSession(
        course_id=setup["mine"], classroom_id=r1, starts_at=nine, ends_at=nine + timedelta(hours=2)
    )
    noon = LectureSession(
        course_id=setup["theirs"],
        classroom_id=r1,
        starts_at=nine + timedelta(hours=2),
        ends_at=nine + timedelta(hours=3),
    )
    elsewhere = LectureSession(
        course_id=setup["theirs"], classroom_id=r2, starts_at=nine, ends_at=nine + timedelta(hours=1)
    )
    db.add_all(
        [
            morning,
            noon,
            elsewhere,
            Device(device_id="r1-cam", name="front", classroom_id=r1),
            Device(device_id="spare", name="spare", classroom_id=None),
        ]
    )
    db.commit()

    assert current_session_for_device(db, "r1-cam", nine + timedelta(minutes=30)).id == morning.id
    assert current_session_for_device(db, "r1-cam", nine).id == morning.id  # start is inclusive
    assert current_session_for_device(db, "r1-cam", nine + timedelta(hours=2)).id == noon.id  # end is not
    assert current_session_for_device(db, "r1-cam", nine - timedelta(minutes=5)) is None
    early = current_session_for_device(
        db, "r1-cam", nine - timedelta(minutes=5), margin=timedelta(minutes=10)
    )
    assert early.id == morning.id
    # Near the boundary both are candidates with a margin: the one actually running wins.
    boundary = nine + timedelta(hours=2, minutes=-1)
    assert current_session_for_device(db, "r1-cam", boundary, margin=timedelta(minutes=10)).id == morning.id
    in_seoul = datetime(2026, 3, 2, 18, 30, tzinfo=ZoneInfo("Asia/Seoul"))  # 09:30 UTC: any aware zone works
    assert current_session_for_device(db, "r1-cam", in_seoul).id == morning.id
    assert current_session_for_device(db, "r1-cam", nine + timedelta(hours=3)) is None
    assert current_session_for_device(db, "unknown-device", nine) is None
    assert current_session_for_device(db, "spare", nine) is None
    with pytest.raises(ValueError, match="naive"):
        current_session_for_device(db, "r1-cam", datetime(2026, 3, 2, 9, 30))

    assert next_session_for_device(db, "r1-cam", nine - timedelta(days=1)).id == morning.id
    assert next_session_for_device(db, "r1-cam", nine + timedelta(hours=2, minutes=30)).id == noon.id
    assert next_session_for_device(db, "r1-cam", nine + timedelta(hours=3)) is None
