"""Bad input to the album: every refusal is a 4xx with a message, and nothing is half-stored (no
photo row, no file in storage). Real files: a text file, a truncated JPEG, a decompression bomb, zip
bombs, zips with `../` names and symbolic links, a huge file, a zero-byte file. On SQLite and MariaDB."""

from __future__ import annotations

import functools
import io
import stat
import zipfile

import pytest
from PIL import Image

from server.settings import update_settings
from tests.server.conftest import csrf_token_from
from tests.server.test_server_album_support import (
    album_users,
    bearer,
    counts,
    lfw,
    make_zip,
    stored_files,
    upload,
)


@pytest.fixture
def users(app, make_user, make_token):
    return album_users(make_user, make_token)


def photo() -> tuple[str, bytes]:
    return lfw("Tony_Blair", 1)


@functools.cache
def bomb_png() -> bytes:
    """A real PNG of 20,000 x 20,000 pixels (400 Mpx) that compresses to a few hundred kB."""
    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, "PNG")
    return buffer.getvalue()


def zip_with_symlink() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(*photo())
        link = zipfile.ZipInfo("link.jpg")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    return buffer.getvalue()


@functools.cache
def zip_bomb() -> bytes:
    """One member of 200 MB of zeros: deflate makes it ~200 kB (a ratio of ~1000)."""
    buffer = io.BytesIO()
    chunk = bytes(1024 * 1024)
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("big.jpg", "w", force_zip64=True) as member,
    ):
        for _ in range(200):
            member.write(chunk)
    return buffer.getvalue()


def assert_nothing_stored(app, db) -> None:
    assert counts(db) == (0, 0)
    assert stored_files(app) == []


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("notes.jpg", b"these are my holiday notes, not a photo\n" * 20, "not an image"),
        ("cut.jpg", photo()[1][:4000], "corrupt or truncated"),
        ("bomb.png", None, "too large"),
        ("empty.jpg", b"", "empty (0 bytes)"),
    ],
    ids=["not-an-image", "truncated-jpeg", "decompression-bomb", "zero-bytes"],
)
def test_a_bad_file_is_refused_with_its_reason_and_nothing_is_stored(
    app, client, db, users, name, data, message
):
    data = bomb_png() if data is None else data
    response = upload(client, users.alice_token, (name, data))
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert message in body["error"] and name in body["error"]
    assert body["files"] == [
        {"filename": name, "status": "rejected", "reason": body["files"][0]["reason"], "photo_id": None}
    ]
    assert message in body["files"][0]["reason"]
    assert body["job"] is None
    assert_nothing_stored(app, db)


def test_good_and_bad_files_together_store_only_the_good_one(app, client, db, users):
    response = upload(client, users.alice_token, photo(), ("cut.jpg", photo()[1][:3000]))
    assert response.status_code == 201
    body = response.get_json()
    assert [f["status"] for f in body["files"]] == ["stored", "rejected"]
    assert counts(db) == (1, 0)
    assert len(stored_files(app)) == 2  # the original and its thumbnail


@pytest.mark.parametrize(
    ("archive", "status", "message"),
    [
        (lambda: make_zip({"../escape.jpg": photo()[1]}), 400, "points outside the archive"),
        (lambda: make_zip({"/etc/evil.jpg": photo()[1]}), 400, "absolute path"),
        (zip_with_symlink, 400, "symbolic link"),
        (zip_bomb, 400, "zip bomb"),
        (lambda: b"PK\x03\x04 not really a zip", 400, "not a readable zip"),
    ],
    ids=["dot-dot", "absolute", "symlink", "zip-bomb", "broken-zip"],
)
def test_a_hostile_zip_is_refused_as_a_whole(app, client, db, users, archive, status, message):
    # A good photo in the same request is not stored either: the request is refused as a whole.
    data = {"zip": [(io.BytesIO(archive()), "photos.zip")], "photos": [(io.BytesIO(photo()[1]), "good.jpg")]}
    response = client.post("/api/v1/album/photos", data=data, headers=bearer(users.alice_token))
    assert response.status_code == status, response.get_json()
    assert message in response.get_json()["error"]
    assert_nothing_stored(app, db)


def test_a_zip_of_photos_is_stored_and_its_junk_listed(app, client, db, users):
    members = {
        "trip/a.jpg": lfw("Tony_Blair", 1)[1],
        "trip/b.jpg": lfw("Tony_Blair", 2)[1],
        "__MACOSX/._a.jpg": b"resource fork",
        "notes.txt": b"hello",
        "broken.jpg": b"\xff\xd8\xff\xe0 truncated",
    }
    response = upload(client, users.alice_token, ("trip.zip", make_zip(members)), field="zip")
    assert response.status_code == 201
    by_name = {f["filename"]: f for f in response.get_json()["files"]}
    assert by_name["a.jpg"]["status"] == "stored" and by_name["b.jpg"]["status"] == "stored"
    assert by_name["notes.txt"]["status"] == "ignored" and by_name["__MACOSX/._a.jpg"]["status"] == "ignored"
    assert by_name["broken.jpg"]["status"] == "rejected"
    assert counts(db) == (2, 0)
    assert response.get_json()["job"]["status"] == "queued"


def test_a_huge_upload_is_refused_before_it_is_read(app, client, db, users):
    update_settings(app, ALBUM_MAX_UPLOAD_BYTES=1024 * 1024)
    big = ("huge.jpg", photo()[1] + bytes(2 * 1024 * 1024))
    response = upload(client, users.alice_token, big)
    assert response.status_code == 413
    assert "more than the 1.0 MiB limit" in response.get_json()["error"]
    assert_nothing_stored(app, db)


