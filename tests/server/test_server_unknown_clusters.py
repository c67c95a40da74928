"""Unknown faces the instructor decides once per person (SQLite and MariaDB): tracks cluster within a
session and across a course's sessions from their real embeddings, the roster is ranked by similarity
(nothing pre-selected), a cluster is assigned or marked "not a student" as a whole and audited, a
cluster that changed meanwhile is a 409, faces are learned into the enrolment through its gate and
removed again, and unknown faces are searched by a key photo. Bad input: 4xx, nothing written."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from server.db.enums import FaceKind, ReviewDecision
from server.db.models import (
    AuditLog,
    CourseGallery,
    EnrolmentRejection,
    FaceTemplate,
    LearnedFace,
    LectureSession,
    Sighting,
    UnknownCluster,
    UnknownClusterMember,
    UnknownFaceReview,
)
from tests.server.attendance_seed import as_stored, seeded_world
from tests.server.conftest import PASSWORD
from tests.server.test_server_enrolment_support import share_analyzer
from tests.server.unknown_faces_seed import add_unknown_faces, embed_photos, photo, unknown_track


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def faces(analyzer):
    return embed_photos(analyzer)


@pytest.fixture
def world(app, analyzer, db, make_user, make_token, faces):
    share_analyzer(app, analyzer)
    w = seeded_world(make_user, db)
    owner, other = w.owner, w.other
    w.tracks = add_unknown_faces(db, w, faces)
    w.h = bearer(make_token(owner))
    w.other_h = bearer(make_token(other))
    return w


def count(db, model, *where) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model).where(*where))


def listing(client, w, session_id: int) -> dict[str, dict]:
    response = client.get(f"/api/v1/sessions/{session_id}/unknown-faces", headers=w.h)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {face["track_id"]: face for face in response.get_json()}


def state(db) -> tuple:
    """Everything a refused decision must leave as it was."""
    db.expire_all()
    return (
        sorted(
            db.execute(select(UnknownFaceReview.id, UnknownFaceReview.decision, UnknownFaceReview.student_id))
        ),
        sorted(db.execute(select(UnknownCluster.id, UnknownCluster.decision, UnknownCluster.size))),
        count(db, Sighting, Sighting.student_id.is_(None)),
        count(db, AuditLog),
    )


# ----------------------------------------------------------------------------- clusters and suggestions


def test_tracks_cluster_within_a_session_and_across_the_course(client, db, world):
    w = world
    faces = listing(client, w, w.session)
    assert set(faces) == {"u1", "u2", "x1", "x2", "x3"}
    # Two tracks of the same unrecognised face: one person; the stranger is another.
    assert faces["x1"]["cluster"]["id"] == faces["x2"]["cluster"]["id"]
    assert faces["x3"]["cluster"]["id"] != faces["x1"]["cluster"]["id"]
    assert faces["x1"]["cluster"]["version"] == 2 and faces["x1"]["cluster"]["sessions"] == 1
    # Tracks that came without an embedding are decided alone.
    assert faces["u1"]["cluster"] is None and faces["u1"]["suggestions"] == []
    # Every track with a crop shows it.
    assert faces["x1"]["thumbnail_url"] == f"/api/v1/sightings/{w.tracks.x1}/thumbnail"

    later = listing(client, w, w.later_session)
    assert later["y1"]["cluster"]["id"] == faces["x3"]["cluster"]["id"]
    assert later["y1"]["cluster"]["sessions"] == 2 and later["y1"]["cluster"]["faces"] == 2
    # Listing again places nothing twice.
    assert count(db, UnknownClusterMember) == 4
    assert count(db, UnknownCluster) == 2


def test_suggestions_rank_the_roster_by_similarity(client, db, world):
    faces = listing(client, world, world.session)
    ranked = faces["x1"]["suggestions"]
    assert 1 <= len(ranked) <= 3
    assert ranked[0]["name"] == "Ada Lovelace" and ranked[0]["score"] > 0.6
    assert [s["score"] for s in ranked] == sorted((s["score"] for s in ranked), reverse=True)
    assert all(s["score"] < 0.4 for s in ranked[1:])  # the others are different people
    # Dan has no enrolled face: never suggested.
    assert "Dan Ivers" not in {s["name"] for s in ranked}
    assert faces["x3"]["suggestions"][0]["score"] < 0.4  # the stranger looks like no one


def test_the_page_preselects_no_student(client, db, world, login):
    login(client, "owner@school.example", PASSWORD)
    x1 = listing(client, world, world.session)["x1"]["id"]
    html = client.get(f"/attendance/sessions/{world.session}").get_data(as_text=True)
    form = html[html.index(f'id="assign-{x1}"') :]
    form = form[: form.index("</select>")]
    assert '<option value="" selected disabled>Choose a student…</option>' in form
    assert form.count("selected") == 1
    assert "Ada Lovelace (2026001) · 0." in form  # the top suggestion with its score
    assert 'name="version" value="2"' in html


# ----------------------------------------------------------------------------- deciding a cluster


def test_assigning_a_cluster_assigns_every_face_in_every_session(client, db, world):
    w = world
    stranger = listing(client, w, w.session)["x3"]["cluster"]
    listing(client, w, w.later_session)  # y1 joins the stranger's cluster
    response = client.post(
        f"/api/v1/unknown-clusters/{stranger['id']}",
        json={"decision": "assigned", "student_id": w.s4, "version": 2, "reason": "Dan's new haircut"},
        headers=w.h,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["sessions"] == [w.session, w.later_session]
    assert body["cluster"]["decision"] == "assigned" and body["cluster"]["student_name"] == "Dan Ivers"
    assert body["relabelled"] == 12  # 6 + 6 sightings
    assert count(db, Sighting, Sighting.track_id.in_(["x3", "y1"]), Sighting.student_id == w.s4) == 12
    assert {
        f["decision"]
        for f in (listing(client, w, w.session)["x3"], listing(client, w, w.later_session)["y1"])
    } == {"assigned"}
    # Audited on both sessions' trails and on the cluster.
    db.expire_all()
    trail = db.scalars(select(AuditLog).where(AuditLog.action == "unknown_face.assigned")).all()
    assert sorted(int(e.entity_id) for e in trail) == [w.session, w.later_session]
    assert all(e.reason == "Dan's new haircut" and e.after["student_number"] == "2026004" for e in trail)
    assert count(db, AuditLog, AuditLog.entity_type == "unknown_cluster") == 1
    # Dan now counts as seen in the first session.
    attendance = client.get(f"/api/v1/sessions/{w.session}/attendance", headers=w.h).get_json()
    dan = next(s for s in attendance["students"] if s["student_number"] == "2026004")
    assert dan["evidence"]["sightings"] == 6


def test_not_a_student_applies_to_the_cluster(client, db, world):
    w = world
    cluster = listing(client, w, w.session)["x1"]["cluster"]
    response = client.post(
        f"/api/v1/unknown-clusters/{cluster['id']}",
        json={"decision": "not_a_student", "version": 2},
        headers=w.h,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    faces = listing(client, w, w.session)
    assert faces["x1"]["decision"] == faces["x2"]["decision"] == "not_a_student"
    assert faces["x3"]["decision"] == "pending"
    assert count(db, Sighting, Sighting.track_id.in_(["x1", "x2"]), Sighting.student_id.is_not(None)) == 0


def test_a_cluster_that_changed_meanwhile_is_a_409(client, db, world, faces):
    w = world
    seen = listing(client, w, w.session)["x3"]["cluster"]  # the page shows 2 faces of the stranger
    assert seen["version"] == 2
    # Meanwhile the stranger is seen again next week: stored, and placed by the session's refresh.
    later = db.get(LectureSession, w.later_session)
    unknown_track(
        db, later.id, w.device, "y2", faces["Vladimir_Putin_0004"], "10:15", "10:25", day=later.starts_at
    )
    db.commit()
    as_stored(db)
    assert listing(client, w, w.later_session)["y2"]["cluster"]["id"] == seen["id"]
    before = state(db)
    response = client.post(
        f"/api/v1/unknown-clusters/{seen['id']}",
        json={"decision": "assigned", "student_id": w.s4, "version": seen["version"]},
        headers=w.h,
    )
    assert response.status_code == 409
    assert (
        "changed since the page was shown: the cluster now has 3 face(s), you saw 2"
        in response.get_json()["error"]
    )
    assert state(db) == before


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"decision": "assigned", "student_id": "S5", "version": 2}, 400, "not on the roster of CS101"),
        ({"decision": "assigned", "version": 2}, 400, "choose the student this person is"),
        ({"decision": "assigned", "student_id": 1, "version": None}, 400, "'version' must be"),
        ({"decision": "maybe", "version": 2}, 400, "'decision' must be one of"),
        (
            {"decision": "not_a_student", "student_id": 1, "version": 2},
            400,
            "only for the decision 'assigned'",
        ),
    ],
)
def test_bad_cluster_decisions_write_nothing(client, db, world, body, status, message):
    w = world
    cluster = listing(client, w, w.session)["x1"]["cluster"]
    if body.get("student_id") == "S5":
        body = {**body, "student_id": w.s5}  # another course's student
    if body.get("student_id") == 1:
        body = {**body, "student_id": w.s1}
    before = state(db)
    response = client.post(f"/api/v1/unknown-clusters/{cluster['id']}", json=body, headers=w.h)
    assert response.status_code == status
    assert message in response.get_json()["error"]
    assert state(db) == before


def test_other_instructors_cannot_see_or_decide_a_cluster(client, db, world):
    w = world
    cluster = listing(client, w, w.session)["x1"]["cluster"]
    response = client.post(
        f"/api/v1/unknown-clusters/{cluster['id']}",
        json={"decision": "not_a_student", "version": 2},
        headers=w.other_h,
    )
    assert response.status_code == 404


def test_the_web_form_assigns_the_cluster_and_refuses_an_empty_choice(client, db, world, login):
    w = world
    faces = listing(client, w, w.session)
    login(client, "owner@school.example", PASSWORD)
    page = client.get(f"/attendance/sessions/{w.session}").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    empty = client.post(
        f"/attendance/unknown-faces/{faces['x1']['id']}/cluster",
        data={"csrf_token": token, "decision": "assigned", "student_id": "", "version": "2"},
    )
    assert empty.status_code == 400
    assert "is required: choose the student this person is (none is pre-selected)" in empty.get_data(
        as_text=True
    )
    assert count(db, UnknownFaceReview, UnknownFaceReview.decision != ReviewDecision.PENDING) == 0
    done = client.post(
        f"/attendance/unknown-faces/{faces['x1']['id']}/cluster",
        data={"csrf_token": token, "decision": "assigned", "student_id": str(w.s1), "version": "2"},
    )
    assert done.status_code == 303
    html = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "2 faces of this person assigned to Ada Lovelace in 1 session: 12 sightings" in html
    assert "unknown person #" in html  # the audit log names the cluster


# ----------------------------------------------------------------------------- a crop of a deleted session


def test_a_crop_of_a_deleted_session_is_a_404_with_a_message(client, db, world):
    w = world
    listing(client, w, w.later_session)
    db.delete(db.get(LectureSession, w.later_session))
    db.commit()
    response = client.get(f"/api/v1/sightings/{w.tracks.y1}/thumbnail", headers=w.h)
    assert response.status_code == 404
    assert f"There is no sighting {w.tracks.y1} in your sessions." in response.get_json()["error"]
    learn = client.post(f"/api/v1/sightings/{w.tracks.y1}/learn", headers=w.h)
    assert learn.status_code == 404
    assert count(db, LearnedFace) == 0


# ----------------------------------------------------------------------------- learning from review


def gallery_version(db, course_id: int) -> int:
    db.expire_all()
    return db.scalar(select(func.max(CourseGallery.version)).where(CourseGallery.course_id == course_id)) or 0


def test_an_assigned_face_is_learned_and_removed(client, db, world):
    w = world
    cluster = listing(client, w, w.session)["x1"]["cluster"]
    client.post(
        f"/api/v1/unknown-clusters/{cluster['id']}",
        json={"decision": "assigned", "student_id": w.s1, "version": 2},
        headers=w.h,
    )
    photos_before = count(
        db, FaceTemplate, FaceTemplate.student_id == w.s1, FaceTemplate.kind == FaceKind.PHOTO
    )
    version_before = gallery_version(db, w.course)
    face_id = listing(client, w, w.session)["x1"]["id"]
    response = client.post(f"/api/v1/unknown-faces/{face_id}/learn", headers=w.h)
    assert response.status_code == 201, response.get_data(as_text=True)
    learned = response.get_json()
    assert learned["student_name"] == "Ada Lovelace" and learned["sighting_id"] == w.tracks.x1
    assert count(db, FaceTemplate, FaceTemplate.student_id == w.s1, FaceTemplate.kind == FaceKind.PHOTO) == (
        photos_before + 1
    )
    assert gallery_version(db, w.course) > version_before
    assert count(db, AuditLog, AuditLog.action == "attendance.face_learned") == 1
    # The same crop again is refused by the gate's duplicate check.
    again = client.post(f"/api/v1/unknown-faces/{face_id}/learn", headers=w.h)
    assert again.status_code == 422 and "already enrolled" in again.get_json()["error"]

    version_learned = gallery_version(db, w.course)
    removed = client.delete(f"/api/v1/learned-faces/{learned['id']}", headers=w.h)
    assert removed.status_code == 200, removed.get_data(as_text=True)
    assert count(db, LearnedFace) == 0
    assert count(db, FaceTemplate, FaceTemplate.id == learned["template_id"]) == 0
    assert gallery_version(db, w.course) > version_learned
    assert count(db, AuditLog, AuditLog.action == "attendance.face_unlearned") == 1
    assert client.delete(f"/api/v1/learned-faces/{learned['id']}", headers=w.h).status_code == 404


def test_a_face_that_fails_the_gate_is_a_422_with_its_reasons(client, db, world):
    w = world
    # A recognised student's sighting whose crop is blurred (Colin_Powell_0004).
    sighting = db.scalars(
        select(Sighting).where(Sighting.student_id == w.s1, Sighting.session_id == w.session)
    ).first()
    sighting.thumbnail = photo("Colin_Powell_0004")
    db.commit()
    before = (
        count(db, FaceTemplate),
        count(db, EnrolmentRejection),
        count(db, AuditLog),
        gallery_version(db, w.course),
    )
    response = client.post(f"/api/v1/sightings/{sighting.id}/learn", headers=w.h)
    assert response.status_code == 422
    message = response.get_json()["error"]
    assert "cannot be added to Ada Lovelace's enrolment" in message and "blurred" in message
    after = (
        count(db, FaceTemplate),
        count(db, EnrolmentRejection),
        count(db, AuditLog),
        gallery_version(db, w.course),
    )
    assert after == before


def test_a_pending_face_cannot_be_learned(client, db, world):
    w = world
    face_id = listing(client, w, w.session)["x1"]["id"]
    response = client.post(f"/api/v1/unknown-faces/{face_id}/learn", headers=w.h)
    assert (
        response.status_code == 409 and "assign this face to a student first" in response.get_json()["error"]
    )
    assert count(db, LearnedFace) == 0


# ----------------------------------------------------------------------------- search by key photo


def test_search_unknown_faces_by_a_key_photo(client, db, world):
    w = world
    key = {"key": (io.BytesIO(photo("Vladimir_Putin_0004")), "key.jpg")}
    response = client.post(
        "/api/v1/unknown-faces/search", data=key, headers=w.h, content_type="multipart/form-data"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert [(m["session_id"], m["track_id"]) for m in body["matches"]] in (
        [(w.session, "x3"), (w.later_session, "y1")],
        [(w.later_session, "y1"), (w.session, "x3")],
    )
    assert all(m["score"] >= body["threshold"] and m["thumbnail_url"] for m in body["matches"])
    assert body["matches"][0]["course"] == "CS101"
    # Another instructor's courses hold none of them.
    other = client.post(
        "/api/v1/unknown-faces/search",
        data={"key": (io.BytesIO(photo("Vladimir_Putin_0004")), "key.jpg")},
        headers=w.other_h,
        content_type="multipart/form-data",
    )
    assert other.status_code == 200 and other.get_json()["matches"] == []


def test_search_refuses_a_file_that_is_no_photo(client, db, world):
    response = client.post(
        "/api/v1/unknown-faces/search",
        data={"key": (io.BytesIO(b"not an image at all"), "key.jpg")},
        headers=world.h,
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert response.get_json()["error"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"decision": "not_a_student", "version": 2**63}, 400),
        ({"decision": "not_a_student", "version": "2"}, 400),
        ({"decision": "not_a_student", "version": True}, 400),
        ({"decision": "assigned", "student_id": "x", "version": 2}, 400),
        ({"decision": "assigned", "student_id": 2**40, "version": 2}, 400),
        ({"decision": "not_a_student", "version": 2, "reason": 5}, 400),
        ({"decision": ["assigned"], "version": 2}, 400),
        ([], 400),
    ],
)
def test_hostile_cluster_bodies_are_4xx_with_a_message(client, db, world, body, status):
    w = world
    cluster = listing(client, w, w.session)["x1"]["cluster"]
    before = state(db)
    response = client.post(f"/api/v1/unknown-clusters/{cluster['id']}", json=body, headers=w.h)
    assert response.status_code == status and response.get_json()["error"]
    assert state(db) == before


def test_hostile_search_and_learn_requests_are_4xx(client, db, world):
    w = world
    not_multipart = client.post("/api/v1/unknown-faces/search", json={"key": "x"}, headers=w.h)
    assert not_multipart.status_code == 415 and not_multipart.get_json()["error"]
    no_file = client.post(
        "/api/v1/unknown-faces/search", data={"other": "x"}, headers=w.h, content_type="multipart/form-data"
    )
    assert no_file.status_code == 400 and "exactly one key photo" in no_file.get_json()["error"]
    empty = client.post(
        "/api/v1/unknown-faces/search",
        data={"key": (io.BytesIO(b""), "k.jpg")},
        headers=w.h,
        content_type="multipart/form-data",
    )
    assert 400 <= empty.status_code < 500
    assert client.post("/api/v1/unknown-faces/999999/learn", headers=w.h).status_code == 404
    assert client.post(f"/api/v1/sightings/{2**62}/learn", headers=w.h).status_code == 404
    # the body is read first (an empty one is a 400 naming 'decision'), then the id is looked up
    assert client.post("/api/v1/unknown-clusters/999999", json={}, headers=w.h).status_code == 400
    decision = {"decision": "not_a_student", "version": 1}
    assert client.post("/api/v1/unknown-clusters/999999", json=decision, headers=w.h).status_code == 404
    assert count(db, LearnedFace) == 0


def test_a_decided_face_keeps_showing_its_crop(client, db, world):
    w = world
    faces = listing(client, w, w.session)
    client.post(
        f"/api/v1/unknown-clusters/{faces['x1']['cluster']['id']}",
        json={"decision": "assigned", "student_id": w.s1, "version": 2},
        headers=w.h,
    )
    client.post(
        f"/api/v1/unknown-faces/{faces['u1']['id']}",
        json={"decision": "assigned", "student_id": w.s4},
        headers=w.h,
    )
    after = listing(client, w, w.session)
    assert after["x1"]["decision"] == after["u1"]["decision"] == "assigned"
    assert after["x1"]["thumbnail_url"] == f"/api/v1/sightings/{w.tracks.x1}/thumbnail"
    assert after["u1"]["thumbnail_url"] == faces["u1"]["thumbnail_url"] is not None


def test_the_search_page_lists_matches_and_refuses_a_bad_photo(client, db, world, login):
    w = world
    listing(client, w, w.session)
    login(client, "owner@school.example", PASSWORD)
    page = client.get("/attendance").get_data(as_text=True)
    assert 'id="face-search-form"' in page
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    found = client.post(
        "/attendance/unknown-faces/search",
        data={"csrf_token": token, "key": (io.BytesIO(photo("Vladimir_Putin_0004")), "putin.jpg")},
        content_type="multipart/form-data",
    )
    assert found.status_code == 200
    html = found.get_data(as_text=True)
    assert "2 matching unknown faces" in html and html.count('class="face-match"') == 2
    bad = client.post(
        "/attendance/unknown-faces/search",
        data={"csrf_token": token, "key": (io.BytesIO(b"GIF89a broken"), "broken.gif")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422
    assert 'id="form-error"' in bad.get_data(as_text=True)
