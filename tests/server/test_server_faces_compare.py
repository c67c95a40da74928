"""`POST /api/v1/faces/compare` on real photos (../shared/data), with the server's own analyzer: the
same person matches, different people do not, every source x target pair is answered, the numbers equal
`visage faces compare --json` on the same files, the caller's own album photos work as references
(another user's do not), and bad input is a 4xx with a sentence. On SQLite and MariaDB."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from server.settings import update_settings
from shared.embed import DEFAULT_EMBEDDER, EMBEDDERS
from tests.conftest import data_path
from tests.server.test_server_album_support import album_users, bearer, share_analyzer, upload

REPO = Path(__file__).resolve().parents[2]
URL = "/api/v1/faces/compare"
THRESHOLD = float(EMBEDDERS[DEFAULT_EMBEDDER]["threshold"])


def example(name: str) -> Path:
    return data_path("face_recognition_examples", "examples", name)


def no_face_png() -> bytes:
    """A real image that shows no face: a smooth colour gradient."""
    ramp = np.linspace(0, 255, 256, dtype=np.uint8)
    blue = np.full((256, 256), 90, np.uint8)
    image = np.stack([np.tile(ramp, (256, 1)), np.tile(ramp[:, None], (1, 256)), blue], -1)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def send(client, token: str, source: tuple[str, bytes] | None, target: tuple[str, bytes] | None, **form):
    data = dict(form)
    if source is not None:
        data["source"] = (io.BytesIO(source[1]), source[0])
    if target is not None:
        data["target"] = (io.BytesIO(target[1]), target[0])
    return client.post(URL, data=data, headers=bearer(token), content_type="multipart/form-data")


def files(*names: str) -> list[tuple[str, bytes]]:
    return [(name, example(name).read_bytes()) for name in names]


@pytest.fixture
def users(app, analyzer, make_user, make_token):
    share_analyzer(app, analyzer)
    return album_users(make_user, make_token)


def test_same_person_matches_and_different_people_do_not(client, users):
    obama, obama2, biden = files("obama.jpg", "obama2.jpg", "biden.jpg")
    same = send(client, users.alice_token, obama, obama2)
    assert same.status_code == 200, same.get_json()
    body = same.get_json()
    assert body["embedder"] == DEFAULT_EMBEDDER and body["threshold"] == THRESHOLD
    assert body["any_match"] is True
    assert len(body["face_matches"]) == 1 and body["unmatched_faces"] == []
    assert body["face_matches"][0]["similarity"] >= THRESHOLD
    assert body["source"]["filename"] == "obama.jpg" and body["source"]["width"] > 0

    other = send(client, users.ivan_token, obama, biden).get_json()  # instructors may compare too
    assert other["any_match"] is False and other["face_matches"] == []
    assert len(other["unmatched_faces"]) == 1
    assert other["unmatched_faces"][0]["similarity"] < THRESHOLD


def test_every_face_pair_of_a_group_photo_is_answered(client, users):
    obama, group = files("obama2.jpg", "two_people.jpg")
    body = send(client, users.alice_token, obama, group).get_json()
    assert len(body["source"]["faces"]) == 1 and len(body["target"]["faces"]) == 2
    assert [(p["source_face"], p["target_face"]) for p in body["pairs"]] == [(0, 0), (0, 1)]
    assert len(body["face_matches"]) == 1 and len(body["unmatched_faces"]) == 1  # Obama, and Biden
    for pair in body["pairs"]:
        box = body["target"]["faces"][pair["target_face"]]["box"]
        assert len(box) == 4 and box[2] > box[0] and box[3] > box[1]

    reverse = send(client, users.alice_token, group, files("obama.jpg")[0]).get_json()
    assert len(reverse["source"]["faces"]) == 2 and len(reverse["target"]["faces"]) == 2  # a small 2nd face
    every = {(p["source_face"], p["target_face"]) for p in reverse["pairs"]}
    assert every == {(0, 0), (0, 1), (1, 0), (1, 1)}
    compared = [p for p in reverse["pairs"] if p["source_face"] == reverse["source_face"]]
    assert reverse["face_matches"] + reverse["unmatched_faces"] == compared


def test_the_answer_equals_the_cli_on_the_same_files(client, users):
    source, target = example("two_people.jpg"), example("obama.jpg")  # 2 x 2 faces
    cli = subprocess.run(
        [sys.executable, "-m", "visage.cli", "faces", "compare", str(source), str(target), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)
    body = send(client, users.alice_token, *files(source.name, target.name)).get_json()
    assert body["threshold"] == expected["threshold"] and body["metric"] == expected["metric"]
    source_box = body["source"]["faces"][body["source_face"]]["box"]
    assert source_box == pytest.approx(expected["source_face"]["box"])
    compared = [p for p in body["pairs"] if p["source_face"] == body["source_face"]]
    assert len(compared) == len(expected["matches"]) == 2
    for pair, match in zip(compared, expected["matches"], strict=True):
        assert body["target"]["faces"][pair["target_face"]]["box"] == pytest.approx(match["face"]["box"])
        assert pair["similarity"] == match["cosine"]
        assert pair["same_person"] == match["same_person"]
    assert body["any_match"] == expected["any_match"]


def test_own_album_photos_can_be_named_instead_of_sent(client, users):
    obama, obama2 = files("obama.jpg", "obama2.jpg")
    stored = upload(client, users.alice_token, obama, obama2)
    assert stored.status_code == 201, stored.get_json()
    ids = {f["filename"]: f["photo_id"] for f in stored.get_json()["files"]}
    by_id = client.post(
        URL,
        json={"source_photo_id": ids["obama.jpg"], "target_photo_id": ids["obama2.jpg"]},
        headers=bearer(users.alice_token),
    )
    assert by_id.status_code == 200, by_id.get_json()
    sent = send(client, users.alice_token, obama, obama2).get_json()
    assert by_id.get_json()["pairs"] == sent["pairs"]
    mixed = send(client, users.alice_token, obama, None, target_photo_id=str(ids["obama2.jpg"]))
    assert mixed.status_code == 200 and mixed.get_json()["pairs"] == sent["pairs"]

    stranger = client.post(
        URL,
        json={"source_photo_id": ids["obama.jpg"], "target_photo_id": ids["obama2.jpg"]},
        headers=bearer(users.bob_token),
    )
    assert stranger.status_code == 404 and "no photo" in stranger.get_json()["error"]


def test_bad_input_is_a_4xx_with_a_sentence(app, client, users):
    obama = files("obama.jpg")[0]
    no_face = ("gradient.png", no_face_png())

    answer = send(client, users.alice_token, no_face, obama)
    assert answer.status_code == 422 and "no face found in the source" in answer.get_json()["error"]
    empty_target = send(client, users.alice_token, obama, no_face)
    assert empty_target.status_code == 200
    assert empty_target.get_json()["pairs"] == [] and empty_target.get_json()["any_match"] is False

    answer = send(client, users.alice_token, obama, ("notes.jpg", b"this is not an image"))
    assert answer.status_code == 422 and answer.get_json()["error"].startswith("target: notes.jpg")
    answer = send(client, users.alice_token, obama, None)
    assert answer.status_code == 400 and "`target`" in answer.get_json()["error"]
    answer = send(client, users.alice_token, obama, ("empty.jpg", b""))
    assert answer.status_code == 400 and "the target image is empty (0 bytes)" in answer.get_json()["error"]
    answer = send(client, users.alice_token, obama, obama, target_photo_id="1")
    assert answer.status_code == 400 and "exactly one target" in answer.get_json()["error"]
    answer = send(client, users.alice_token, obama, None, target_photo_id="abc")
    assert answer.status_code == 400 and "target_photo_id" in answer.get_json()["error"]
    answer = client.post(URL, data=b"x", headers={**bearer(users.alice_token), "Content-Type": "text/plain"})
    assert answer.status_code == 415 and "multipart/form-data" in answer.get_json()["error"]
    answer = client.post(URL, json={"source_photo_id": "1"}, headers=bearer(users.alice_token))
    assert answer.status_code == 400 and "source_photo_id" in answer.get_json()["error"]

    update_settings(app, ENROLMENT_MAX_PHOTO_BYTES=len(obama[1]) - 1)
    answer = send(client, users.alice_token, obama, obama)
    assert answer.status_code == 413 and "more than the" in answer.get_json()["error"]


def test_only_signed_in_users_with_a_face_role_may_compare(client, users, make_user, make_token):
    student = make_token(make_user("student", email="stu@example.org"))
    obama = files("obama.jpg")[0]
    assert send(client, student, obama, obama).status_code == 403
    anonymous = client.post(URL, data={"source": (io.BytesIO(obama[1]), "a.jpg")})
    assert anonymous.status_code in (400, 401)  # the CSRF check (no session) or the sign-in
