"""Authorization of the album: user B can neither see, download, search nor change user A's albums,
photos, faces, people or searches, through the API or the web pages: every album route is tried
with A's ids and answers 404 (exactly like an id that does not exist), and nothing of A's changes.
Accounts without the album role get 403; anonymous callers 401 (API) or the sign-in page (web)."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from server.api.endpoints import registry
from server.db.models import AlbumFace, AlbumPerson, AlbumPhoto
from tests.server.conftest import PASSWORD, csrf_token_from
from tests.server.test_server_album_support import (
    album_users,
    bearer,
    counts,
    lfw,
    run_jobs,
    share_analyzer,
    upload,
)

ID_PARAM = re.compile(r"\{(\w+)\}|<(?:\w+:)?(\w+)>")


@pytest.fixture
def world(app, analyzer, client, db, make_user, make_token) -> SimpleNamespace:
    """Alice and Bob each have an album, three indexed photos of one person (so a person), a search."""
    share_analyzer(app, analyzer)
    users = album_users(make_user, make_token)
    ids = {}
    for who, token, person in (
        ("alice", users.alice_token, "Tony_Blair"),
        ("bob", users.bob_token, "Colin_Powell"),
    ):
        album = client.post("/api/v1/album/albums", json={"name": "Family"}, headers=bearer(token)).get_json()
        photos = [lfw(person, n) for n in (1, 2, 3)]
        stored = upload(client, token, *photos, album_id=str(album["id"])).get_json()
        run_jobs(app)
        photo_id = stored["files"][0]["photo_id"]
        face = db.scalar(select(AlbumFace).where(AlbumFace.photo_id == photo_id))
        assert face is not None and face.person_id is not None, "three photos of one person make a person"
        found = client.post(
            "/api/v1/album/searches", json={"photo_id": photo_id}, headers=bearer(token)
        ).get_json()
        ids[who] = {
            "album_id": album["id"],
            "photo_id": photo_id,
            "face_id": face.id,
            "person_id": face.person_id,
            "search_id": found["search"]["id"],
        }
    return SimpleNamespace(**vars(users), ids=ids)


def album_operations():
    return [op for op in registry.operations if op.path.startswith("/album")]


def body_for(operation_id: str, mine: dict[str, int], theirs: dict[str, int]) -> dict:
    """A valid request body for each mutating endpoint, naming the other user's ids where it takes ids."""
    return {
        "update_album_person": {"json": {"name": "Not yours", "hidden": True}},
        "merge_album_people": {"json": {"person_ids": [theirs["person_id"]]}},
        "split_album_person": {"json": {"face_ids": [theirs["face_id"]]}},
        "move_album_face": {"json": {"person_id": theirs["person_id"]}},
        "rename_album": {"json": {"name": "Mine now"}},
        "create_album_search": {"json": {"photo_id": theirs["photo_id"]}},
        "upload_album_photos": {
            "data": {
                "photos": [(io.BytesIO(lfw("Hugo_Chavez", 1)[1]), "h.jpg")],
                "album_id": str(theirs["album_id"]),
            }
        },
    }.get(operation_id, {})


def snapshot(db, owner_id: int) -> tuple:
    db.expire_all()
    photos = db.execute(
        select(AlbumPhoto.id, AlbumPhoto.album_id, AlbumPhoto.status).where(AlbumPhoto.owner_id == owner_id)
    ).all()
    faces = db.execute(select(AlbumFace.id, AlbumFace.person_id).where(AlbumFace.owner_id == owner_id)).all()
    people = db.execute(
        select(AlbumPerson.id, AlbumPerson.name, AlbumPerson.hidden).where(AlbumPerson.owner_id == owner_id)
    ).all()
    return sorted(photos), sorted(faces), sorted(people)


