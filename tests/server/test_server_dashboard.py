"""The home dashboards (SQLite and MariaDB): GET /api/v1/dashboard and the home page for an
instructor (today's and next sessions with live counts that agree with the session's attendance,
unconfirmed past sessions), an administrator (devices online/offline, refused messages, job queue)
and an album user (indexing counts, recent uploads, people); each role sees only its own section."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.db import utcnow
from server.db.models import (
    AlbumPhoto,
    Classroom,
    Course,
    Device,
    DeviceHealth,
    Job,
    LectureSession,
    RejectedMessage,
)
from server.db.models.jobs import JobStatus
from tests.server.conftest import PASSWORD
from tests.server.live_seed import live_world


@pytest.fixture
def world(db, make_user, make_token):
    owner = make_user("instructor", email="owner@school.example", display_name="Olga Owner")
    now = utcnow().replace(microsecond=0)
    w = live_world(db, owner, now)
    other = make_user("instructor", email="other@school.example")
    course = db.get(LectureSession, w.running).course
    later = LectureSession(
        course=course,
        starts_at=now + timedelta(days=2),
        ends_at=now + timedelta(days=2, hours=1),
        period_minutes=60,
    )
    theirs = Course(code="OTHER1", title="Not hers", instructor=other)
    db.add_all([later, theirs])
    db.flush()
    db.add(
        LectureSession(course=theirs, starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1))
    )
    db.commit()
    w.later = later.id
    w.h = {"Authorization": f"Bearer {make_token(owner)}"}
    return w


def board(client, headers) -> dict:
    response = client.get("/api/v1/dashboard", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_instructor_dashboard_counts_agree_with_the_attendance(client, world):
    w = world
    data = board(client, w.h)
    assert data["role"] == "instructor" and data["admin"] is None and data["album"] is None
    ins = data["instructor"]
    assert [s["id"] for s in ins["today"]] == [w.running]  # not the other instructor's session
    card = ins["today"][0]
    assert card["state"] == "running" and card["url"] == f"/attendance/sessions/{w.running}"
    attendance = client.get(f"/api/v1/sessions/{w.running}/attendance", headers=w.h).get_json()
    statuses = attendance["counts"]
    assert card["counts"]["present"] == statuses["present"]
    assert card["counts"]["absent"] == statuses["absent"]
    assert card["counts"]["students"] == 3
    live = [row["live"]["state"] for row in attendance["students"]]
    assert card["counts"]["out"] == live.count("out") == 1  # Cho walked out 5 minutes ago
    assert card["counts"]["unknown"] == attendance["unknown_faces_pending"] == 0
    assert [(s["id"], s["state"], s["counts"]) for s in ins["next"]] == [(w.later, "upcoming", None)]
    assert [s["id"] for s in ins["unconfirmed"]] == [w.ended]


def test_confirmed_sessions_leave_the_unconfirmed_list(client, world):
    w = world
    response = client.post(f"/api/v1/sessions/{w.ended}/confirm", headers=w.h)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert board(client, w.h)["instructor"]["unconfirmed"] == []


def test_instructor_home_page_shows_the_sessions(client, world, login):
    w = world
    assert login(client, "owner@school.example", PASSWORD).status_code == 302
    html = client.get("/").get_data(as_text=True)
    assert "Today's sessions" in html and "LIVE1 · Live roster" in html
    assert f'data-session="{w.running}" data-count="out">1<' in html
    assert f'href="/attendance/sessions/{w.ended}"' in html  # to confirm
    assert "OTHER1" not in html
    assert 'data-url="/api/v1/dashboard"' in html and "live.js" in html and "dashboard.js" in html


def test_admin_dashboard(client, db, make_user, make_token, login):
    admin = make_user("admin", email="root@school.example")
    now = utcnow()
    room = Classroom(name="R1")
    up, down, silent = (
        Device(device_id=f"cam-{n}", name=f"Cam {n}", classroom=room) for n in ("a", "b", "c")
    )
    db.add_all([room, up, down, silent])
    db.flush()
    db.add_all(
        [DeviceHealth(device_id=up.id, status="online"), DeviceHealth(device_id=down.id, status="offline")]
    )
    db.add_all(
        RejectedMessage(
            topic="visage/x/sightings",
            device_id="x",
            reason="unknown_device",
            detail="?",
            received_at=now - age,
            payload_size=2,
            payload_head=b"{}",
        )
        for age in (timedelta(minutes=1), timedelta(hours=2), timedelta(days=3))
    )
    db.add_all(
        [
            Job(kind="album.index", payload={}, status=JobStatus.QUEUED),
            Job(kind="album.index", payload={}, status=JobStatus.QUEUED),
            Job(kind="album.index", payload={}, status=JobStatus.RUNNING),
            Job(
                kind="album.index", payload={}, status=JobStatus.FAILED, finished_at=now - timedelta(hours=1)
            ),
            Job(kind="album.index", payload={}, status=JobStatus.FAILED, finished_at=now - timedelta(days=2)),
        ]
    )
    db.commit()
    data = board(client, {"Authorization": f"Bearer {make_token(admin)}"})
    assert data["instructor"] is None and data["album"] is None
    adm = data["admin"]
    assert adm["devices"] == {"total": 3, "online": 1, "offline": 2, "offline_names": ["Cam b", "Cam c"]}
    assert adm["rejected"]["last_24h"] == 2 and len(adm["rejected"]["newest"]) == 3
    assert adm["jobs"] == {"queued": 2, "running": 1, "failed_24h": 1}
    assert login(client, "root@school.example", PASSWORD).status_code == 302
    html = client.get("/").get_data(as_text=True)
    assert '<b data-field="admin.devices.offline">2</b>' in html
    assert '<b data-field="admin.jobs.queued">2</b>' in html and "Offline: Cam b, Cam c" in html


def test_album_dashboard(client, db, make_user, make_token, login):
    user = make_user("album_user", email="al@home.example")
    stranger = make_user("album_user", email="st@home.example")
    base = utcnow()

    def photo(owner, n: int, status: str) -> AlbumPhoto:
        return AlbumPhoto(
            owner_id=owner.id,
            filename=f"p{n}.jpg",
            sha256=f"{n:064d}",
            content_type="image/jpeg",
            size_bytes=10,
            width=10,
            height=10,
            storage_key=f"k{n}",
            thumbnail_key=f"t{n}",
            status=status,
            created_at=base - timedelta(minutes=n),
        )

    db.add_all([photo(user, 1, "indexed"), photo(user, 2, "pending"), photo(user, 3, "failed")])
    db.add(photo(stranger, 4, "indexed"))
    db.commit()
    headers = {"Authorization": f"Bearer {make_token(user)}"}
    data = board(client, headers)
    assert data["instructor"] is None and data["admin"] is None
    album = data["album"]
    assert album["photos"] == {"pending": 1, "indexing": 0, "indexed": 1, "failed": 1, "total": 3}
    assert [p["filename"] for p in album["recent"]] == [
        "p1.jpg",
        "p2.jpg",
        "p3.jpg",
    ]  # newest first; hers only
    assert album["people"] == []
    listing = client.get(
        "/api/v1/album/photos?per_page=1", headers=headers
    ).get_json()  # what the library polls
    assert listing["counts"] == {"pending": 1, "indexing": 0, "indexed": 1, "failed": 1}  # all pages, not one
    assert len(listing["photos"]) == 1
    assert login(client, "al@home.example", PASSWORD).status_code == 302
    html = client.get("/").get_data(as_text=True)
    assert '<b data-field="album.photos.total">3</b>' in html and 'alt="p1.jpg"' in html


def test_a_student_gets_no_section(client, make_user, make_token):
    student = make_user("student", email="stu@school.example")
    data = board(client, {"Authorization": f"Bearer {make_token(student)}"})
    assert (data["instructor"], data["admin"], data["album"]) == (None, None, None)


def test_signed_out_is_refused(client):
    assert client.get("/api/v1/dashboard").status_code == 401
