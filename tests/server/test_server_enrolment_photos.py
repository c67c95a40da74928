"""Enrolling a student's photos through the API and the web page, with real photos and the real face
core: accepted photos give embeddings and a new gallery version; group photos, photos without a face
and corrupt files are refused with their reason; limits answer 413; on SQLite and MariaDB."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from server.db.enums import FaceKind
from server.db.models import AuditLog, CourseGallery, EnrolmentRejection, FaceTemplate
from server.enrolment.gallery import canonical_sha256
from server.faces.model import DEFAULT_MODEL
from server.settings import update_settings
from shared.embed import DEFAULT_EMBEDDER, EMBEDDERS
from tests.server.conftest import PASSWORD, csrf_token_from
from tests.server.test_server_enrolment_support import (
    bearer,
    example,
    files,
    group_photo,
    no_face_photo,
    seed_school,
    share_analyzer,
)


@pytest.fixture
def school(app, analyzer, db, make_user, make_token):
    share_analyzer(app, analyzer)
    return seed_school(db, make_user, make_token)


def upload(client, token, student_id, *named):
    return client.post(
        f"/api/v1/students/{student_id}/photos", data=files("photos", *named), headers=bearer(token)
    )


def count(db, model, *where) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where))


def test_photo_of_one_person_is_enrolled_and_published(client, db, school):
    response = upload(client, school.ada_token, school.ann, ("obama.jpg", example("obama.jpg")))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["rejected"] == [] and body["photos"] == 1
    (photo,) = body["accepted"]
    assert photo["filename"] == "obama.jpg" and photo["model"] == DEFAULT_MODEL and photo["dim"] == 128
    assert photo["quality"]["face_px"] >= 80 and photo["quality"]["sharpness"] >= 60
    assert photo["quality"]["background_faces"] == 1  # a small unclear detection, not a second person
    assert body["galleries"][0]["course_id"] == school.a101 and body["galleries"][0]["version"] == 1

    row = db.get(FaceTemplate, photo["id"])
    assert (
        row.kind == FaceKind.PHOTO and row.purpose == "attendance-enrolment" and row.student_id == school.ann
    )
    embedding = np.frombuffer(row.embedding, dtype="<f4")
    assert embedding.shape == (128,) and np.isfinite(embedding).all() and np.linalg.norm(embedding) > 0.1
    assert Image.open(io.BytesIO(row.thumbnail)).format == "JPEG"
    template = db.scalars(
        select(FaceTemplate).where(
            FaceTemplate.student_id == school.ann, FaceTemplate.kind == FaceKind.TEMPLATE
        )
    ).one()
    assert np.allclose(
        np.frombuffer(template.embedding, "<f4"), embedding / np.linalg.norm(embedding), atol=1e-6
    )
    assert (
        db.scalar(select(AuditLog.action).where(AuditLog.entity_id == str(row.id))) == "enrolment.photo_added"
    )

    thumbnail = client.get(photo["thumbnail_url"], headers=bearer(school.ada_token))
    assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/jpeg"

    gallery = client.get(
        f"/api/v1/courses/{school.a101}/gallery", headers=bearer(school.ada_token)
    ).get_json()
    assert gallery["version"] == 1 and gallery["model"] == DEFAULT_MODEL and gallery["metric"] == "cosine"
    assert gallery["threshold"] == pytest.approx(EMBEDDERS[DEFAULT_EMBEDDER]["strict_threshold"])
    assert gallery["sha256"] == canonical_sha256(gallery)
    (student,) = gallery["students"]
    assert student["student_id"] == school.ann and student["student_number"] == "A-1"
    assert np.array_equal(np.asarray(student["embeddings"], dtype=np.float32), embedding[None])

    listing = client.get(f"/api/v1/students/{school.ann}/photos", headers=bearer(school.ada_token)).get_json()
    assert [p["id"] for p in listing["photos"]] == [photo["id"]] and listing["rejected"] == []
    assert "embedding" not in listing["photos"][0]


def test_gallery_version_follows_photos_added_and_removed(client, db, school):
    token = school.ada_token
    first = upload(client, token, school.ann, ("obama.jpg", example("obama.jpg"))).get_json()
    v1 = client.get(f"/api/v1/courses/{school.a101}/gallery", headers=bearer(token)).get_json()
    again = client.get(f"/api/v1/courses/{school.a101}/gallery", headers=bearer(token)).get_json()
    assert (again["version"], again["sha256"]) == (v1["version"], v1["sha256"])  # reading changes nothing
    held = {**bearer(token), "If-None-Match": f'"{v1["sha256"]}"'}
    assert client.get(f"/api/v1/courses/{school.a101}/gallery", headers=held).status_code == 304

    second = upload(client, token, school.ann, ("obama2.jpg", example("obama2.jpg")))
    assert second.status_code == 201
    assert second.get_json()["accepted"][0]["warnings"] == []  # the same person as the first photo
    v2 = client.get(f"/api/v1/courses/{school.a101}/gallery", headers=bearer(token)).get_json()
    assert v2["version"] == v1["version"] + 1 and v2["sha256"] != v1["sha256"]
    assert len(v2["students"][0]["embeddings"]) == 2
    assert client.get(f"/api/v1/courses/{school.a101}/gallery", headers=held).status_code == 200  # changed

    duplicate = upload(client, token, school.ann, ("copy.jpg", example("obama2.jpg")))
    assert duplicate.status_code == 422
    assert duplicate.get_json()["rejected"][0]["reason"] == "this photo is already enrolled for this student"

    photo_id = second.get_json()["accepted"][0]["id"]
    deleted = client.delete(f"/api/v1/students/{school.ann}/photos/{photo_id}", headers=bearer(token))
    assert deleted.status_code == 200 and deleted.get_json()["photos"] == 1
    v3 = client.get(f"/api/v1/courses/{school.a101}/gallery", headers=bearer(token)).get_json()
    # Back to the first photo alone: the same content as version 1, published as a new version.
    assert v3["version"] == v2["version"] + 1 and v3["sha256"] == v1["sha256"]
    db.expire_all()
    assert db.get(FaceTemplate, photo_id) is None
    assert [row.version for row in db.scalars(select(CourseGallery).order_by(CourseGallery.version))] == [
        1,
        2,
        3,
    ]
    assert first["accepted"][0]["id"] in {
        p["id"]
        for p in client.get(f"/api/v1/students/{school.ann}/photos", headers=bearer(token)).get_json()[
            "photos"
        ]
    }


def test_group_photo_no_face_and_corrupt_files_are_refused_with_reasons(client, db, school):
    truncated = example("obama.jpg")[:3000]
    response = upload(
        client,
        school.ada_token,
        school.ann,
        ("group.jpg", group_photo()),
        ("curtain.jpg", no_face_photo()),
        ("broken.jpg", truncated),
        ("notes.jpg", b"these are not pixels"),
    )
    assert response.status_code == 422
    body = response.get_json()
    assert body["accepted"] == [] and body["photos"] == 0
    reasons = {item["filename"]: item["reason"] for item in body["rejected"]}
    assert reasons["group.jpg"] == "6 faces found: use a photo of one person"
    assert reasons["curtain.jpg"] == "no face found"
    assert "corrupt or truncated" in reasons["broken.jpg"]
    assert "not an image" in reasons["notes.jpg"]
    assert "no photo was accepted" in body["error"]
    assert "group.jpg: 6 faces found: use a photo of one person" in body["error"]

    assert count(db, FaceTemplate, FaceTemplate.student_id == school.ann) == 0
    assert count(db, CourseGallery) == 0  # nothing changed, nothing published
    listing = client.get(f"/api/v1/students/{school.ann}/photos", headers=bearer(school.ada_token)).get_json()
    assert {item["filename"]: item["reason"] for item in listing["rejected"]} == reasons
    assert count(db, EnrolmentRejection, EnrolmentRejection.student_id == school.ann) == 4

    korean = client.post(
        f"/api/v1/students/{school.ann}/photos",
        data=files("photos", ("curtain.jpg", no_face_photo())),
        headers={**bearer(school.ada_token), "Accept-Language": "ko"},
    ).get_json()
    assert korean["rejected"][0]["reason"] == "no face found"  # the machine-readable reason stays English
    assert korean["error"] == "승인된 사진이 없습니다 (curtain.jpg: 얼굴을 찾지 못했습니다)"


def test_student_photo_page_upload_shows_accepted_and_refused_then_delete(client, db, school, login):
    login(client, "ada@school.example", PASSWORD)
    page = client.get(f"/students/{school.ann}/photos")
    assert page.status_code == 200 and "No accepted photo" in page.get_data(as_text=True)
    token = csrf_token_from(page.get_data(as_text=True))
    data = {
        "csrf_token": token,
        **files("photos", ("small.jpg", example("obama_small.jpg")), ("curtain.jpg", no_face_photo())),
    }
    posted = client.post(f"/students/{school.ann}/photos", data=data)
    assert posted.status_code == 303
    html = client.get(posted.headers["Location"]).get_data(as_text=True)
    assert "1 photo accepted." in html
    assert "curtain.jpg refused: no face found." in html  # the flash message
    assert html.count("no face found") == 2  # ... and the refused photos' table
    assert "small.jpg" in html and "sharpness" in html and "/thumbnail" in html

    photo = db.scalars(select(FaceTemplate).where(FaceTemplate.kind == FaceKind.PHOTO)).one()
    gone = client.post(f"/students/{school.ann}/photos/{photo.id}/delete", data={"csrf_token": token})
    assert gone.status_code == 303
    assert "small.jpg deleted" in client.get(gone.headers["Location"]).get_data(as_text=True)
    assert count(db, FaceTemplate, FaceTemplate.student_id == school.ann) == 0
    assert (
        client.post(
            f"/students/{school.ann}/photos/{photo.id}/delete", data={"csrf_token": token}
        ).status_code
        == 404
    )


def test_uploads_over_the_limits_are_refused(app, client, db, school, login):
    update_settings(app, ENROLMENT_MAX_UPLOAD_BYTES=200_000)
    big = example("obama.jpg")  # 280 kB
    assert len(big) > 200_000
    response = upload(client, school.ada_token, school.ann, ("obama.jpg", big))
    assert response.status_code == 413
    assert "more than the 0.2 MiB limit for one upload of photos" in response.get_json()["error"]

    login(client, "ada@school.example", PASSWORD)
    token = csrf_token_from(client.get(f"/students/{school.ann}/photos").get_data(as_text=True))
    page = client.post(
        f"/students/{school.ann}/photos", data={"csrf_token": token, **files("photos", ("o.jpg", big))}
    )
    assert page.status_code == 413 and "limit for one upload of photos" in page.get_data(as_text=True)

    update_settings(app, ENROLMENT_MAX_UPLOAD_BYTES=10_000_000)
    update_settings(app, ENROLMENT_MAX_PHOTO_BYTES=100_000)
    per_photo = upload(client, school.ada_token, school.ann, ("obama.jpg", big))
    assert per_photo.status_code == 422
    assert "more than the 0.1 MiB limit for a photo" in per_photo.get_json()["rejected"][0]["reason"]
    assert count(db, FaceTemplate) == 0


def test_upload_needs_multipart_and_a_file(client, school):
    headers = bearer(school.ada_token)
    as_json = client.post(f"/api/v1/students/{school.ann}/photos", json={"photo": "x"}, headers=headers)
    assert as_json.status_code == 415 and "multipart/form-data" in as_json.get_json()["error"]
    empty = client.post(
        f"/api/v1/students/{school.ann}/photos",
        data={"note": "no file"},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert empty.status_code == 400 and "no photo in the request" in empty.get_json()["error"]
    many = upload(client, school.ada_token, school.ann, *[(f"{i}.jpg", b"x") for i in range(21)])
    assert many.status_code == 400 and "at most 20 photos" in many.get_json()["error"]
    missing = client.delete(f"/api/v1/students/{school.ann}/photos/999999", headers=headers)
    assert missing.status_code == 404 and "no photo with id 999999" in missing.get_json()["error"]


def test_missing_face_models_answer_503_and_write_nothing(app, client, db, school, tmp_path, monkeypatch):
    app.extensions.pop("visage.face_analyzer")  # this app must load the models itself...
    monkeypatch.setenv("VISAGE_MODELS_DIR", str(tmp_path))  # ... from an empty folder
    response = upload(client, school.ada_token, school.ann, ("small.jpg", example("obama_small.jpg")))
    assert response.status_code == 503
    assert "visage models export" in response.get_json()["error"]
    assert count(db, EnrolmentRejection) == 0 and count(db, FaceTemplate) == 0