def test_every_album_api_route_answers_404_for_another_users_ids_and_lists_only_own(client, db, world):
    alice, bob = world.ids["alice"], world.ids["bob"]
    before = snapshot(db, world.alice.id)
    tried = set()
    for op in album_operations():
        params = [m.group(1) for m in re.finditer(r"\{(\w+)\}", op.path)]
        kwargs = body_for(op.operation_id, bob, alice)
        if params:
            url = "/api/v1" + re.sub(r"\{(\w+)\}", lambda m: str(alice[m.group(1)]), op.path)
        elif "json" in kwargs or "data" in kwargs:
            url = "/api/v1" + op.path  # ids travel in the body
        else:
            continue  # lists and "mine" actions: checked below
        response = client.open(url, method=op.method, headers=bearer(world.bob_token), **kwargs)
        assert response.status_code == 404, (
            op.method,
            url,
            response.status_code,
            response.get_data(as_text=True),
        )
        assert "you have no" in response.get_json()["error"]
        tried.add(op.operation_id)
    # Bob's own ids in the URL with Alice's ids in the body: still 404.
    for operation_id, path in (("merge_album_people", "merge"), ("split_album_person", "split")):
        kwargs = body_for(operation_id, bob, alice)
        response = client.post(
            f"/api/v1/album/people/{bob['person_id']}/{path}", headers=bearer(world.bob_token), **kwargs
        )
        assert response.status_code == 404, response.get_json()
    # Bob's own face into Alice's person; Alice's face as the feature photo of Bob's person.
    response = client.post(
        f"/api/v1/album/faces/{bob['face_id']}/person",
        json={"person_id": alice["person_id"]},
        headers=bearer(world.bob_token),
    )
    assert response.status_code == 404 and "you have no person" in response.get_json()["error"]
    response = client.patch(
        f"/api/v1/album/people/{bob['person_id']}",
        json={"feature_face_id": alice["face_id"]},
        headers=bearer(world.bob_token),
    )
    assert response.status_code == 404 and "you have no face" in response.get_json()["error"]
    with_ids = {op.operation_id for op in album_operations() if "{" in op.path}
    assert with_ids <= tried
    assert snapshot(db, world.alice.id) == before

    # Lists and "my album" actions only ever show or touch the caller's own album.
    token = bearer(world.bob_token)
    photos = client.get("/api/v1/album/photos", headers=token).get_json()["photos"]
    assert alice["photo_id"] not in {p["id"] for p in photos} and len(photos) == 3
    people = client.get("/api/v1/album/people", headers=token).get_json()
    assert alice["person_id"] not in {p["id"] for p in people}
    waiting = client.get("/api/v1/album/faces/waiting", headers=token).get_json()
    assert alice["face_id"] not in {f["id"] for f in waiting["faces"]}
    albums = client.get("/api/v1/album/albums", headers=token).get_json()
    assert alice["album_id"] not in {a["id"] for a in albums}
    assert client.get(f"/api/v1/album/photos?album_id={alice['album_id']}", headers=token).status_code == 404
    assert client.post("/api/v1/album/index", headers=token).get_json()["photos"] == 0
    # A key photo of Alice's person finds nothing in Bob's album (Bob has only Colin Powell).
    found = client.post(
        "/api/v1/album/searches", data={"key": (io.BytesIO(lfw("Tony_Blair", 4)[1]), "k.jpg")}, headers=token
    ).get_json()
    assert found["results"] == []
    # Bob deletes his whole album: Alice's stays.
    assert client.delete("/api/v1/album/library", headers=token).status_code == 200
    assert snapshot(db, world.alice.id) == before
    assert counts(db)[0] == 3


def test_every_album_page_answers_404_for_another_users_ids(app, client, db, world, login):
    alice = world.ids["alice"]
    before = snapshot(db, world.alice.id)
    login(client, world.bob.email, PASSWORD)
    token = csrf_token_from(client.get("/album").get_data(as_text=True))
    tried = 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("album.") or not rule.arguments:
            continue
        url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(alice[m.group(1)]), rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = {"csrf_token": token, "action": "rename", "name": "x"} if method == "POST" else None
            response = client.open(url, method=method, data=data)
            assert response.status_code == 404, (method, url, response.status_code)
            tried += 1
    # photo, delete, not-this-person, delete face, move face, search, person page, person form
    assert tried == 8
    # Forms that take ids in the body: a search keyed by Alice's photo, an upload into her album.
    search = client.post("/album/search", data={"csrf_token": token, "photo_id": alice["photo_id"]})
    assert search.status_code == 404
    into = client.post(
        "/album/upload",
        data={
            "csrf_token": token,
            "album_id": alice["album_id"],
            "photos": [(io.BytesIO(lfw("Hugo_Chavez", 1)[1]), "h.jpg")],
        },
    )
    assert into.status_code == 404
    bob = world.ids["bob"]
    feature = client.post(
        f"/album/people/{bob['person_id']}",
        data={"csrf_token": token, "action": "feature", "face_id": alice["face_id"]},
    )
    assert feature.status_code == 404
    move = client.post(
        f"/album/faces/{bob['face_id']}/move", data={"csrf_token": token, "person_id": alice["person_id"]}
    )
    assert move.status_code == 404
    listing = client.get("/album").get_data(as_text=True)
    assert f'data-photo="{alice["photo_id"]}"' not in listing
    assert snapshot(db, world.alice.id) == before

    # The same forms on Bob's own ids work: name his person, then hide them.
    bob = world.ids["bob"]
    named = client.post(
        f"/album/people/{bob['person_id']}", data={"csrf_token": token, "action": "rename", "name": "Colin"}
    )
    assert named.status_code == 303
    hidden = client.post(f"/album/people/{bob['person_id']}", data={"csrf_token": token, "action": "hide"})
    assert hidden.status_code == 303
    db.expire_all()
    person = db.get(AlbumPerson, bob["person_id"])
    assert person.name == "Colin" and person.hidden is True
    page = client.get(f"/album/photos/{bob['photo_id']}").get_data(as_text=True)
    assert "Not Colin" in page and "<rect" in page


def test_accounts_without_the_album_role_get_403_and_anonymous_callers_401(
    client, make_user, make_token, login
):
    world = album_users(make_user, make_token)
    alice = {"album_id": 1, "photo_id": 1, "face_id": 1, "person_id": 1, "search_id": 1}  # checked before ids
    for op in album_operations():
        url = "/api/v1" + re.sub(r"\{(\w+)\}", lambda m: str(alice[m.group(1)]), op.path)
        forbidden = client.open(url, method=op.method, headers=bearer(world.ivan_token))
        assert forbidden.status_code == 403, (op.method, url)
        anonymous = client.open(url, method=op.method)
        if op.method == "GET":
            assert anonymous.status_code == 401, (op.method, url)
        else:  # a cookie-less browser request fails the CSRF check first; either way nothing happens
            assert anonymous.status_code in (400, 401), (op.method, url)
            assert anonymous.status_code == 401 or "CSRF" in anonymous.get_json()["error"]
    assert client.get("/album").status_code == 302  # to the sign-in page
    login(client, world.ivan.email, PASSWORD)
    assert client.get("/album").status_code == 403
    assert client.get("/album/photos/1").status_code == 403
