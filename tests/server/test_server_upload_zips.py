"""Hostile zips and size reports (issue 14), on SQLite and MariaDB: a zip whose directory entries
share or overlap their bytes, or whose many small members inflate a hundred times the archive, is
refused as a whole before anything is inflated, and nothing is stored; a file over a limit is
reported with its real size, never "30.0 MB, more than the 30.0 MB limit". Every hostile file is
generated here (tests/server/hostile_media.py)."""

from __future__ import annotations

import io
import re
import time

import pytest

from server.settings import update_settings
from server.uploads.archive import ArchiveError, PhotoArchive
from server.uploads.policy import MiB, over_limit, size_and_limit
from tests.server.hostile_media import many_small_bombs_zip, overlapping_zip, picture, shared_data_zip
from tests.server.test_server_album_support import album_users, bearer, counts, lfw, make_zip, upload
from tests.server.uploads_support import stored_files

LIMITS = {"max_members": 5000, "max_total": 4096 * MiB, "max_ratio": 100, "max_member_bytes": 30 * MiB}


@pytest.fixture
def users(app, make_user, make_token):
    return album_users(make_user, make_token)


def assert_nothing_stored(app, db) -> None:
    assert counts(db) == (0, 0)
    assert stored_files(app) == []


@pytest.mark.parametrize(
    "build",
    [
        lambda: shared_data_zip(lfw("Tony_Blair", 1)[1], 3, deflate=False),
        lambda: overlapping_zip(picture(64, 64)),
        lambda: shared_data_zip(bytes(1_000_000), 4000),
    ],
    ids=["shared-member", "member-inside-member", "4000-entries-one-member"],
)
def test_zip_entries_that_share_bytes_are_refused_before_inflating(build):
    started = time.monotonic()
    with pytest.raises(ArchiveError, match="share the same bytes"):
        PhotoArchive(build(), **LIMITS)
    assert time.monotonic() - started < 2.0


def test_many_small_members_that_inflate_a_hundredfold_are_a_zip_bomb():
    bombs = many_small_bombs_zip(120)  # 120 MB of zeros in ~130 kB; each member under 1 MiB
    with pytest.raises(ArchiveError, match="zip bomb"):
        PhotoArchive(bombs, **LIMITS)
    photos = make_zip({f"p{i}.jpg": lfw("Tony_Blair", 1)[1] for i in range(3)})
    assert len(PhotoArchive(photos, **LIMITS).entries) == 3  # real photos hardly compress


def test_the_issues_zip_is_refused_at_once_and_nothing_is_stored(app, client, db, users):
    """209 kB, 4,000 directory entries pointing at one 1 MB member: it inflated 4 GB in 16 s."""
    hostile = shared_data_zip(bytes(1_000_000), 4000)
    assert len(hostile) < 250_000
    started = time.monotonic()
    response = upload(client, users.alice_token, ("album.zip", hostile), field="zip")
    elapsed = time.monotonic() - started
    assert response.status_code == 400, response.get_json()
    assert "share the same bytes" in response.get_json()["error"]
    assert elapsed < 5.0
    assert_nothing_stored(app, db)


def test_a_shared_data_zip_with_a_good_photo_stores_nothing(app, client, db, users):
    good = lfw("Tony_Blair", 1)
    response = client.post(
        "/api/v1/album/photos",
        data={
            "photos": [(io.BytesIO(good[1]), good[0])],
            "zip": [(io.BytesIO(shared_data_zip(good[1], 3, deflate=False)), "photos.zip")],
        },
        headers=bearer(users.alice_token),
    )
    assert response.status_code == 400 and "share the same bytes" in response.get_json()["error"]
    assert_nothing_stored(app, db)


def test_the_enrolment_import_refuses_a_shared_data_zip_and_writes_nothing(
    app, client, db, make_user, make_token
):
    from sqlalchemy import func, select

    from server.db.models import Course, FaceTemplate, Student

    ada = make_user("instructor", email="ada@school.example")
    course = Course(code="A101", title="Ada's course", instructor_id=ada.id)
    db.add(course)
    db.commit()
    hostile = shared_data_zip(lfw("Tony_Blair", 1)[1], 3, name="S001.jpg", deflate=False)
    csv = b"student_number,name\nS001,Tony Blair\n"
    response = client.post(
        f"/api/v1/courses/{course.id}/enrolment/import",
        data={"students": (io.BytesIO(csv), "students.csv"), "photos": (io.BytesIO(hostile), "photos.zip")},
        headers=bearer(make_token(ada)),
    )
    assert response.status_code == 400 and "share the same bytes" in response.get_json()["error"]
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Student)) == 0
    assert db.scalar(select(func.count()).select_from(FaceTemplate)) == 0
    assert stored_files(app) == []


SIZES = re.compile(r"([\d.,]+) (MiB|bytes), more than the ([\d.,]+)[ -](MiB|byte) limit")


@pytest.mark.parametrize(
    ("size", "limit"),
    [
        (31 * MiB, 30 * MiB),
        (30 * MiB + 1, 30 * MiB),
        (30 * MiB + 6000, 30 * MiB),
        (2048, 2000),
        (200_001, 200_000),
    ],
)
def test_a_size_and_its_limit_never_read_the_same(size, limit):
    size_text, limit_text = size_and_limit(size, limit)
    assert size_text != limit_text
    assert SIZES.search(over_limit(size, limit))


def test_the_issues_31_mib_photo_is_reported_as_31_mib(app, client, db, users):
    """The per-photo cap (30 MiB) cut the read at 30 MiB + 1 byte, and the message said 30.0 MB."""
    response = upload(client, users.alice_token, ("big.jpg", lfw("Tony_Blair", 1)[1] + bytes(31 * MiB)))
    assert response.status_code == 422
    reason = response.get_json()["files"][0]["reason"]
    assert "31.0 MiB, more than the 30.0 MiB limit for a photo" in reason, reason
    assert_nothing_stored(app, db)


def test_a_key_photo_over_its_limit_is_reported_with_its_size(app, client, users):
    update_settings(app, ALBUM_MAX_PHOTO_BYTES=MiB)
    update_settings(app, ALBUM_MAX_UPLOAD_BYTES=10 * MiB)
    key = lfw("Tony_Blair", 1)[1] + bytes(MiB)
    response = client.post(
        "/api/v1/album/searches",
        data={"key": (io.BytesIO(key), "key.jpg")},
        headers=bearer(users.alice_token),
    )
    assert response.status_code == 413
    size, limit = SIZES.search(response.get_json()["error"]).group(1, 3)
    assert size != limit and float(size) == pytest.approx(len(key) / MiB, abs=0.05)
