"""Switching the embedder: a library and a roster embedded with dlib are converted to SFace by the
`faces.reembed` job (album faces from their photos, enrolment photos from their thumbnails), search
finds the right photos afterwards, galleries carry the new embedder id, and an interrupted run resumes
where it stopped. Real face core, real photos; on SQLite and MariaDB."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.db.enums import FaceKind
from server.db.models import AlbumFace, Course, FaceTemplate, Student
from server.enrolment import gallery
from server.faces.analyzer import EXTENSION_KEY
from server.reembed import reembed_photo, stale_work, submit_reembed
from server.settings import update_settings
from server.storage import storage
from server.uploads.files import Upload
from shared.analysis import FaceAnalyzer
from shared.embed import embedder_id
from tests.server.test_server_album_search import PEOPLE, index_lfw, search
from tests.server.test_server_album_support import album_users, bearer, lfw, run_jobs

DLIB, SFACE = embedder_id("dlib_resnet"), embedder_id("sface")


@pytest.fixture(scope="module")
def dlib_analyzer(registry):
    return FaceAnalyzer(registry, embedder="dlib_resnet").prepare()


def switch(app, analyzer, model: str) -> None:
    """What an operator does: set GALLERY_MODEL (and restart: a new analyzer and album index)."""
    update_settings(app, GALLERY_MODEL=model)
    app.extensions[EXTENSION_KEY] = analyzer
    app.extensions.pop("visage.album_index", None)


def enrol_student(app, db, instructor, course_code: str) -> Student:
    from server.enrolment import service

    student = Student(student_number="S-1", name="Soo")
    db.add(Course(code=course_code, title="Course", instructor_id=instructor.id, students=[student]))
    db.commit()
    uploads = [Upload(*lfw("Colin_Powell", n)) for n in (1, 2)]
    with app.test_request_context():
        result = service.upload_photos(db, student, uploads, actor=None)
    db.commit()
    assert len(result.accepted) == 2, result
    return student


def test_library_and_roster_switched_from_dlib_to_sface(
    app, client, db, analyzer, dlib_analyzer, make_user, make_token
):
    switch(app, dlib_analyzer, "dlib_resnet")
    users = album_users(make_user, make_token)
    index_lfw(app, client, users.alice_token)
    student = enrol_student(app, db, users.ivan, "K101")
    assert set(db.scalars(select(AlbumFace.model))) == {DLIB}

    switch(app, analyzer, "sface")
    photos, students = stale_work(db, SFACE)
    assert photos and students == [student.id]
    # Before the job the new embedder sees nothing: no album faces, and the gallery has no vectors.
    before = search(client, users.alice_token, lfw(PEOPLE[0], 7))
    assert before.status_code == 201 and not before.get_json()["results"]

    with app.app_context():
        submit_reembed(db)
        db.commit()
    assert run_jobs(app) == 1
    db.expire_all()
    assert set(db.scalars(select(AlbumFace.model))) == {SFACE}
    assert set(db.scalars(select(FaceTemplate.model))) == {SFACE}
    assert {len(f.embedding) for f in db.scalars(select(AlbumFace))} == {128 * 4}
    assert stale_work(db, SFACE) == ([], [])

    for person in PEOPLE:
        body = search(client, users.alice_token, lfw(person, 7)).get_json()
        names = {result["photo"]["filename"] for result in body["results"]}
        assert names == {f"{person}_{n:04d}.jpg" for n in range(1, 5)}, (person, names)

    with app.app_context():
        built = gallery.build_gallery(db, student_id_course(db, student), "sface")
    db.commit()
    assert built["model"] == SFACE
    (entry,) = built["students"]
    assert len(entry["embeddings"]) == 2 and entry["template"] is not None
    templates = db.scalars(select(FaceTemplate).where(FaceTemplate.kind == FaceKind.TEMPLATE)).all()
    assert [t.model for t in templates] == [SFACE]
    assert client.get("/api/v1/album/photos", headers=bearer(users.alice_token)).status_code == 200


def student_id_course(db, student: Student) -> int:
    return db.scalar(select(Course.id).where(Course.students.any(Student.id == student.id)))


def test_interrupted_run_resumes_with_what_is_left(
    app, client, db, analyzer, dlib_analyzer, make_user, make_token
):
    switch(app, dlib_analyzer, "dlib_resnet")
    users = album_users(make_user, make_token)
    index_lfw(app, client, users.alice_token)
    switch(app, analyzer, "sface")
    photos, _ = stale_work(db, SFACE)
    # A run that stopped after its first photo (each photo is committed on its own).
    first = reembed_photo(db, storage(app), analyzer, photos[0], SFACE, 1600)
    db.commit()
    assert first and first >= 1
    assert stale_work(db, SFACE)[0] == photos[1:]
    with app.app_context():
        job = submit_reembed(db)
        db.commit()
        job_id = job.id
    assert run_jobs(app) == 1
    admin = make_token(make_user("admin", email="root@example.org"))
    result = client.get(f"/api/v1/jobs/{job_id}", headers=bearer(admin)).get_json()
    assert result["status"] == "succeeded", result
    total = len(db.scalars(select(AlbumFace)).all())
    assert result["result"]["album_faces"] == total - first
    assert stale_work(db, SFACE) == ([], [])
