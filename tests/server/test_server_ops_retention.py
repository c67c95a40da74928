"""Retention: the ops.retention job deletes biometric and diagnostic data past its period, and only that."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from server.db.models import DeviceTelemetry, Job, JobStatus, RejectedMessage, Sighting
from server.db.models.album import AlbumSearch
from server.db.models.deepfake import DeepfakeCheck
from server.db.models.school import Device
from server.db.types import utcnow
from server.jobs import run_pending, submit_job
from server.retention import JOB_KIND
from server.settings import update_settings
from server.storage import StorageMissing, storage
from visage.cli import main

OLD = timedelta(days=400)
RECENT = timedelta(days=1)


@pytest.fixture
def seeded(app, db, make_user):
    """Old and recent rows of every kind retention looks at; returns the ids to follow."""
    now = utcnow()
    owner = make_user("album_user")
    device = Device(device_id="cam-1", name="Room 1")
    db.add(device)
    db.flush()
    for name, age, thumb in (
        ("old-thumb", OLD, b"jpeg"),
        ("old-plain", OLD, None),
        ("new-thumb", RECENT, b"jpeg"),
    ):
        db.add(
            Sighting(
                event_id=name,
                device_id=device.id,
                track_id="t",
                captured_at=now - age,
                received_at=now - age,
                thumbnail=thumb,
            )
        )
    for age in (OLD, RECENT):
        db.add(
            DeviceTelemetry(
                device_id=device.id,
                at=now - age,
                received_at=now - age,
                fps=10.0,
                faces_per_second=1.0,
                outbox_depth=0,
                outbox_capacity=100,
            )
        )
        db.add(
            RejectedMessage(
                topic="t",
                device_id="cam-1",
                reason="schema",
                detail="d",
                payload_size=4,
                payload_head=b"face",
                received_at=now - age,
            )
        )
        db.add(
            AlbumSearch(
                owner_id=owner.id,
                filename="key.jpg",
                image=b"jpeg",
                width=1,
                height=1,
                model="m",
                faces=[],
                created_at=now - age,
            )
        )
    store = storage(app)
    for name, age in (("old", OLD), ("new", RECENT)):
        store.put(f"deepfake/{owner.id}/{name}.mp4", b"video")
        db.add(
            DeepfakeCheck(
                owner_id=owner.id,
                filename=f"{name}.mp4",
                media_kind="video",
                size_bytes=5,
                sha256="0" * 64,
                storage_key=f"deepfake/{owner.id}/{name}.mp4",
                created_at=now - age,
                finished_at=now - age,
            )
        )
    db.add(
        Job(
            kind="test.old",
            payload={},
            status=JobStatus.SUCCEEDED,
            created_at=now - OLD,
            finished_at=now - OLD,
        )
    )
    db.add(Job(kind="test.old", payload={}, status=JobStatus.QUEUED, created_at=now - OLD))
    db.commit()
    return {"owner": owner.id}


def count(db, model, *where) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where))


def run_retention(app, db, **payload) -> Job:
    job = submit_job(db, JOB_KIND, payload=payload)
    db.commit()
    run_pending(app)
    db.expire_all()
    return db.get(Job, job.id)


def test_retention_removes_exactly_what_is_past_its_period(app, db, seeded):
    job = run_retention(app, db)
    assert job.status == JobStatus.SUCCEEDED, job.error
    removed = job.result["removed"]
    assert removed == {
        "RETENTION_SIGHTING_THUMBNAIL_DAYS": 1,
        "RETENTION_UNKNOWN_CROPS_DAYS": 0,
        "RETENTION_TELEMETRY_DAYS": 1,
        "RETENTION_REJECTED_MESSAGES_DAYS": 1,
        "RETENTION_JOBS_DAYS": 1,
        "RETENTION_ALBUM_SEARCHES_DAYS": 1,
        "RETENTION_DEEPFAKE_CHECKS_DAYS": 1,
    }
    assert job.result["periods_days"]["RETENTION_SIGHTINGS_DAYS"] is None  # kept by default
    # Sightings stay; only the old thumbnail is gone.
    assert count(db, Sighting) == 3
    assert db.scalar(select(Sighting.thumbnail).where(Sighting.event_id == "old-thumb")) is None
    assert db.scalar(select(Sighting.thumbnail).where(Sighting.event_id == "new-thumb")) == b"jpeg"
    for model in (DeviceTelemetry, RejectedMessage, AlbumSearch, DeepfakeCheck):
        assert count(db, model) == 1, model.__name__
    # The old finished job went, the queued one (and this run) stay.
    assert count(db, Job, Job.kind == "test.old") == 1
    assert count(db, Job, Job.kind == "test.old", Job.status == JobStatus.QUEUED) == 1
    # The old upload's file is gone from storage, the recent one's is there.
    store = storage(app)
    owner = seeded["owner"]
    with pytest.raises(StorageMissing):
        store.get(f"deepfake/{owner}/old.mp4")
    assert store.get(f"deepfake/{owner}/new.mp4") == b"video"


def test_a_dry_run_counts_and_deletes_nothing(app, db, seeded):
    job = run_retention(app, db, dry_run=True)
    assert job.result["dry_run"] is True
    assert job.result["removed"]["RETENTION_SIGHTING_THUMBNAIL_DAYS"] == 1
    assert job.result["removed"]["RETENTION_DEEPFAKE_CHECKS_DAYS"] == 1
    assert count(db, Sighting, Sighting.thumbnail.is_not(None)) == 2
    assert count(db, DeviceTelemetry) == 2 and count(db, DeepfakeCheck) == 2


def test_periods_are_configurable_and_empty_keeps_for_ever(app, db, seeded):
    update_settings(app, RETENTION_TELEMETRY_DAYS=None, RETENTION_SIGHTINGS_DAYS=30, RETENTION_BATCH=1)
    job = run_retention(app, db)
    assert "RETENTION_TELEMETRY_DAYS" not in job.result["removed"]
    assert count(db, DeviceTelemetry) == 2
    assert job.result["removed"]["RETENTION_SIGHTINGS_DAYS"] == 2  # in batches of one
    assert [s.event_id for s in db.scalars(select(Sighting))] == ["new-thumb"]


def test_the_command_runs_retention_and_refuses_a_bad_period(
    server_env, app, db, seeded, monkeypatch, capsys
):
    monkeypatch.setenv("VISAGE_STORAGE_PATH", str(app.config.get("STORAGE_PATH") or storage(app).root))
    assert main(["server", "retention", "--dry-run"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["dry_run"] is True and printed["removed"]["RETENTION_TELEMETRY_DAYS"] == 1
    assert count(db, DeviceTelemetry) == 2

    monkeypatch.setenv("VISAGE_RETENTION_TELEMETRY_DAYS", "ninety")
    assert main(["server", "retention"]) == 2
    assert "RETENTION_TELEMETRY_DAYS='ninety': must be a whole number" in capsys.readouterr().err


# ---------------------------------------------------------------- unknown faces (issue 15)

EMBEDDING = bytes(range(256)) * 2  # 128 float32s' worth of bytes


def unknown_faces_scene(db) -> None:
    """Unknown and recognised sightings with crops (and embeddings) in a session confirmed 10 days
    ago, one confirmed 2 days ago, and one never confirmed; all received a day ago."""
    from server.db.enums import SessionStatus
    from server.db.models import Course, LectureSession, Student

    now = utcnow()
    device = Device(device_id="cam-9", name="Room 9")
    student = Student(student_number="S1", name="Ada")
    course = Course(code="C1", title="Course")
    db.add_all([device, student, course])
    db.flush()
    confirmations = (("old", now - timedelta(days=10)), ("recent", now - timedelta(days=2)), ("open", None))
    for name, confirmed in confirmations:
        lecture = LectureSession(
            course=course,
            starts_at=now - timedelta(days=11),
            ends_at=now - timedelta(days=11) + timedelta(hours=1),
            status=SessionStatus.CONFIRMED if confirmed else SessionStatus.SCHEDULED,
            confirmed_at=confirmed,
        )
        db.add(lecture)
        db.flush()
        # unknown; recognised by the device; unknown on the device, then assigned in the review
        for who, student_id, embedded in (
            ("unknown", None, True),
            ("known", student.id, False),
            ("assigned", student.id, True),
        ):
            db.add(
                Sighting(
                    event_id=f"{name}-{who}",
                    device_id=device.id,
                    session_id=lecture.id,
                    student_id=student_id,
                    track_id="7",
                    captured_at=lecture.starts_at,
                    received_at=now - RECENT,
                    thumbnail=b"jpeg",
                    embedding=EMBEDDING if embedded else None,
                    embedding_model="sface@2021dec" if embedded else None,
                )
            )
    db.commit()


def faces(db) -> dict[str, tuple]:
    columns = (Sighting.event_id, Sighting.thumbnail, Sighting.embedding, Sighting.embedding_model)
    rows = db.execute(select(*columns))
    return {row[0]: tuple(row[1:]) for row in rows}


def test_unknown_faces_go_a_week_after_their_session_is_confirmed(app, db):
    unknown_faces_scene(db)
    dry = run_retention(app, db, dry_run=True)
    assert dry.result["periods_days"]["RETENTION_UNKNOWN_CROPS_DAYS"] == 7  # the default
    assert dry.result["removed"]["RETENTION_UNKNOWN_CROPS_DAYS"] == 2
    assert all(crop == b"jpeg" for crop, *_ in faces(db).values())  # a dry run deletes nothing

    job = run_retention(app, db)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["removed"]["RETENTION_UNKNOWN_CROPS_DAYS"] == 2
    kept = (b"jpeg", EMBEDDING, "sface@2021dec")
    db.expire_all()
    assert faces(db) == {
        "old-unknown": (None, None, None),  # confirmed 10 days ago: crop and embedding gone
        "old-assigned": (None, None, None),  # unknown when captured: the same rule
        "old-known": (b"jpeg", None, None),  # a recognised student's crop follows its own rule (30 days)
        "recent-unknown": kept,  # confirmed 2 days ago: the instructor may still reopen it
        "recent-assigned": kept,
        "recent-known": (b"jpeg", None, None),
        "open-unknown": kept,  # never confirmed: not decided yet
        "open-assigned": kept,
        "open-known": (b"jpeg", None, None),
    }
    assert count(db, Sighting) == 9  # the sightings stay: attendance is computed from them

    update_settings(app, RETENTION_UNKNOWN_CROPS_DAYS=1)
    assert run_retention(app, db).result["removed"]["RETENTION_UNKNOWN_CROPS_DAYS"] == 2
    db.expire_all()
    assert faces(db)["recent-unknown"] == (None, None, None) and faces(db)["open-unknown"] == kept


def test_the_thumbnail_period_takes_unknown_faces_embeddings_too(app, db):
    unknown_faces_scene(db)
    update_settings(app, RETENTION_SIGHTING_THUMBNAIL_DAYS=1, RETENTION_UNKNOWN_CROPS_DAYS=None)
    db.execute(update(Sighting).values(received_at=utcnow() - timedelta(days=3)))
    db.commit()
    job = run_retention(app, db)
    assert "RETENTION_UNKNOWN_CROPS_DAYS" not in job.result["removed"]
    assert job.result["removed"]["RETENTION_SIGHTING_THUMBNAIL_DAYS"] == 9
    db.expire_all()
    assert set(faces(db).values()) == {(None, None, None)}
