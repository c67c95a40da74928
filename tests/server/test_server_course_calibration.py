"""Per-course calibration (issue 15, X4) on real SFace embeddings of real photos
(../shared/data/lfw_subset_10x10 through the face core): the rule, accept / revert through the API and
the course page on SQLite and MariaDB with their audit entries, refusals that write nothing, and the
gallery (what devices receive) carrying the accepted thresholds with a new version."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import func, select

from edge.gallery import GalleryStore
from edge.recognizer import Recognizer, RecognizerSettings
from server.db.enums import FaceKind
from server.db.models import (
    AuditLog,
    Classroom,
    Course,
    CourseGallery,
    CourseThreshold,
    Device,
    FaceTemplate,
    LectureSession,
    Student,
)
from server.enrolment.gallery import build_gallery, canonical_sha256
from server.faces.embeddings import to_bytes
from server.faces.model import DEFAULT_MODEL
from server.ingest.publisher import gallery_message, publish_galleries
from server.school.calibration import MIN_GENUINE_PAIRS, accept, min_impostor_pairs, propose
from shared.embed import require_embedder
from shared.messages import Gallery, gallery_digest, topic
from tests.server.conftest import PASSWORD, csrf_token_from
from tests.server.test_server_devices_publish import receive_retained

GLOBAL = float(require_embedder(DEFAULT_MODEL)["strict_threshold"])


def owners_of(names: list[str]) -> np.ndarray:
    ids = {name: i for i, name in enumerate(sorted(set(names)))}
    return np.array([ids[name] for name in names])


# --- the rule, on real embeddings ----------------------------------------------------------------


def test_proposal_holds_the_target_far_on_the_impostor_pairs(lfw10_faces):
    names, vectors = lfw10_faces
    owners = owners_of(names)
    proposal = propose(owners, vectors, DEFAULT_MODEL, GLOBAL)
    assert (proposal.genuine_pairs, proposal.impostor_pairs, proposal.faces) == (450, 4500, 100)
    assert proposal.refused is None and proposal.threshold is not None
    # Recount independently: impostor pairs at or above the stored (rounded) threshold.
    normed = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = normed @ normed.T
    i, j = np.triu_indices(len(owners), k=1)
    impostor = scores[i, j][owners[i] != owners[j]]
    genuine = scores[i, j][owners[i] == owners[j]]
    assert (impostor >= proposal.threshold).mean() <= proposal.target_far
    assert proposal.at_proposed["far"] == pytest.approx((impostor >= proposal.threshold).mean(), abs=1e-6)
    assert proposal.at_proposed["frr"] == pytest.approx((genuine < proposal.threshold).mean(), abs=1e-6)
    assert proposal.at_global["far"] == pytest.approx((impostor >= GLOBAL).mean(), abs=1e-6)
    assert proposal.unknown_threshold is not None and proposal.unknown_threshold <= proposal.threshold
    assert proposal.genuine_range == [round(float(genuine.min()), 4), round(float(genuine.max()), 4)]
    assert proposal.impostor_range[1] == round(float(impostor.max()), 4)
    assert proposal.below_global == (proposal.threshold < GLOBAL)


def test_small_samples_are_refused_with_the_reason(lfw10_faces):
    names, vectors = lfw10_faces
    owners = owners_of(names)
    assert min_impostor_pairs(1e-3) == 3000 and min_impostor_pairs(1e-2) == 300
    # Three students with two photos each: 3 genuine pairs.
    pick = np.concatenate([np.flatnonzero(owners == k)[:2] for k in range(3)])
    few = propose(owners[pick], vectors[pick], DEFAULT_MODEL, GLOBAL)
    assert few.genuine_pairs == 3 and few.threshold is None
    assert f"at least {MIN_GENUINE_PAIRS}" in (few.refused or "")
    # Ten students with three photos: 30 genuine pairs but 405 impostor pairs (< 3,000).
    pick = np.concatenate([np.flatnonzero(owners == k)[:3] for k in range(10)])
    small = propose(owners[pick], vectors[pick], DEFAULT_MODEL, GLOBAL)
    assert (small.genuine_pairs, small.impostor_pairs) == (30, 405)
    assert small.threshold is None and "3,000" in (small.refused or "")
    # A looser target is measurable on those pairs.
    looser = propose(owners[pick], vectors[pick], DEFAULT_MODEL, GLOBAL, target_far=1e-2, unknown_far=5e-2)
    assert looser.refused is None and looser.threshold is not None


# --- the course in the database ------------------------------------------------------------------


def seed_course(db, names: list[str], vectors: np.ndarray, per_student: int | None = None) -> Course:
    students: dict[str, Student] = {}
    taken: dict[str, int] = {}
    faces = []
    for name, vector in zip(names, vectors, strict=True):
        if per_student is not None and taken.get(name, 0) >= per_student:
            continue
        taken[name] = taken.get(name, 0) + 1
        student = students.get(name) or Student(student_number=secrets.token_hex(5), name=name)
        students[name] = student
        faces.append(
            FaceTemplate(
                student=student,
                kind=FaceKind.PHOTO,
                embedding=to_bytes(np.asarray(vector, np.float32)),
                dim=len(vector),
                model=DEFAULT_MODEL,
            )
        )
    course = Course(code=secrets.token_hex(4), title="Calibrated", students=list(students.values()))
    db.add_all([course, *faces])
    db.commit()
    return course


@pytest.fixture
def people(make_user, make_token):
    admin = make_user("admin")
    teacher = make_user("instructor")
    return {
        "admin": (admin, {"Authorization": f"Bearer {make_token(admin)}"}),
        "teacher": (teacher, {"Authorization": f"Bearer {make_token(teacher)}"}),
    }


def audit_actions(db, course_id: int) -> list[str]:
    db.expire_all()
    return list(
        db.scalars(
            select(AuditLog.action)
            .where(AuditLog.entity_type == "course", AuditLog.entity_id == str(course_id))
            .order_by(AuditLog.id)
        )
    )


def thresholds_rows(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(CourseThreshold))


def test_accept_and_revert_through_the_api_are_audited_and_move_the_gallery(client, db, people, lfw10_faces):
    names, vectors = lfw10_faces
    admin, admin_auth = people["admin"]
    teacher, teacher_auth = people["teacher"]
    course = seed_course(db, names, vectors)
    course.instructor_id = teacher.id
    db.commit()
    url = f"/api/v1/courses/{course.id}/calibration"
    before = build_gallery(db, course.id)
    db.commit()
    assert before["threshold"] == GLOBAL and "unknown_threshold" not in before

    seen = client.get(url, headers=teacher_auth)
    assert seen.status_code == 200, seen.get_json()
    body = seen.get_json()
    proposal = body["proposal"]
    assert (proposal["genuine_pairs"], proposal["impostor_pairs"]) == (450, 4500)
    assert body["accepted"] is None and body["in_use"] == {
        "source": "global",
        "threshold": GLOBAL,
        "unknown_threshold": proposal["global_unknown_threshold"],
    }
    threshold = proposal["threshold"]
    assert threshold is not None and proposal["below_global"] == (threshold < GLOBAL)

    # An instructor may look but not change it; bad bodies are refused; nothing is written.
    assert client.post(f"{url}/accept", json={}, headers=teacher_auth).status_code == 403
    bad = client.post(f"{url}/accept", json={"confirm_below_global": "yes"}, headers=admin_auth)
    assert bad.status_code == 400 and "true or false" in bad.get_json()["error"]
    bad = client.post(f"{url}/accept", json={"threshold": 1e20}, headers=admin_auth)
    assert bad.status_code == 400 and "between" in bad.get_json()["error"]
    stale = client.post(f"{url}/accept", json={"threshold": threshold + 0.05}, headers=admin_auth)
    assert stale.status_code == 409 and "changed since" in stale.get_json()["error"]
    if proposal["below_global"]:
        unconfirmed = client.post(f"{url}/accept", json={"threshold": threshold}, headers=admin_auth)
        assert (
            unconfirmed.status_code == 400 and "below the global default" in unconfirmed.get_json()["error"]
        )
    assert client.post(f"{url}/revert", headers=admin_auth).status_code == 409
    assert thresholds_rows(db) == 0 and audit_actions(db, course.id) == []

    accepted = client.post(
        f"{url}/accept", json={"threshold": threshold, "confirm_below_global": True}, headers=admin_auth
    )
    assert accepted.status_code == 200, accepted.get_json()
    result = accepted.get_json()
    assert result["in_use"]["source"] == "course" and result["in_use"]["threshold"] == threshold
    assert result["accepted"]["applies"] and result["accepted"]["impostor_pairs"] == 4500
    assert audit_actions(db, course.id) == ["course.calibration.accept"]
    entry = db.scalars(select(AuditLog).where(AuditLog.action == "course.calibration.accept")).one()
    assert entry.actor_id == admin.id and entry.before is None and entry.after["threshold"] == threshold

    # What devices get: the course's thresholds, under a new version (the sha256 leaves thresholds out).
    db.expire_all()
    now = build_gallery(db, course.id)
    db.commit()
    assert now["threshold"] == threshold and now["unknown_threshold"] == proposal["unknown_threshold"]
    assert now["version"] == before["version"] + 1 and now["sha256"] == canonical_sha256(now)
    message = Gallery.decode(gallery_message("cam-1", now).encode(), expected_device="cam-1")
    assert message.threshold == threshold and message.unknown_threshold == proposal["unknown_threshold"]
    assert message.sha256 == gallery_digest(message)

    reverted = client.post(f"{url}/revert", headers=admin_auth)
    assert reverted.status_code == 200 and reverted.get_json()["in_use"]["source"] == "global"
    assert audit_actions(db, course.id) == ["course.calibration.accept", "course.calibration.revert"]
    assert thresholds_rows(db) == 0
    back = build_gallery(db, course.id)
    assert back["threshold"] == GLOBAL and "unknown_threshold" not in back
    assert back["version"] == now["version"] + 1
    assert back["sha256"] == before["sha256"]  # the same content as before accepting
    assert (
        db.scalar(select(func.count()).select_from(CourseGallery).where(CourseGallery.course_id == course.id))
        == 3
    )


def test_a_course_too_small_to_calibrate_answers_409_with_the_reason(client, db, people, lfw10_faces):
    names, vectors = lfw10_faces
    course = seed_course(db, names, vectors, per_student=3)  # 30 genuine, 405 impostor pairs
    _, admin_auth = people["admin"]
    url = f"/api/v1/courses/{course.id}/calibration"
    proposal = client.get(url, headers=admin_auth).get_json()["proposal"]
    assert (proposal["genuine_pairs"], proposal["impostor_pairs"]) == (30, 405)
    assert proposal["threshold"] is None and "405" in proposal["refused"]
    refused = client.post(f"{url}/accept", json={"confirm_below_global": True}, headers=admin_auth)
    assert refused.status_code == 409 and "no calibration to accept" in refused.get_json()["error"]
    assert "3,000" in refused.get_json()["error"]
    assert thresholds_rows(db) == 0 and audit_actions(db, course.id) == []
    assert client.get("/api/v1/courses/2147483647/calibration", headers=admin_auth).status_code == 404


def test_the_course_page_shows_the_calibration_and_an_admin_accepts_and_reverts(
    client, db, make_user, login, lfw10_faces
):
    names, vectors = lfw10_faces
    course = seed_course(db, names, vectors)
    teacher = make_user("instructor")
    course.instructor_id = teacher.id
    db.commit()
    page_url = f"/courses/{course.id}"

    # The instructor sees the figures but no form, and a forged post is refused.
    login(client, teacher.email, PASSWORD)
    page = client.get(page_url).get_data(as_text=True)
    assert "Recognition threshold" in page and "4,500" in page and "450" in page
    assert "Use the calibrated threshold" not in page
    forged = client.post(f"{page_url}/calibration/accept", data={"csrf_token": csrf_token_from(page)})
    assert forged.status_code == 403 and thresholds_rows(db) == 0
    client.post("/logout", data={"csrf_token": csrf_token_from(client.get(page_url).get_data(as_text=True))})

    admin = make_user("admin")
    login(client, admin.email, PASSWORD)
    page = client.get(page_url).get_data(as_text=True)
    csrf = csrf_token_from(page)
    assert "Use the calibrated threshold" in page
    proposed = propose(owners_of(names), vectors, DEFAULT_MODEL, GLOBAL)
    form = {"csrf_token": csrf, "threshold": str(proposed.threshold)}
    if proposed.below_global:  # unticked: the page again with the reason, nothing stored
        again = client.post(f"{page_url}/calibration/accept", data=form)
        assert again.status_code == 400 and "below the global default" in again.get_data(as_text=True)
        assert thresholds_rows(db) == 0
        form["confirm_below_global"] = "yes"
    bad = client.post(f"{page_url}/calibration/accept", data={**form, "threshold": "abc"})
    assert bad.status_code == 400 and "must be a number" in bad.get_data(as_text=True)
    done = client.post(f"{page_url}/calibration/accept", data=form, follow_redirects=True)
    assert done.status_code == 200
    text = done.get_data(as_text=True)
    assert f"uses its calibrated threshold {proposed.threshold:g}" in text
    assert "calibrated for this course" in text and "Back to the global default" in text
    assert audit_actions(db, course.id) == ["course.calibration.accept"]
    gallery_page = client.get(f"/courses/{course.id}/enrolment").get_data(as_text=True)
    assert f"≥ {proposed.threshold}" in gallery_page and "calibrated for this course" in gallery_page

    reverted = client.post(f"{page_url}/calibration/revert", data={"csrf_token": csrf}, follow_redirects=True)
    assert reverted.status_code == 200 and "the global default" in reverted.get_data(as_text=True)
    assert audit_actions(db, course.id) == ["course.calibration.accept", "course.calibration.revert"]
    assert thresholds_rows(db) == 0
    missing = client.post(f"{page_url}/calibration/revert", data={"csrf_token": csrf})
    assert missing.status_code == 409 and "nothing to revert" in missing.get_data(as_text=True)


def test_devices_receive_the_accepted_threshold_and_the_recognizer_uses_it(
    app, db, make_user, publisher, lfw10_faces, tmp_path
):
    """Accepting keeps the gallery's sha256 (it covers embeddings only) and moves its version: the
    publisher must resend it, the device's store must take it and its recognizer must apply it."""
    names, vectors = lfw10_faces
    course = seed_course(db, names, vectors)
    now = datetime.now(timezone.utc)
    room = Classroom(name=f"R-{secrets.token_hex(3)}")
    device = Device(device_id=f"cam-{secrets.token_hex(4)}", name="Front", classroom=room)
    lecture = LectureSession(
        course=course, classroom=room, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1)
    )
    db.add_all([room, device, lecture])
    db.commit()
    assert publish_galleries(app, publisher.client) >= 1
    first = Gallery.decode(receive_retained(topic(device.device_id, "gallery")), device.device_id)
    assert first.threshold == GLOBAL and first.unknown_threshold is None
    store = GalleryStore(tmp_path / "gallery.json", device_id=device.device_id, model=first.model)
    assert store.offer(first)

    admin = make_user("admin")
    with app.app_context():
        row = accept(db, admin, db.get(Course, course.id), confirm_below_global=True)
    db.commit()
    assert publish_galleries(app, publisher.client) >= 1  # same sha256, new version: resent
    second = Gallery.decode(receive_retained(topic(device.device_id, "gallery")), device.device_id)
    assert second.sha256 == first.sha256 and second.version == first.version + 1
    assert (second.threshold, second.unknown_threshold) == (row.threshold, row.unknown_threshold)
    assert store.offer(second) and store.current is not None and store.current.version == second.version

    # The recognizer follows the store: a face scoring between the two thresholds is decided by the
    # course's threshold now (a student when the course's is lower, unknown when it is higher).
    recognizer = Recognizer(lambda: store.current, RecognizerSettings(min_attempts=1, max_attempts=1))
    index = recognizer._current_index()
    assert index is not None and (index.threshold, index.unknown_threshold) == (
        row.threshold,
        row.unknown_threshold,
    )
