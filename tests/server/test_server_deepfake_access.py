"""Who may see a deepfake check: only the user who uploaded it. Every route that takes a check id
answers 404 to any other user (album users, instructors and administrators alike) and changes
nothing; students get 403; anonymous callers 401 (API; 400 from the CSRF check on a state-changing
request without a token) or the sign-in page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from server.db.models import CheckStatus, DeepfakeCheck, DeepfakeFace
from tests.server.conftest import PASSWORD, csrf_token_from
from tests.server.test_server_deepfake_support import bearer, users

JPEG = b"\xff\xd8\xff\xe0 a face crop"


@pytest.fixture
def world(db, make_user, make_token):
    """Alice owns one finished check with one face crop."""
    people = users(make_user, make_token)
    check = DeepfakeCheck(
        owner_id=people.alice.id,
        filename="alice.mp4",
        media_kind="video",
        size_bytes=10,
        sha256="0" * 64,
        status=CheckStatus.DONE,
        verdict="uncertain",
        probability=0.5,
        result={"timeline": [{"frame": 1, "time_s": 0.1, "faces": 1, "score": 0.5}], "note": "n"},
    )
    check.faces.append(DeepfakeFace(ordinal=1, frame=1, time_s=0.1, score=0.5, box={}, jpeg=JPEG))
    db.add(check)
    db.commit()
    people.check = check.id
    return people


def api_routes(check_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", f"/api/v1/deepfake/checks/{check_id}"),
        ("GET", f"/api/v1/deepfake/checks/{check_id}/faces/1.jpg"),
        ("DELETE", f"/api/v1/deepfake/checks/{check_id}"),
        ("POST", f"/api/v1/deepfake/checks/{check_id}/cancel"),
    ]


def page_routes(check_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", f"/deepfake/checks/{check_id}"),
        ("POST", f"/deepfake/checks/{check_id}/delete"),
        ("POST", f"/deepfake/checks/{check_id}/cancel"),
    ]


def test_every_route_with_a_check_id_is_listed_here(app):
    listed = {(m, re.sub(r"/\d+", "/<n>", p)) for m, p in api_routes(7) + page_routes(7)}
    found = set()
    for rule in app.url_map.iter_rules():
        if "deepfake" in rule.rule and "<" in rule.rule:
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                found.add((method, re.sub(r"<[^>]+>", "<n>", rule.rule)))
    assert found == listed


@pytest.mark.parametrize("intruder", ["bob", "admin"])
def test_other_users_get_404_from_every_api_route_and_change_nothing(client, db, world, intruder):
    token = getattr(world, f"{intruder}_token")
    for method, path in api_routes(world.check):
        answer = client.open(path, method=method, headers=bearer(token))
        assert answer.status_code == 404, (method, path, answer.status_code)
        assert "No deepfake check" in answer.get_json()["error"]
    listing = client.get("/api/v1/deepfake/checks", headers=bearer(token)).get_json()
    assert listing["checks"] == []
    db.expire_all()
    assert db.get(DeepfakeCheck, world.check) is not None
    owner = client.get(f"/api/v1/deepfake/checks/{world.check}", headers=bearer(world.alice_token))
    assert owner.status_code == 200 and owner.get_json()["filename"] == "alice.mp4"


def test_other_users_get_404_pages(client, db, world, login):
    login(client, "bob@example.org", PASSWORD)
    token = csrf_token_from(client.get("/deepfake").get_data(as_text=True))
    for method, path in page_routes(world.check):
        answer = client.open(path, method=method, data={"csrf_token": token} if method == "POST" else None)
        assert answer.status_code == 404, (method, path)
    assert "alice.mp4" not in client.get("/deepfake").get_data(as_text=True)
    db.expire_all()
    assert db.scalars(select(DeepfakeCheck)).one().id == world.check


def test_students_get_403_and_anonymous_callers_401_or_the_sign_in_page(client, world):
    for method, path in [
        *api_routes(world.check),
        ("GET", "/api/v1/deepfake/checks"),
        ("POST", "/api/v1/deepfake/checks"),
    ]:
        assert client.open(path, method=method, headers=bearer(world.student_token)).status_code == 403
        # Anonymous: 401; a state-changing request without a token meets the CSRF check first (400).
        assert client.open(path, method=method).status_code == (401 if method == "GET" else 400)
        forged = client.open(path, method=method, headers=bearer("vsg_not-a-real-token"))
        assert forged.status_code == 401
    assert client.get("/deepfake").status_code == 302
    assert "/login" in client.get(f"/deepfake/checks/{world.check}").headers["Location"]


def test_instructors_may_run_their_own_checks(client, make_user, make_token):
    teacher = make_user("instructor")
    listing = client.get("/api/v1/deepfake/checks", headers=bearer(make_token(teacher)))
    assert listing.status_code == 200 and listing.get_json()["checks"] == []
