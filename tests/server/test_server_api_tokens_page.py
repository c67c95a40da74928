"""The API tokens page of one's account and the token endpoints, on SQLite and MariaDB: a token made on
the page works once and is audited, bad input re-renders the form with its message and writes nothing,
a form without its CSRF token is refused, another user's token cannot be revoked, and the API's own
create/revoke are audited the same way. Swagger UI's page and files come from the installed package."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from server.db.models import ApiToken, AuditLog
from tests.server.conftest import PASSWORD, csrf_token_from

NEW_TOKEN = re.compile(r'id="new-token-value" value="(vsg_[^"]+)"')


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def count(db, model) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model))


def test_tokens_page_creates_lists_and_revokes_with_audit(client, db, make_user, login):
    user = make_user("album_user", email="ann@example.org")
    login(client, user.email, PASSWORD)
    page = client.get("/account/tokens")
    assert page.status_code == 200 and "You have no API tokens yet" in page.get_data(as_text=True)
    csrf = csrf_token_from(page.get_data(as_text=True))

    form = {"name": "backup script", "expires": "365", "csrf_token": csrf}
    made = client.post("/account/tokens", data=form)
    assert made.status_code == 201
    token = NEW_TOKEN.search(made.get_data(as_text=True)).group(1)
    assert made.headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/me", headers=bearer(token)).get_json()["email"] == user.email
    row = db.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    assert row.name == "backup script" and row.expires_at is not None
    listed = client.get("/account/tokens").get_data(as_text=True)
    assert row.prefix in listed and token not in listed  # shown once

    audit = db.scalars(select(AuditLog).where(AuditLog.action == "api_token.created")).one()
    assert audit.actor_id == user.id and audit.entity_id == str(row.id)
    assert audit.after["prefix"] == row.prefix and token not in str(audit.after)

    revoked = client.post(f"/account/tokens/{row.id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 302
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    entry = db.scalars(select(AuditLog).where(AuditLog.action == "api_token.revoked")).one()
    assert entry.actor_id == user.id


def test_bad_input_writes_nothing_and_others_tokens_are_out_of_reach(
    client, db, make_user, make_token, login
):
    ann = make_user("album_user", email="ann@example.org")
    bob = make_user("instructor", email="bob@example.org")
    bobs = make_token(bob, "bob's")
    login(client, ann.email, PASSWORD)
    csrf = csrf_token_from(client.get("/account/tokens").get_data(as_text=True))
    before = count(db, ApiToken), count(db, AuditLog)

    for form, message in (
        ({"name": "", "expires": "30"}, "This field is required."),
        ({"name": "x" * 101, "expires": "30"}, "Field cannot be longer than 100 characters."),
        ({"name": "ok", "expires": "7"}, "Not a valid choice."),
    ):
        answer = client.post("/account/tokens", data={**form, "csrf_token": csrf})
        assert answer.status_code == 400 and message in answer.get_data(as_text=True)
    no_csrf = client.post("/account/tokens", data={"name": "sneaky", "expires": "30"})
    assert no_csrf.status_code == 400
    bobs_row = db.scalars(select(ApiToken).where(ApiToken.user_id == bob.id)).one()
    assert client.post(f"/account/tokens/{bobs_row.id}/revoke", data={"csrf_token": csrf}).status_code == 404
    assert (count(db, ApiToken), count(db, AuditLog)) == before
    assert client.get("/api/v1/me", headers=bearer(bobs)).status_code == 200


def test_the_api_creates_and_revokes_tokens_audited_too(client, db, make_user, make_token):
    ann = make_user("album_user", email="ann@example.org")
    token = make_token(ann)
    made = client.post("/api/v1/tokens", json={"name": "ci", "expires_in_days": 10}, headers=bearer(token))
    assert made.status_code == 201
    new_id = made.get_json()["id"]
    assert client.delete(f"/api/v1/tokens/{new_id}", headers=bearer(token)).status_code == 200
    actions = db.scalars(select(AuditLog.action).where(AuditLog.entity_id == str(new_id))).all()
    assert sorted(actions) == ["api_token.created", "api_token.revoked"]


def test_swagger_ui_is_served_from_the_package(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="(/api/docs/[^"]+)"', page.get_data(as_text=True))
    assert {asset.rsplit("/", 1)[1] for asset in assets} == {"swagger-ui.css", "swagger-ui-bundle.js"}
    for asset in assets:
        answer = client.get(asset)
        assert answer.status_code == 200 and len(answer.data) > 10_000
    assert 'data-url="/api/v1/openapi.json"' in page.get_data(as_text=True)
    version = assets[0].split("/")[3]
    assert client.get(f"/api/docs/{version}/index.html").status_code == 404  # only what the page needs
    assert client.get("/api/docs/0.0.1/swagger-ui.css").status_code == 404
