"""Attendance through the JSON API, end to end from inserted Sighting rows (SQLite and MariaDB):
statuses, overrides with their audit trail, the batch roll call, confirmation, unknown faces,
CSV export and the student's own view. Bad input is a 4xx with a sentence and writes nothing."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from server.db.models import AttendanceOverride, AuditLog, LectureSession, Sighting, UnknownFaceReview
from tests.server.attendance_seed import as_stored, seeded_world


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(db, make_user, make_token):
    w = seeded_world(make_user, db, with_student=True)
    owner, other, student_user = w.owner, w.other, w.student_user
    w.h = bearer(make_token(owner))
    w.other_h = bearer(make_token(other))
    w.student_h = bearer(make_token(student_user))
    return w


def count(db, model) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model))


def attendance(client, w) -> dict:
    response = client.get(f"/api/v1/sessions/{w.session}/attendance", headers=w.h)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def by_number(data: dict) -> dict[str, dict]:
    return {row["student_number"]: row for row in data["students"]}


def read_csv(response) -> list[dict[str, str]]:
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf"), "the CSV must start with a UTF-8 byte order mark"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


# ----------------------------------------------------------------------------- statuses


def test_statuses_and_evidence_from_sightings(client, db, world):
    w = world
    data = attendance(client, w)
    rows = by_number(data)
    assert [r["student_number"] for r in data["students"]] == ["2026001", "2026002", "2026003", "2026004"]
    assert {n: r["status"] for n, r in rows.items()} == {
        "2026001": "present",
        "2026002": "late",
        "2026003": "left_early",
        "2026004": "absent",
    }
    assert [p["status"] for p in rows["2026002"]["periods"]] == ["late", "present"]
    assert [p["status"] for p in rows["2026003"]["periods"]] == ["present", "absent"]
    assert "departed_early" in rows["2026003"]["reasons"]
    assert rows["2026004"]["reasons"] == ["not_seen"]

    ada = rows["2026001"]["evidence"]
    assert (ada["first_seen"], ada["last_seen"], ada["sightings"]) == (
        "2026-03-02T09:00:00Z",
        "2026-03-02T11:00:00Z",
        61,
    )
    assert ada["best_score"] == pytest.approx(0.84)
    ben = rows["2026002"]["evidence"]
    assert ben["first_seen"] == "2026-03-02T09:25:00Z" and ben["sightings"] == 48
    assert rows["2026004"]["evidence"]["sightings"] == 0 and rows["2026004"]["evidence"]["first_seen"] is None
    assert all(r["source"] == "engine" for r in data["students"])
    assert data["counts"]["present"] == 1 and data["counts"]["absent"] == 1
    assert data["unknown_faces_pending"] == 2
    assert [p["start"] for p in data["periods"]] == ["2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"]

    # Ben's sightings had no session: the room's camera in the session window -> attached (when they
    # were stored: server.attendance.refresh). The other room's camera's go to that room's session,
    # and the next day's sighting stays unattached.
    db.expire_all()
    assert (
        db.scalar(select(func.count()).where(Sighting.student_id == w.s2, Sighting.session_id == w.session))
        == 48
    )
    assert (
        db.scalar(
            select(func.count()).where(Sighting.student_id == w.s5, Sighting.session_id == w.other_session)
        )
        == 6
    )
    assert (
        db.scalar(
            select(func.count()).where(Sighting.event_id == "cam-r101-t9-0900", Sighting.session_id.is_(None))
        )
        == 1
    )

    # Thumbnail: only Ada's best sighting with a face crop has one, served as JPEG.
    assert rows["2026002"]["thumbnail_url"] is None
    image = client.get(rows["2026001"]["thumbnail_url"], headers=w.h)
    assert image.status_code == 200 and image.mimetype == "image/jpeg" and image.data[:2] == b"\xff\xd8"
    assert client.get(rows["2026001"]["thumbnail_url"], headers=w.other_h).status_code == 404


def test_recompute_is_deterministic_and_idempotent(client, world):
    first, second = attendance(client, world), attendance(client, world)
    first.pop("computed_at"), second.pop("computed_at")
    assert first == second


def test_policy_comes_from_settings(app, db, world):
    from server.attendance.service import AttendanceConfigError, attach_sightings, compute_session

    lecture = db.get(LectureSession, world.session)
    attach_sightings(db, lecture, app.config)
    db.commit()
    lenient = {**app.config, "ATTENDANCE_LATE_AFTER_MINUTES": 30, "ATTENDANCE_MIN_PRESENCE": 0.3}
    report = compute_session(db, lecture, lenient)
    assert report.result.student(world.s2).status.value == "present"  # 25 minutes late is on time now
    assert report.result.student(world.s3).periods[1].status.value == "left_early"  # 34% >= 30%
    assert compute_session(db, lecture, app.config).result.student(world.s2).status.value == "late"
    with pytest.raises(AttendanceConfigError, match="ATTENDANCE_MIN_PRESENCE"):
        compute_session(db, lecture, {**app.config, "ATTENDANCE_MIN_PRESENCE": "lots"})
    with pytest.raises(AttendanceConfigError, match="min_presence_fraction"):
        compute_session(db, lecture, {**app.config, "ATTENDANCE_MIN_PRESENCE": 2})


# ----------------------------------------------------------------------------- overrides


def test_override_with_reason_is_applied_and_audited(client, db, world):
    w = world
    response = client.post(
        f"/api/v1/sessions/{w.session}/overrides",
        json={"student_id": w.s4, "status": "excused", "reason": "Medical certificate"},
        headers=w.h,
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["student"]["status"] == "excused" and body["student"]["computed_status"] == "absent"

    per_period = client.post(
        f"/api/v1/sessions/{w.session}/overrides",
        json={"student_id": w.s3, "period": 1, "status": "present", "reason": "Was in the lab next door"},
        headers=w.h,
    )
    assert per_period.status_code == 201

    rows = by_number(attendance(client, w))
    dan, cho = rows["2026004"], rows["2026003"]
    assert (dan["status"], dan["source"], dan["note"]) == ("excused", "manual", "Medical certificate")
    assert [p["status"] for p in cho["periods"]] == ["present", "present"]
    assert cho["periods"][1]["source"] == "manual" and cho["periods"][1]["computed_status"] == "absent"
    assert (cho["status"], cho["source"]) == ("present", "manual")  # recomputed from the periods

    trail = client.get(f"/api/v1/sessions/{w.session}/audit", headers=w.h).get_json()
    assert [e["action"] for e in trail] == ["attendance.override", "attendance.override"]
    latest, first = trail
    assert first["actor"] == "Olga Owner" and first["reason"] == "Medical certificate"
    assert first["before"]["status"] == "absent" and first["after"]["status"] == "excused"
    assert first["before"]["student_number"] == "2026004" and first["after"]["period"] is None
    assert latest["before"] == {
        "student_id": w.s3,
        "student_number": "2026003",
        "period": 1,
        "status": "absent",
        "source": "engine",
    }
    assert latest["after"]["status"] == "present" and latest["reason"] == "Was in the lab next door"

    # The latest override wins; the earlier one stays as history.
    again = client.post(
        f"/api/v1/sessions/{w.session}/overrides",
        json={"student_id": w.s4, "status": "absent", "reason": "Certificate was for another day"},
        headers=w.h,
    )
    assert again.status_code == 201
    assert by_number(attendance(client, w))["2026004"]["status"] == "absent"
    assert count(db, AttendanceOverride) == 3
    assert client.get(f"/api/v1/sessions/{w.session}/audit", headers=w.h).get_json()[0]["before"][
        "status"
    ] == ("excused")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"student_id": "four", "status": "excused", "reason": "x"}, "student_id"),
        ({"status": "excused", "reason": "x"}, "student_id"),
        ({"student_id": "S4", "status": "on_holiday", "reason": "x"}, "status"),
        ({"student_id": "S4", "status": "excused"}, "reason"),
        ({"student_id": "S4", "status": "excused", "reason": "   "}, "reason"),
        ({"student_id": "S4", "status": "excused", "reason": "x" * 1001}, "too long"),
        ({"student_id": "S4", "status": "excused", "reason": "x", "period": 2}, "period"),
        ({"student_id": "S4", "status": "excused", "reason": "x", "period": "1"}, "period"),
        ({"student_id": "S5", "status": "excused", "reason": "x"}, "not on the roster"),
    ],
)
def test_override_bad_input_writes_nothing(client, db, world, payload, message):
    if payload.get("student_id") in ("S4", "S5"):
        payload = {**payload, "student_id": getattr(world, payload["student_id"].lower())}
    response = client.post(f"/api/v1/sessions/{world.session}/overrides", json=payload, headers=world.h)
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    assert count(db, AttendanceOverride) == 0 and count(db, AuditLog) == 0


def test_override_needs_a_json_body(client, db, world):
    response = client.post(
        f"/api/v1/sessions/{world.session}/overrides", data="status=absent", headers=world.h
    )
    assert response.status_code == 415 and "JSON" in response.get_json()["error"]
    assert count(db, AttendanceOverride) == 0


# ----------------------------------------------------------------------------- roll call


def test_roll_call_is_one_batch_with_one_audit_entry(client, db, world):
    w = world
    response = client.post(
        f"/api/v1/sessions/{w.session}/rollcall",
        json={
            "entries": [
                {"student_id": w.s1, "status": "present"},  # already present: unchanged
                {"student_id": w.s3, "status": "absent"},
                {"student_id": w.s4, "status": "present"},
            ],
            "reason": "Camera covered after the break",
        },
        headers=w.h,
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert sorted(body["changed"]) == sorted([w.s3, w.s4]) and body["unchanged"] == [w.s1]

    statuses = {n: r["status"] for n, r in by_number(attendance(client, w)).items()}
    assert statuses == {"2026001": "present", "2026002": "late", "2026003": "absent", "2026004": "present"}
    assert count(db, AttendanceOverride) == 2
    trail = client.get(f"/api/v1/sessions/{w.session}/audit", headers=w.h).get_json()
    assert len(trail) == 1 and trail[0]["id"] == body["audit_id"]
    assert (
        trail[0]["action"] == "attendance.rollcall" and trail[0]["reason"] == "Camera covered after the break"
    )
    assert trail[0]["before"] == {"2026003": "left_early", "2026004": "absent"}
    assert trail[0]["after"] == {"2026003": "absent", "2026004": "present"}


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], "non-empty"),
        ("everyone", "non-empty"),
        (
            [{"student_id": "S1", "status": "present"}, {"student_id": "S5", "status": "present"}],
            "not on the roster",
        ),
        ([{"student_id": "S1", "status": "present"}, {"student_id": "S1", "status": "absent"}], "twice"),
        (
            [{"student_id": "S4", "status": "present"}, {"student_id": "S3", "status": "here"}],
            "entries[1].status",
        ),
        ([{"student_id": "S4", "status": "present"}, ["S3", "absent"]], "entries[1]"),
    ],
)
def test_roll_call_bad_input_writes_nothing(client, db, world, entries, message):
    def resolve(entry):
        if isinstance(entry, dict) and isinstance(entry.get("student_id"), str):
            return {**entry, "student_id": getattr(world, entry["student_id"].lower())}
        return entry

    body = {"entries": [resolve(e) for e in entries] if isinstance(entries, list) else entries}
    response = client.post(f"/api/v1/sessions/{world.session}/rollcall", json=body, headers=world.h)
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    assert count(db, AttendanceOverride) == 0 and count(db, AuditLog) == 0


# ----------------------------------------------------------------------------- confirmation


def test_confirm_then_later_corrections_are_audited_as_such(client, db, world):
    w = world
    response = client.post(f"/api/v1/sessions/{w.session}/confirm", headers=w.h)
    assert response.status_code == 200
    assert (
        response.get_json()["status"] == "confirmed" and response.get_json()["confirmed_by"] == "Olga Owner"
    )
    db.expire_all()
    lecture = db.get(LectureSession, w.session)
    assert lecture.status.value == "confirmed" and lecture.confirmed_by_id == w.owner.id
    assert lecture.confirmed_at is not None

    fix = client.post(
        f"/api/v1/sessions/{w.session}/overrides",
        json={"student_id": w.s2, "status": "present", "reason": "Bus strike"},
        headers=w.h,
    )
    assert fix.status_code == 201
    assert client.post(f"/api/v1/sessions/{w.session}/confirm", headers=w.h).status_code == 200

    trail = client.get(f"/api/v1/sessions/{w.session}/audit", headers=w.h).get_json()
    assert [e["action"] for e in trail] == ["attendance.confirm", "attendance.override", "attendance.confirm"]
    first_confirm = trail[2]
    assert first_confirm["before"]["status"] == "scheduled"
    assert first_confirm["after"]["attendance"] == {
        "2026001": "present",
        "2026002": "late",
        "2026003": "left_early",
        "2026004": "absent",
    }
    assert trail[1]["after"]["after_confirmation"] is True
    assert (
        trail[0]["before"]["status"] == "confirmed"
        and trail[0]["after"]["attendance"]["2026002"] == "present"
    )


# ----------------------------------------------------------------------------- unknown faces


def test_unknown_faces_are_listed_assigned_and_dismissed(client, db, world):
    w = world
    faces = client.get(f"/api/v1/sessions/{w.session}/unknown-faces", headers=w.h).get_json()
    assert [(f["track_id"], f["decision"], f["sightings"]) for f in faces] == [
        ("u1", "pending", 26),
        ("u2", "pending", 3),
    ]
    u1, u2 = faces
    assert u1["first_seen"] == "2026-03-02T09:05:00Z" and u1["device"] == "R-101 ceiling"
    assert u1["thumbnail_url"] and u2["thumbnail_url"] is None
    assert client.get(u1["thumbnail_url"], headers=w.h).mimetype == "image/jpeg"
    # listing twice adds no rows
    client.get(f"/api/v1/sessions/{w.session}/unknown-faces", headers=w.h)
    assert count(db, UnknownFaceReview) == 2

    bad = client.post(
        f"/api/v1/unknown-faces/{u1['id']}", json={"decision": "assigned", "student_id": w.s5}, headers=w.h
    )
    assert bad.status_code == 400 and "not on the roster" in bad.get_json()["error"]
    bad = client.post(f"/api/v1/unknown-faces/{u1['id']}", json={"decision": "maybe"}, headers=w.h)
    assert bad.status_code == 400 and "decision" in bad.get_json()["error"]
    bad = client.post(f"/api/v1/unknown-faces/{u1['id']}", json={"decision": "assigned"}, headers=w.h)
    assert bad.status_code == 400 and "student_id" in bad.get_json()["error"]
    assert count(db, AuditLog) == 0
    assert (
        db.scalar(select(func.count()).where(Sighting.track_id == "u1", Sighting.student_id.is_(None))) == 26
    )

    assigned = client.post(
        f"/api/v1/unknown-faces/{u1['id']}",
        json={"decision": "assigned", "student_id": w.s4, "reason": "Dan, new haircut"},
        headers=w.h,
    )
    assert assigned.status_code == 200, assigned.get_json()
    assert (
        assigned.get_json()["relabelled"] == 26 and assigned.get_json()["face"]["student_name"] == "Dan Ivers"
    )
    # Dan's sightings now count: seen 09:05-09:55, then gone -> present in period 1, left early overall.
    dan = by_number(attendance(client, w))["2026004"]
    assert dan["status"] == "left_early" and [p["status"] for p in dan["periods"]] == ["present", "absent"]
    assert dan["evidence"]["sightings"] == 26

    again = client.post(f"/api/v1/unknown-faces/{u1['id']}", json={"decision": "not_a_student"}, headers=w.h)
    assert again.status_code == 409 and "already assigned" in again.get_json()["error"]

    dismissed = client.post(
        f"/api/v1/unknown-faces/{u2['id']}", json={"decision": "not_a_student"}, headers=w.h
    )
    assert dismissed.status_code == 200 and dismissed.get_json()["relabelled"] == 0
    faces = client.get(f"/api/v1/sessions/{w.session}/unknown-faces", headers=w.h).get_json()
    assert {f["track_id"]: f["decision"] for f in faces} == {"u1": "assigned", "u2": "not_a_student"}
    assert attendance(client, w)["unknown_faces_pending"] == 0

    trail = client.get(f"/api/v1/sessions/{w.session}/audit", headers=w.h).get_json()
    assert [e["action"] for e in trail] == ["unknown_face.not_a_student", "unknown_face.assigned"]
    assert trail[1]["after"]["relabelled"] == 26 and len(trail[1]["after"]["event_ids"]) == 26
    assert trail[1]["before"]["decision"] == "pending" and trail[1]["reason"] == "Dan, new haircut"


# ----------------------------------------------------------------------------- export


HEADER = [
    "course",
    "session_start",
    "student_number",
    "name",
    "status",
    "period_1",
    "period_2",
    "first_seen",
    "last_seen",
    "sightings",
    "source",
    "note",
]


def test_session_csv_export(client, world):
    w = world
    client.post(
        f"/api/v1/sessions/{w.session}/overrides",
        json={"student_id": w.s4, "status": "excused", "reason": '=HYPERLINK("x") sick'},
        headers=w.h,
    )
    response = client.get(f"/api/v1/sessions/{w.session}/export.csv", headers=w.h)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="attendance-CS101-20260302-0900.csv"' in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert b"\r\n" in raw
    text = raw.decode("utf-8-sig")
    assert next(csv.reader(io.StringIO(text))) == HEADER
    rows = read_csv(response)
    assert [r["student_number"] for r in rows] == ["2026001", "2026002", "2026003", "2026004"]
    ada, ben, cho, dan = rows
    assert ada == {
        "course": "CS101",
        "session_start": "2026-03-02T09:00:00Z",
        "student_number": "2026001",
        "name": "Ada Lovelace",
        "status": "present",
        "period_1": "present",
        "period_2": "present",
        "first_seen": "2026-03-02T09:00:00Z",
        "last_seen": "2026-03-02T11:00:00Z",
        "sightings": "61",
        "source": "engine",
        "note": "",
    }
    assert (ben["status"], ben["period_1"], ben["first_seen"]) == ("late", "late", "2026-03-02T09:25:00Z")
    assert (cho["status"], cho["period_2"], cho["last_seen"]) == (
        "left_early",
        "absent",
        "2026-03-02T10:20:00Z",
    )
    assert (dan["status"], dan["source"], dan["first_seen"], dan["sightings"]) == (
        "excused",
        "manual",
        "",
        "0",
    )
    assert dan["note"] == '\'=HYPERLINK("x") sick'  # no formula runs in a spreadsheet


def test_course_csv_export_covers_every_started_session(client, db, world):
    w = world
    response = client.get(f"/api/v1/courses/{w.course}/export.csv", headers=w.h)
    assert response.status_code == 200
    assert 'filename="attendance-CS101.csv"' in response.headers["Content-Disposition"]
    rows = read_csv(response)
    assert list(rows[0]) == HEADER
    assert [(r["session_start"], r["student_number"]) for r in rows] == [
        ("2026-03-02T09:00:00Z", n) for n in ("2026001", "2026002", "2026003", "2026004")
    ] + [("2026-03-09T09:00:00Z", n) for n in ("2026001", "2026002", "2026003", "2026004")]
    assert {r["status"] for r in rows[4:]} == {"absent"}
    assert all(r["course"] == "CS101" for r in rows)

    # A session that has not started yet is not exported.
    from datetime import timedelta

    from server.db import utcnow

    db.add(
        LectureSession(
            course_id=w.course,
            starts_at=utcnow() + timedelta(days=1),
            ends_at=utcnow() + timedelta(days=1, hours=1),
            period_minutes=60,
        )
    )
    db.commit()
    assert len(read_csv(client.get(f"/api/v1/courses/{w.course}/export.csv", headers=w.h))) == 8


# ----------------------------------------------------------------------------- students


def test_student_sees_only_their_own_attendance(client, world, make_user, make_token):
    w = world
    client.post(
        f"/api/v1/sessions/{w.session}/overrides",
        json={"student_id": w.s2, "status": "excused", "reason": "Ben's private matter"},
        headers=w.h,
    )
    response = client.get("/api/v1/me/attendance", headers=w.student_h)
    assert response.status_code == 200
    body = response.get_json()
    assert body["student"] == {"id": w.s1, "student_number": "2026001", "name": "Ada Lovelace"}
    assert [s["session"]["id"] for s in body["sessions"]] == [w.later_session, w.session]  # newest first
    rows = [s["attendance"] for s in body["sessions"]]
    assert {r["student_number"] for r in rows} == {"2026001"}
    assert [r["status"] for r in rows] == ["absent", "present"]
    assert rows[1]["evidence"]["sightings"] == 61 and rows[1]["thumbnail_url"] is None
    assert "Ben" not in response.get_data(as_text=True)

    # ... and nothing of the instructor's
    assert client.get(f"/api/v1/sessions/{w.session}/attendance", headers=w.student_h).status_code == 403

    stranger = make_user("student", email="nobody@school.example")
    missing = client.get("/api/v1/me/attendance", headers=bearer(make_token(stranger)))
    assert missing.status_code == 404 and "No student record" in missing.get_json()["error"]


def test_sessions_of_a_day(client, world, make_user, make_token):
    w = world
    listed = client.get("/api/v1/attendance/sessions?date=2026-03-02", headers=w.h).get_json()
    assert [(s["id"], s["course"]["code"]) for s in listed] == [(w.session, "CS101")]
    assert [
        s["id"]
        for s in client.get("/api/v1/attendance/sessions?date=2026-03-02", headers=w.other_h).get_json()
    ] == [w.other_session]
    admin = make_user("admin", email="root@school.example")
    everything = client.get("/api/v1/attendance/sessions?date=2026-03-02", headers=bearer(make_token(admin)))
    assert {s["id"] for s in everything.get_json()} == {w.session, w.other_session}
    assert client.get("/api/v1/attendance/sessions?date=2026-03-03", headers=w.h).get_json() == []
    bad = client.get("/api/v1/attendance/sessions?date=March", headers=w.h)
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.get_json()["error"]


def test_a_track_the_device_named_later_leaves_the_review_closed_and_audited(client, db, world):
    """The edge's retry names track u2 Cho after it was listed unknown: nothing is left to decide."""
    w = world
    faces = client.get(f"/api/v1/sessions/{w.session}/unknown-faces", headers=w.h).get_json()
    assert {f["track_id"]: f["decision"] for f in faces} == {"u1": "pending", "u2": "pending"}
    first = db.scalar(select(Sighting).where(Sighting.track_id == "u2").order_by(Sighting.captured_at))
    db.add(
        Sighting(
            event_id="cam-r101-u2-named",
            device_id=w.device,
            session_id=w.session,
            student_id=w.s3,
            track_id="u2",
            captured_at=first.captured_at,
            score=0.45,
        )
    )
    db.commit()
    as_stored(db)  # ingest's refresh job for the session that got the sighting

    faces = client.get(f"/api/v1/sessions/{w.session}/unknown-faces", headers=w.h).get_json()
    decided = {f["track_id"]: (f["decision"], f.get("student_id")) for f in faces}
    assert decided["u1"] == ("pending", None)
    assert decided["u2"][0] == "assigned"
    report = client.get(f"/api/v1/sessions/{w.session}/attendance", headers=w.h).get_json()
    assert report["unknown_faces_pending"] == 1
    entries = db.scalars(select(AuditLog).where(AuditLog.action == "unknown_face.recognised_by_device")).all()
    assert [(e.actor_id, e.after["student_id"]) for e in entries] == [(None, w.s3)]
    # refreshing again closes nothing twice
    as_stored(db)
    db.expire_all()
    assert (
        len(db.scalars(select(AuditLog).where(AuditLog.action == "unknown_face.recognised_by_device")).all())
        == 1
    )
