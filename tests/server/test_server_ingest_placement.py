"""Ingest places each sighting in its session by the schedule's one rule (`lecture_at`, with the
attendance window margin) and queues the session's refresh job, which lists its unknown faces: the
writes a page used to do on its first read (issue 16). SQLite and MariaDB."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from server.attendance.refresh import JOB_KIND
from server.attendance.service import policy_from_config
from server.db.models import Classroom, Course, Device, LectureSession, Sighting, UnknownFaceReview
from server.db.models.jobs import Job, JobStatus
from server.ingest.store import Incoming, process_batch
from server.jobs import run_pending
from server.settings import settings_of
from shared.messages import SightingBatch, SightingEvent, topic

NINE = datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)


TRACKS = {"early": 1, "too-early": 2, "between": 3, "tie": 4, "again": 5}  # devices number tracks


def message(device: str, times: list[datetime], name: str) -> Incoming:
    events = tuple(
        SightingEvent(
            event_id=f"{name}-{secrets.token_hex(6)}", track_id=TRACKS[name], captured_at=t, score=0.4
        )
        for t in times
    )
    payload = SightingBatch(device, f"b-{secrets.token_hex(4)}", times[-1], events).encode()
    return Incoming(topic(device, "sightings"), payload, received_at=times[-1] + timedelta(seconds=2))


def test_ingest_places_sightings_by_the_rule_and_queues_one_refresh_per_session(app, db):
    room = Classroom(name="P-1")
    cam = Device(device_id=f"cam-{secrets.token_hex(4)}", name="cam", classroom=room)
    course = Course(code="P1", title="Placement")
    first = LectureSession(course=course, classroom=room, starts_at=NINE, ends_at=NINE + timedelta(hours=1))
    second = LectureSession(
        course=course,
        classroom=room,
        starts_at=NINE + timedelta(hours=1, minutes=10),
        ends_at=NINE + timedelta(hours=2),
    )
    db.add_all([room, cam, course, first, second])
    db.commit()
    margin = policy_from_config(app.config).window_margin
    assert margin == timedelta(minutes=10)
    settings = settings_of(app).ingest

    times = {
        "early": NINE - timedelta(minutes=5),  # within the margin before the first: the first's
        "too-early": NINE - timedelta(minutes=11),  # beyond it: no session
        "between": NINE + timedelta(hours=1, minutes=6),  # nearer the second
        "tie": NINE + timedelta(hours=1, minutes=5),  # as near to both: the earlier session
    }
    outcomes = process_batch(
        db, [message(cam.device_id, [t], name) for name, t in times.items()], settings, margin
    )
    db.commit()
    assert [o.result for o in outcomes] == ["stored"] * 4, [o.reason for o in outcomes]
    names = {str(number): name for name, number in TRACKS.items()}
    placed = {
        names[track]: session for track, session in db.execute(select(Sighting.track_id, Sighting.session_id))
    }
    assert placed == {"early": first.id, "too-early": None, "between": second.id, "tie": first.id}

    # One refresh job per session, however many batches arrive before it runs.
    process_batch(db, [message(cam.device_id, [NINE + timedelta(minutes=30)], "again")], settings, margin)
    db.commit()
    queued = db.scalars(select(Job.payload).where(Job.kind == JOB_KIND, Job.status == JobStatus.QUEUED)).all()
    assert sorted(p["session_id"] for p in queued) == [first.id, second.id]
    assert db.scalar(select(func.count()).select_from(UnknownFaceReview)) == 0

    assert run_pending(app) == 2
    db.expire_all()
    listed = [
        (session, names[track])
        for session, track in db.execute(select(UnknownFaceReview.session_id, UnknownFaceReview.track_id))
    ]
    assert sorted(listed) == sorted(
        [(first.id, "early"), (first.id, "tie"), (first.id, "again"), (second.id, "between")]
    )