def test_a_photo_over_the_per_photo_limit_is_refused(app, client, db, users):
    update_settings(app, ALBUM_MAX_PHOTO_BYTES=10_000)
    response = upload(client, users.alice_token, ("big.jpg", photo()[1] + bytes(20_000)))
    assert response.status_code == 422
    assert "limit for a photo" in response.get_json()["files"][0]["reason"]
    assert_nothing_stored(app, db)


def test_the_same_photo_twice_is_a_duplicate_not_a_second_copy(app, client, db, users):
    first = upload(client, users.alice_token, photo())
    again = upload(client, users.alice_token, ("renamed.jpg", photo()[1]))
    assert first.status_code == 201 and again.status_code == 201
    (entry,) = again.get_json()["files"]
    assert entry["status"] == "duplicate" and entry["photo_id"] == first.get_json()["files"][0]["photo_id"]
    assert again.get_json()["job"] is None
    assert counts(db) == (1, 0)
    # Another user uploading the same bytes gets their own copy: duplicates are per user.
    other = upload(client, users.bob_token, photo())
    assert other.get_json()["files"][0]["status"] == "stored"
    assert counts(db) == (2, 0)


def test_requests_without_files_or_of_the_wrong_type_answer_4xx(app, client, db, users):
    empty = client.post(
        "/api/v1/album/photos", data={}, headers=bearer(users.alice_token), content_type="multipart/form-data"
    )
    assert empty.status_code == 400 and "no photo in the request" in empty.get_json()["error"]
    json_body = client.post("/api/v1/album/photos", json={"x": 1}, headers=bearer(users.alice_token))
    assert json_body.status_code == 415
    search = client.post(
        "/api/v1/album/searches",
        data={"key": (io.BytesIO(b"nope"), "k.jpg")},
        headers=bearer(users.alice_token),
    )
    assert search.status_code == 422 and "not an image" in search.get_json()["error"]
    album = client.post("/api/v1/album/albums", json={"name": "  "}, headers=bearer(users.alice_token))
    assert album.status_code == 400 and "needs a name" in album.get_json()["error"]
    assert_nothing_stored(app, db)


def test_the_web_form_refuses_a_bad_file_with_an_html_page(app, client, db, users, login):
    from tests.server.conftest import PASSWORD

    login(client, users.alice.email, PASSWORD)
    page = client.get("/album")
    token = csrf_token_from(page.get_data(as_text=True))
    response = client.post(
        "/album/upload",
        data={"csrf_token": token, "photos": [(io.BytesIO(make_zip({"../x.jpg": photo()[1]})), "x.zip")]},
    )
    assert response.status_code == 400
    assert "points outside the archive" in response.get_data(as_text=True)
    assert_nothing_stored(app, db)


def test_exif_orientation_is_applied_for_display_and_the_original_kept_unchanged(app, client, db, users):
    picture = Image.open(io.BytesIO(photo()[1])).resize((300, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; viewers rotate 90 degrees clockwise
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    data = buffer.getvalue()
    response = upload(client, users.alice_token, ("sideways.jpg", data), index="0")
    assert response.status_code == 201 and response.get_json()["job"] is None
    photo_id = response.get_json()["files"][0]["photo_id"]
    body = client.get(f"/api/v1/album/photos/{photo_id}", headers=bearer(users.alice_token)).get_json()
    assert (body["width"], body["height"]) == (200, 300) and body["status"] == "pending"
    thumbnail = client.get(body["thumbnail_url"], headers=bearer(users.alice_token))
    assert Image.open(io.BytesIO(thumbnail.data)).size[1] > Image.open(io.BytesIO(thumbnail.data)).size[0]
    original = client.get(body["original_url"], headers=bearer(users.alice_token))
    assert original.data == data and original.mimetype == "image/jpeg"
    queued = client.post("/api/v1/album/index", headers=bearer(users.alice_token)).get_json()
    assert queued["photos"] == 1 and queued["job"]["status"] == "queued"


def test_albums_group_photos_and_deleting_one_keeps_its_photos(app, client, db, users):
    token = bearer(users.alice_token)
    created = client.post("/api/v1/album/albums", json={"name": " Summer   2025 "}, headers=token)
    assert created.status_code == 201 and created.get_json()["name"] == "Summer 2025"
    album_id = created.get_json()["id"]
    clash = client.post("/api/v1/album/albums", json={"name": "Summer 2025"}, headers=token)
    assert clash.status_code == 409 and "already have an album" in clash.get_json()["error"]
    assert upload(client, users.alice_token, photo(), album_id=str(album_id), index="0").status_code == 201
    assert upload(client, users.alice_token, lfw("Tony_Blair", 2), index="0").status_code == 201
    in_album = client.get(f"/api/v1/album/photos?album_id={album_id}", headers=token).get_json()
    assert in_album["total"] == 1 and in_album["photos"][0]["album_id"] == album_id
    renamed = client.patch(f"/api/v1/album/albums/{album_id}", json={"name": "Holidays"}, headers=token)
    assert renamed.status_code == 200 and renamed.get_json() == {
        **renamed.get_json(),
        "name": "Holidays",
        "photos": 1,
    }
    assert client.delete(f"/api/v1/album/albums/{album_id}", headers=token).status_code == 200
    assert client.get("/api/v1/album/albums", headers=token).get_json() == []
    everything = client.get("/api/v1/album/photos", headers=token).get_json()
    assert everything["total"] == 2 and {p["album_id"] for p in everything["photos"]} == {None}
    assert counts(db) == (2, 0) and len(stored_files(app)) == 4
