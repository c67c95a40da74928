"""The user's corrections of the album's faces and people (issue 18), on SQLite and MariaDB with the
real face core on real photos: deleting a false face (row, crop, index entry, person), moving a face
into an existing person or a new one (both people consistent, the grouping then pulling in waiting
faces that match, e.g. the faces of group photos), a feature photo per person, and the library's
pages as the API and the web page both show them. Other users' ids and unknown ids answer 404 with
a message and change nothing; bad bodies answer 400/409 with a message and change nothing."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sqlalchemy import select

from server.album.faceindex import owner_index
from server.db.models import AlbumFace, AlbumFaceRejection, AlbumFeatureFace, AlbumPerson, AlbumPhoto
from shared.embed import DEFAULT_EMBEDDER, EMBEDDERS
from tests.conftest import data_path
from tests.server.conftest import PASSWORD, csrf_token_from
from tests.server.test_server_album_support import (
    album_users,
    bearer,
    lfw,
    run_jobs,
    share_analyzer,
    stored_files,
    upload,
)

CUT = float(EMBEDDERS[DEFAULT_EMBEDDER]["album_threshold"])
GROUP_PHOTOS = ("insightface_sample_images/t1.jpg", "facenet_pytorch_data/multiface.jpg")


@pytest.fixture
def users(app, analyzer, make_user, make_token):
    share_analyzer(app, analyzer)
    return album_users(make_user, make_token)


def index(app, client, token: str, *files: tuple[str, bytes]) -> list[int]:
    """Upload and analyse these photos; their ids in upload order."""
    response = upload(client, token, *files)
    assert response.status_code == 201, response.get_json()
    assert run_jobs(app) == 1
    return [item["photo_id"] for item in response.get_json()["files"]]


def family(app, client, token: str) -> dict[str, list[int]]:
    """Three photos each of Tony Blair and Colin Powell (two people) and one of Hugo Chavez (waiting)."""
    files = [lfw(p, n) for p in ("Tony_Blair", "Colin_Powell") for n in (1, 2, 3)] + [lfw("Hugo_Chavez", 1)]
    ids = index(app, client, token, *files)
    return {"Tony_Blair": ids[:3], "Colin_Powell": ids[3:6], "Hugo_Chavez": ids[6:]}


def main_face(db, photo_id: int) -> AlbumFace:
    db.expire_all()
    faces = db.scalars(select(AlbumFace).where(AlbumFace.photo_id == photo_id)).all()
    return max(faces, key=lambda face: face.box_w * face.box_h)


def state(db, owner_id: int) -> tuple:
    """Everything a correction may change for one owner."""
    db.expire_all()
    faces = db.execute(
        select(AlbumFace.id, AlbumFace.person_id, AlbumFace.assigned_by).where(AlbumFace.owner_id == owner_id)
    ).all()
    people = db.execute(
        select(AlbumPerson.id, AlbumPerson.name).where(AlbumPerson.owner_id == owner_id)
    ).all()
    photos = db.execute(
        select(AlbumPhoto.id, AlbumPhoto.face_count).where(AlbumPhoto.owner_id == owner_id)
    ).all()
    rejections = db.execute(select(AlbumFaceRejection.face_id, AlbumFaceRejection.person_id)).all()
    features = db.execute(select(AlbumFeatureFace.person_id, AlbumFeatureFace.face_id)).all()
    return sorted(faces), sorted(people), sorted(photos), sorted(rejections), sorted(features)


def test_deleting_a_false_face_removes_it_from_its_person_the_index_and_storage(app, client, db, users):
    photos = family(app, client, users.alice_token)
    token = bearer(users.alice_token)
    tony = [main_face(db, pid) for pid in photos["Tony_Blair"]]
    person_id = tony[0].person_id
    assert person_id is not None and {f.person_id for f in tony} == {person_id}
    loaded = owner_index(app, db, users.alice.id)
    assert tony[0].id in loaded
    crop, victim, photo_id = tony[0].crop_key, tony[0].id, tony[0].photo_id
    assert any(path.endswith(f"{victim}.jpg") for path in stored_files(app))

    response = client.delete(f"/api/v1/album/faces/{victim}", headers=token)
    assert response.status_code == 200 and response.get_json() == {"deleted": victim}
    db.expire_all()
    assert db.get(AlbumFace, victim) is None
    assert db.get(AlbumPhoto, photo_id).face_count == 0  # the photo stays, without that face
    assert crop not in stored_files(app) and not any(
        p.endswith(f"/faces/{victim}.jpg") for p in stored_files(app)
    )
    assert victim not in loaded  # the loaded index dropped it in place (no rebuild needed)
    person = client.get(f"/api/v1/album/people/{person_id}", headers=token).get_json()
    assert [f["id"] for f in person["faces"]] == [tony[1].id, tony[2].id]
    # A search keyed by another Tony photo no longer finds the photo whose face was deleted.
    found = client.post("/api/v1/album/searches", json={"photo_id": photos["Tony_Blair"][1]}, headers=token)
    assert photo_id not in {r["photo"]["id"] for r in found.get_json()["results"]}

    # Deleting the person's last faces deletes the person too.
    for face in tony[1:]:
        assert client.delete(f"/api/v1/album/faces/{face.id}", headers=token).status_code == 200
    db.expire_all()
    assert db.get(AlbumPerson, person_id) is None
    assert client.get(f"/api/v1/album/people/{person_id}", headers=token).status_code == 404

    # Unknown ids and another user's faces: 404 with a message, nothing changes.
    before = state(db, users.alice.id)
    colin = main_face(db, photos["Colin_Powell"][0])
    for face_id, who in (
        (colin.id, users.bob_token),
        (victim, users.alice_token),
        (2**31 - 1, users.alice_token),
    ):
        refused = client.delete(f"/api/v1/album/faces/{face_id}", headers=bearer(who))
        assert refused.status_code == 404 and "you have no face" in refused.get_json()["error"]
    assert state(db, users.alice.id) == before


def test_moving_a_face_into_an_existing_person_and_into_a_new_one(app, client, db, users):
    photos = family(app, client, users.alice_token)
    token = bearer(users.alice_token)
    tony = [main_face(db, pid) for pid in photos["Tony_Blair"]]
    hugo = main_face(db, photos["Hugo_Chavez"][0])
    tony_person = tony[0].person_id
    assert hugo.person_id is None  # one photo: no person of his own
    waiting = client.get("/api/v1/album/faces/waiting", headers=token).get_json()
    assert [f["id"] for f in waiting["faces"]] == [hugo.id] and waiting["total"] == 1

    # A waiting face into an existing person (here a wrong one, which the user may do).
    moved = client.post(
        f"/api/v1/album/faces/{hugo.id}/person", json={"person_id": tony_person}, headers=token
    )
    assert moved.status_code == 200, moved.get_json()
    body = moved.get_json()
    assert body["face"]["person_id"] == tony_person and body["face"]["assigned_by"] == "user"
    assert body["person"]["id"] == tony_person and body["person"]["faces"] == 4
    # The same face back out into a new, named person: Tony's person forgets it.
    client.patch(f"/api/v1/album/people/{tony_person}", json={"feature_face_id": hugo.id}, headers=token)
    moved = client.post(f"/api/v1/album/faces/{hugo.id}/person", json={"name": "Hugo"}, headers=token)
    assert moved.status_code == 200
    hugo_person = moved.get_json()["person"]
    assert hugo_person["name"] == "Hugo" and hugo_person["faces"] == 1 and hugo_person["id"] != tony_person
    db.expire_all()
    assert db.get(AlbumFace, hugo.id).person_id == hugo_person["id"]
    assert db.get(AlbumFaceRejection, (hugo.id, tony_person)) is not None  # "not Tony" is remembered
    assert db.get(AlbumFeatureFace, tony_person) is None  # it was Tony's feature face: no longer
    tony_now = client.get(f"/api/v1/album/people/{tony_person}", headers=token).get_json()
    assert tony_now["person"]["faces"] == 3 and tony_now["person"]["feature_face_id"] is None
    assert tony_now["person"]["cover_face_id"] in {f.id for f in tony}

    # Moving the last face of a person into another deletes the emptied person.
    back = client.post(
        f"/api/v1/album/faces/{hugo.id}/person", json={"person_id": tony_person}, headers=token
    )
    assert back.status_code == 200
    db.expire_all()
    assert db.get(AlbumPerson, hugo_person["id"]) is None
    assert client.get("/api/v1/album/faces/waiting?limit=0", headers=token).get_json() == {
        "faces": [],
        "total": 0,
        "limit": 1,
    }
    # A user's explicit move lifts an earlier "not this person" for the target.
    assert db.get(AlbumFaceRejection, (hugo.id, tony_person)) is None

    # Refusals: nothing changes.
    before = state(db, users.alice.id)
    colin_person = main_face(db, photos["Colin_Powell"][0]).person_id
    cases = [
        (users.alice_token, hugo.id, {"person_id": tony_person}, 409, "already in that person"),
        (users.alice_token, hugo.id, {"person_id": "Tony"}, 400, "person_id"),
        (users.alice_token, hugo.id, {"person_id": colin_person, "name": "X"}, 400, "new person"),
        (users.alice_token, hugo.id, {"name": 7}, 400, "name"),
        (users.alice_token, hugo.id, {"person_id": 2**31 - 1}, 404, "you have no person"),
        (users.bob_token, hugo.id, {"person_id": None}, 404, "you have no face"),
    ]
    bob_photo = index(app, client, users.bob_token, lfw("Colin_Powell", 4), lfw("Colin_Powell", 5))[0]
    bob_face = main_face(db, bob_photo)
    cases.append((users.bob_token, bob_face.id, {"person_id": tony_person}, 404, "you have no person"))
    for who, face_id, payload, status, words in cases:
        refused = client.post(f"/api/v1/album/faces/{face_id}/person", json=payload, headers=bearer(who))
        assert refused.status_code == status, (payload, refused.get_json())
        assert words in refused.get_json()["error"], refused.get_json()
    assert state(db, users.alice.id) == before


def group_photo_files() -> list[tuple[str, bytes]]:
    return [(path.rsplit("/", 1)[1], data_path(*path.split("/")).read_bytes()) for path in GROUP_PHOTOS]


def test_faces_of_group_photos_follow_the_same_rule_and_join_a_person_made_from_one_of_them(
    app, client, db, users
):
    """Two group photos of the same six people: every person is in two photos, below the core of
    three, so no person forms (the rule for every face). Made into a person by hand, one face pulls
    in its match from the other photo, by the centroid join every face gets."""
    first, second = index(app, client, users.alice_token, *group_photo_files())
    db.expire_all()
    faces = {
        pid: db.scalars(select(AlbumFace).where(AlbumFace.photo_id == pid)).all() for pid in (first, second)
    }
    assert len(faces[first]) >= 6 and len(faces[second]) >= 6
    assert all(face.person_id is None for pid in faces for face in faces[pid])

    def unit(face: AlbumFace) -> np.ndarray:
        vector = np.frombuffer(face.embedding, "<f4")
        return vector / np.linalg.norm(vector)

    pairs = sorted(
        ((float(unit(a) @ unit(b)), a.id, b.id) for a in faces[first] for b in faces[second]), reverse=True
    )
    similarity, seed, partner = pairs[0]
    assert similarity >= CUT, pairs[:3]
    moved = client.post(
        f"/api/v1/album/faces/{seed}/person", json={"name": "Friend"}, headers=bearer(users.alice_token)
    ).get_json()
    assert moved["grouping"]["assigned"] >= 1
    db.expire_all()
    assert db.get(AlbumFace, partner).person_id == moved["person"]["id"]
    assert db.get(AlbumFace, partner).assigned_by == "auto"
    assert moved["person"]["id"] in {
        p["id"] for p in client.get("/api/v1/album/people", headers=bearer(users.alice_token)).get_json()
    }


def test_a_feature_photo_per_person_chosen_by_the_user(app, client, db, users):
    photos = family(app, client, users.alice_token)
    token = bearer(users.alice_token)
    tony = [main_face(db, pid) for pid in photos["Tony_Blair"]]
    colin = main_face(db, photos["Colin_Powell"][0])
    person_id = tony[0].person_id
    sharpest = client.get(f"/api/v1/album/people/{person_id}", headers=token).get_json()["person"]
    assert sharpest["feature_face_id"] is None
    chosen = next(face for face in tony if face.id != sharpest["cover_face_id"])

    answer = client.patch(
        f"/api/v1/album/people/{person_id}", json={"feature_face_id": chosen.id}, headers=token
    )
    assert answer.status_code == 200, answer.get_json()
    assert (
        answer.get_json()["feature_face_id"] == chosen.id and answer.get_json()["cover_face_id"] == chosen.id
    )
    listed = {p["id"]: p for p in client.get("/api/v1/album/people", headers=token).get_json()}
    assert listed[person_id]["cover_url"].endswith(f"/faces/{chosen.id}/crop")

    # Not this person's face, another user's face, an unknown id, a bad type: refused, unchanged.
    before = state(db, users.alice.id)
    bob_photo = index(app, client, users.bob_token, lfw("Colin_Powell", 4))[0]
    for payload, status, words in (
        ({"feature_face_id": colin.id}, 400, "not one of this person's faces"),
        ({"feature_face_id": main_face(db, bob_photo).id}, 404, "you have no face"),
        ({"feature_face_id": 2**31 - 1}, 404, "you have no face"),
        ({"feature_face_id": "3"}, 400, "feature_face_id"),
        ({"feature_face_id": colin.id, "name": "Tony"}, 400, "not one of this person's faces"),
    ):
        refused = client.patch(f"/api/v1/album/people/{person_id}", json=payload, headers=token)
        assert refused.status_code == status, (payload, refused.get_json())
        assert words in refused.get_json()["error"]
    assert state(db, users.alice.id) == before
    refused = client.patch(
        f"/api/v1/album/people/{person_id}",
        json={"feature_face_id": chosen.id},
        headers=bearer(users.bob_token),
    )
    assert refused.status_code == 404

    # null: the sharpest face again; "not this person" on the feature face also ends the choice.
    cleared = client.patch(f"/api/v1/album/people/{person_id}", json={"feature_face_id": None}, headers=token)
    assert cleared.get_json()["feature_face_id"] is None
    assert cleared.get_json()["cover_face_id"] == sharpest["cover_face_id"]
    client.patch(f"/api/v1/album/people/{person_id}", json={"feature_face_id": chosen.id}, headers=token)
    assert client.post(f"/api/v1/album/faces/{chosen.id}/not-this-person", headers=token).status_code == 200
    db.expire_all()
    assert db.get(AlbumFeatureFace, person_id) is None


def test_the_library_pages_like_the_api(app, client, db, users, login):
    family(app, client, users.alice_token)
    token = bearer(users.alice_token)
    everything = client.get("/api/v1/album/photos", headers=token).get_json()
    assert everything["total"] == 7 and everything["pages"] == 1 and everything["per_page"] == 100
    newest_first = [p["id"] for p in everything["photos"]]
    login(client, users.alice.email, PASSWORD)
    shown = []
    for page in (1, 2, 3):
        api = client.get(f"/api/v1/album/photos?page={page}&per_page=3", headers=token).get_json()
        assert api["pages"] == 3 and api["page"] == page and api["total"] == 7
        html = client.get(f"/album?page={page}&per_page=3").get_data(as_text=True)
        web = [int(i) for i in re.findall(r'<li data-photo="(\d+)"', html)]
        assert web == [p["id"] for p in api["photos"]], page
        assert f"Page {page} of 3" in html
        shown += web
    assert shown == newest_first
    # Links to the neighbouring pages keep the page size; out-of-range values are held in range.
    page_two = client.get("/album?page=2&per_page=3").get_data(as_text=True)
    assert (
        'href="/album?page=1&amp;per_page=3"' in page_two
        and 'href="/album?page=3&amp;per_page=3"' in page_two
    )
    assert client.get("/api/v1/album/photos?page=-4&per_page=0", headers=token).get_json()["page"] == 1
    assert client.get("/api/v1/album/photos?per_page=9999", headers=token).get_json()["per_page"] == 500
    beyond = client.get("/album?page=9&per_page=3")
    assert beyond.status_code == 200 and "No photo on page 9" in beyond.get_data(as_text=True)
    assert client.get("/api/v1/album/photos?page=9&per_page=3", headers=token).get_json()["photos"] == []


def test_the_pages_forms_move_choose_and_delete(app, client, db, users, login):
    photos = family(app, client, users.alice_token)
    tony = main_face(db, photos["Tony_Blair"][0])
    colin = main_face(db, photos["Colin_Powell"][0])
    hugo = main_face(db, photos["Hugo_Chavez"][0])
    login(client, users.alice.email, PASSWORD)
    csrf = csrf_token_from(client.get("/album").get_data(as_text=True))

    moved = client.post(
        f"/album/faces/{hugo.id}/move",
        data={"csrf_token": csrf, "person_id": "new", "name": "Hugo", "next": "/album/people"},
    )
    assert moved.status_code == 303 and moved.headers["Location"].endswith("/album/people")
    db.expire_all()
    assert db.get(AlbumPerson, db.get(AlbumFace, hugo.id).person_id).name == "Hugo"

    chosen = client.post(
        f"/album/people/{tony.person_id}", data={"csrf_token": csrf, "action": "feature", "face_id": tony.id}
    )
    assert chosen.status_code == 303
    db.expire_all()
    assert db.get(AlbumFeatureFace, tony.person_id).face_id == tony.id
    assert 'class="badge feature"' in client.get(f"/album/people/{tony.person_id}").get_data(as_text=True)

    # Refused forms: the reason, a 4xx, nothing changed; a `next` off the site is not followed.
    before = state(db, users.alice.id)
    for url, data, status, words in (
        (
            f"/album/people/{tony.person_id}",
            {"action": "feature", "face_id": colin.id},
            400,
            "not one of this",
        ),
        (f"/album/faces/{colin.id}/move", {"person_id": "Tony"}, 400, "not a number"),
        (f"/album/faces/{colin.id}/move", {"person_id": "99999999999"}, 404, "You have no person"),
        (f"/album/faces/{colin.id}/move", {"person_id": colin.person_id}, 409, "already in that person"),
    ):
        refused = client.post(url, data={"csrf_token": csrf, **data})
        assert refused.status_code == status and words in refused.get_data(as_text=True), (url, data)
    assert state(db, users.alice.id) == before

    colin_id, colin_photo = colin.id, colin.photo_id
    deleted = client.post(
        f"/album/faces/{colin.id}/delete", data={"csrf_token": csrf, "next": "//evil.example/"}
    )
    assert deleted.status_code == 303
    assert deleted.headers["Location"].endswith(f"/album/photos/{colin_photo}")
    db.expire_all()
    assert db.get(AlbumFace, colin_id) is None and db.get(AlbumPhoto, colin_photo) is not None
