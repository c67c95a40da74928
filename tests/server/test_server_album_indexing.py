"""The album's indexing job with the real face core: every face stored with its box in display pixels
(EXIF orientation applied), a group photo gives one face row per person, a photo is analysed once
even when two jobs name it, and a photo whose file is gone fails with the reason while the job goes
on. On SQLite and MariaDB."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from server.db.models import AlbumFace, AlbumPhoto
from server.faces.model import DEFAULT_MODEL
from tests.conftest import data_path
from tests.server.test_server_album_support import album_users, bearer, lfw, run_jobs, share_analyzer, upload


@pytest.fixture
def users(app, analyzer, make_user, make_token):
    share_analyzer(app, analyzer)
    return album_users(make_user, make_token)


def test_every_face_of_a_group_photo_is_indexed_with_boxes_on_the_rotated_picture(app, client, db, users):
    group = data_path("facenet_pytorch_data", "multiface.jpg").read_bytes()
    # The same group photo stored sideways with an EXIF orientation tag: faces must come out the same.
    picture = Image.open(io.BytesIO(group)).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 8  # viewers rotate 90 degrees counter-clockwise
    buffer = io.BytesIO()
    picture.rotate(-90, expand=True).save(buffer, "JPEG", quality=92, exif=exif.tobytes())
    response = upload(client, users.alice_token, ("group.jpg", group), ("sideways.jpg", buffer.getvalue()))
    assert response.status_code == 201
    run_jobs(app)
    photos = {p.filename: p for p in db.scalars(select(AlbumPhoto))}
    upright, sideways = photos["group.jpg"], photos["sideways.jpg"]
    assert (sideways.width, sideways.height) == (upright.width, upright.height)
    assert upright.status == sideways.status == "indexed" and upright.face_count == 6
    assert sideways.face_count == upright.face_count
    boxes = {
        name: np.array(sorted([f.box_x, f.box_y, f.box_w, f.box_h] for f in photo.faces))
        for name, photo in photos.items()
    }
    assert np.abs(boxes["group.jpg"] - boxes["sideways.jpg"]).max() < 8  # pixels
    for face in upright.faces:
        assert face.box_x + face.box_w <= upright.width and face.box_y + face.box_h <= upright.height
        assert len(face.landmarks) == 5 and face.dim == 128 and face.model == DEFAULT_MODEL
        assert face.quality["face_px"] > 20 and "passed" in face.quality
        crop = client.get(f"/api/v1/album/faces/{face.id}/crop", headers=bearer(users.alice_token))
        assert crop.status_code == 200 and Image.open(io.BytesIO(crop.data)).size == (112, 112)
    assert upright.sharpness > 0 and upright.blurred is False


def test_a_photo_is_analysed_once_and_a_missing_file_fails_alone(app, client, db, users):
    token = users.alice_token
    first = upload(client, token, lfw("Tony_Blair", 1), lfw("Tony_Blair", 2), index="0").get_json()
    jobs = [client.post("/api/v1/album/index", headers=bearer(token)).get_json()["job"] for _ in range(2)]
    assert jobs[0]["id"] != jobs[1]["id"]
    # The second photo's original disappears from storage before the analysis.
    lost = db.get(AlbumPhoto, first["files"][1]["photo_id"])
    from server.storage import storage

    storage(app).delete(lost.storage_key)
    assert run_jobs(app) == 2
    results = [client.get(job["url"], headers=bearer(token)).get_json() for job in jobs]
    assert [r["status"] for r in results] == ["succeeded", "succeeded"]
    assert results[0]["result"]["indexed"] == 1 and results[0]["result"]["failed"] == 1
    assert results[1]["result"]["indexed"] == 0  # both photos were already taken by the first job
    db.expire_all()
    faces = db.scalars(select(AlbumFace)).all()
    assert len(faces) == 1 and faces[0].photo_id == first["files"][0]["photo_id"]
    assert (
        db.get(AlbumPhoto, lost.id).status == "failed"
        and "no stored file" in db.get(AlbumPhoto, lost.id).error
    )
