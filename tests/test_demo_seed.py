"""The demo's seeds and classroom, without starting the system: reruns find what the first run made,
the built-in classroom never shows an enrolment photo, and setup errors are one sentence, exit 2."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import sys
from datetime import datetime, timedelta, timezone

import cv2
import pytest
from sqlalchemy import func, select

from server.app import create_app
from server.broker import free_port
from server.db import get_db
from server.db.enums import FaceKind
from server.db.migrate import upgrade
from server.db.models import Course, FaceTemplate, LectureSession, Student, User
from server.demo.seed import COURSE_CODE, seed_accounts, seed_school
from tests.conftest import data_path
from visage.cli import main
from visage.subcommands.demo_classroom import SCRIPTS, built_in, prepare_classroom

FAST_HASHING = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "ARGON2_PARALLELISM": 1}


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    return built_in(data_path("lfw_subset_10x10"), tmp_path_factory.mktemp("classroom"), seed=3)


def test_the_built_in_classroom_keeps_video_and_enrolment_photos_apart(classroom, tmp_path):
    video = cv2.VideoCapture(str(classroom.video))
    frames = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = video.read()
    video.release()
    assert ok and frame.shape[:2] == (720, 1280)
    span = classroom.lead_s + classroom.duration_s
    assert frames * classroom.seconds_per_frame >= span  # the whole lecture is in the video
    roster = set(classroom.enrol)
    assert len(roster) == len(SCRIPTS) - 1  # everyone but the stranger
    assert set(classroom.expected.values()) == {"present", "late", "left_early", "absent"}
    meta = json.loads((classroom.video.parent / "classroom.json").read_text())
    assert meta["video"] == "classroom.avi"
    # Enrolment uses a person's first photos; the video shows their last one, never enrolled.
    for name, photos in classroom.enrol.items():
        assert 1 <= len(photos) <= 5 and all(p.parent.name == name for p in photos)
        assert sorted(photos[0].parent.iterdir())[-1] not in photos
    again = built_in(data_path("lfw_subset_10x10"), classroom.video.parent, seed=3)  # cached
    assert again.enrol == classroom.enrol and again.video == classroom.video


def make_app(instance):
    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "DATABASE_URL": f"sqlite:///{instance / 'visage.db'}",
            "TESTING": True,
            **FAST_HASHING,
        }
    )
    upgrade(app.config["DATABASE_URL"])
    return app


def test_seeding_twice_finds_the_same_world_and_moves_the_lecture(classroom, tmp_path, registry):
    app = make_app(tmp_path)
    start = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    with app.app_context(), get_db(app).session() as session:
        first_logins = seed_accounts(app, session, tmp_path)
        first = seed_school(session, classroom.enrol, start, classroom.duration_s)
    assert first.enrolled_photos > 0  # through the strict enrolment gate, which refuses some
    logins_file = tmp_path / "demo-logins.json"
    assert stat.S_IMODE(os.stat(logins_file).st_mode) == 0o600

    later = start + timedelta(minutes=20)  # overlaps the first lecture in the same room
    with app.app_context(), get_db(app).session() as session:
        second_logins = seed_accounts(app, session, tmp_path)
        second = seed_school(session, classroom.enrol, later, classroom.duration_s)
        assert second_logins == first_logins  # the printed passwords still work
        assert second.enrolled_photos == 0 and second.students == first.students
        assert session.scalar(select(func.count()).select_from(User)) == 3
        assert session.scalar(select(func.count()).select_from(Course).where(Course.code == COURSE_CODE)) == 1
        assert session.scalar(select(func.count()).select_from(Student)) == len(classroom.enrol)
        photos = session.scalar(
            select(func.count()).select_from(FaceTemplate).where(FaceTemplate.kind == FaceKind.PHOTO)
        )
        assert photos == first.enrolled_photos
        lectures = session.scalars(select(LectureSession)).all()
        assert [(lecture.id, lecture.starts_at) for lecture in lectures] == [(second.session_id, later)]

    logins_file.unlink()  # lost: new passwords, and the accounts take them
    with app.app_context(), get_db(app).session() as session:
        third = seed_accounts(app, session, tmp_path)
    assert {login.email for login in third} == {login.email for login in first_logins}
    assert all(a.password != b.password for a, b in zip(third, first_logins, strict=True))
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    answer = client.post(
        "/login", data={"email": third[1].email, "password": third[1].password, "csrf_token": token}
    )
    assert answer.status_code == 302 and "/login" not in answer.headers["Location"]


def test_setup_errors_are_one_sentence_and_exit_code_2(tmp_path, capsys, registry):
    missing = tmp_path / "no-such-folder"
    assert main(["demo", "--faces", str(missing), "--instance", str(tmp_path / "i")]) == 2
    assert "is not a folder" in capsys.readouterr().err

    faces = data_path("lfw_subset_10x10")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port()))
        holder.listen()
        port = holder.getsockname()[1]
        code = main(["demo", "--faces", str(faces), "--port", str(port), "--instance", str(tmp_path / "i")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("visage: ") and f"port {port}" in err and "--port" in err
    assert not (tmp_path / "i").exists()  # nothing half-made


def test_the_demo_falls_back_to_the_built_in_classroom(tmp_path, monkeypatch, caplog):
    """A simulator that cannot cast the class (10 people for 24 seats) or is not installed at all:
    the demo still gets a lecture, from the built-in composition."""
    faces = data_path("lfw_subset_10x10")
    caplog.set_level("INFO")
    failed = prepare_classroom(faces, tmp_path / "a", seed=1, seats=24)
    assert failed.source == "built-in" and failed.video.is_file()
    assert "classroom simulator failed" in caplog.text

    monkeypatch.setitem(sys.modules, "simulate", None)  # import simulate -> ImportError
    missing = prepare_classroom(faces, tmp_path / "b", seed=1)
    assert missing.source == "built-in" and "not installed" in caplog.text
    assert missing.enrol == failed.enrol  # same seed, same people
