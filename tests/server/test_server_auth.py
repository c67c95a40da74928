"""Sign-in, sessions, CSRF, rate limiting, API tokens and roles, through the Flask test client with
CSRF protection on, against SQLite and MariaDB."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from server.db import utcnow
from server.db.models import LoginAttempt
from tests.server.conftest import PASSWORD, csrf_token_from


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_login_then_logout(client, make_user, login):
    user = make_user("instructor", email="Ada@Example.org")
    response = login(client, "ada@example.org", PASSWORD)  # emails match case-insensitively
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert user.display_name in home.get_data(as_text=True)

    token = csrf_token_from(home.get_data(as_text=True))
    out = client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    assert client.get("/").status_code == 302


def test_session_cookie_flags(client, make_user, login):
    make_user("instructor", email="flags@example.org")
    response = login(client, "flags@example.org", PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("visage_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # off by default (development over http); see the config test


def test_login_form_without_csrf_token_is_refused(client, make_user):
    make_user("instructor", email="csrf@example.org")
    client.get("/login")
    response = client.post("/login", data={"email": "csrf@example.org", "password": PASSWORD})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # not signed in


def test_logout_needs_csrf_token(client, make_user, login):
    make_user("instructor", email="stay@example.org")
    login(client, "stay@example.org", PASSWORD)
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200  # still signed in


def test_wrong_password_and_unknown_account(client, make_user, login):
    make_user("instructor", email="bob@example.org")
    for email in ("bob@example.org", "nobody@example.org"):
        response = login(client, email, "not the password")
        assert response.status_code == 401
        assert "Wrong email or password." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_inactive_account_cannot_sign_in_and_loses_its_session(client, make_user, login, db):
    user = make_user("instructor", email="gone@example.org")
    assert login(client, "gone@example.org", PASSWORD).status_code == 302
    user.active = False
    db.commit()
    assert client.get("/").status_code == 302
    assert login(client, "gone@example.org", PASSWORD).status_code == 401


def test_rate_limit_blocks_after_five_failures_per_account_and_address(client, app, make_user, login, db):
    make_user("instructor", email="carol@example.org")
    for _ in range(5):
        assert login(client, "carol@example.org", "wrong password").status_code == 401
    blocked = login(client, "carol@example.org", PASSWORD)  # even the right password
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.get_data(as_text=True)

    other = app.test_client()
    elsewhere = login(other, "carol@example.org", PASSWORD, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert elsewhere.status_code == 302  # another address is not locked out by this one

    # Once the failures are older than the window, the pair may try again.
    db.execute(update(LoginAttempt).values(at=utcnow() - timedelta(minutes=16)))
    db.commit()
    assert login(client, "carol@example.org", PASSWORD).status_code == 302
    assert db.scalar(select(func.count()).select_from(LoginAttempt)) == 0  # success cleared them


def test_anonymous_is_redirected_from_pages_and_gets_401_json_from_the_api(client):
    page = client.get("/admin/users?sort=email")
    assert page.status_code == 302
    assert page.headers["Location"] == "/login?next=/admin/users?sort%3Demail"
    api = client.get("/api/v1/me")
    assert api.status_code == 401
    assert api.is_json and api.get_json()["error"].startswith("authentication required")
    assert api.headers["WWW-Authenticate"].startswith("Bearer")


def test_next_parameter_only_leads_within_the_site(app, make_user):
    make_user("admin", email="root@example.org")
    for target, expected in (
        ("/admin/users", "/admin/users"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
    ):
        client = app.test_client()
        page = client.get("/login", query_string={"next": target})
        token = csrf_token_from(page.get_data(as_text=True))
        response = client.post(
            "/login",
            data={"email": "root@example.org", "password": PASSWORD, "csrf_token": token, "next": target},
        )
        assert response.headers["Location"] == expected, target


def test_api_token_authenticates_and_revoked_token_does_not(client, make_user, make_token):
    user = make_user("album_user", email="dave@example.org")
    token = make_token(user, "script")
    headers = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200
    assert me.get_json()["email"] == "dave@example.org"
    assert me.get_json()["auth"] == "token"
    assert "Set-Cookie" not in me.headers  # token clients get no session

    listing = client.get("/api/v1/tokens", headers=headers).get_json()
    assert [t["name"] for t in listing] == ["script"] and "token" not in listing[0]
    assert listing[0]["last_used_at"] is not None

    # Bearer requests are exempt from CSRF: a token client can revoke without a CSRF token.
    revoked = client.delete(f"/api/v1/tokens/{listing[0]['id']}", headers=headers)
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    again = client.get("/api/v1/me", headers=headers)
    assert again.status_code == 401
    assert again.get_json() == {"error": "invalid, expired or revoked API token"}


def test_bad_and_expired_tokens_are_refused_everywhere(client, make_user, make_token):
    user = make_user("instructor")
    expired = make_token(user, "old", expires_at=utcnow() - timedelta(seconds=1))
    for value in (f"Bearer {expired}", "Bearer vsg_not-a-real-token", "Bearer "):
        response = client.get("/api/v1/openapi.json", headers={"Authorization": value})
        assert response.status_code == 401, value
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_token_of_deactivated_user_is_refused(client, make_user, make_token, db):
    user = make_user("instructor")
    token = make_token(user)
    user.active = False
    db.commit()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_session_api_calls_need_the_csrf_header(client, make_user, login):
    make_user("instructor", email="erin@example.org")
    login(client, "erin@example.org", PASSWORD)
    assert client.get("/api/v1/me").get_json()["auth"] == "session"

    refused = client.post("/api/v1/tokens", json={"name": "laptop"})
    assert refused.status_code == 400 and "CSRF" in refused.get_json()["error"]

    token = csrf_token_from(client.get("/").get_data(as_text=True))
    created = client.post("/api/v1/tokens", json={"name": "laptop"}, headers={"X-CSRFToken": token})
    assert created.status_code == 201
    secret = created.get_json()["token"]
    assert secret.startswith("vsg_") and secret.startswith(created.get_json()["prefix"])
    fresh = client.application.test_client()
    assert fresh.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200


def test_token_endpoint_validates_input_and_hides_other_users_tokens(client, make_user, make_token):
    alice, mallory = make_user("instructor"), make_user("instructor")
    alice_token = make_token(alice, "alice's")
    headers = {"Authorization": f"Bearer {make_token(mallory, 'mallory')}"}
    alice_token_id = client.get("/api/v1/tokens", headers=bearer(alice_token)).get_json()[0]["id"]
    assert client.delete(f"/api/v1/tokens/{alice_token_id}", headers=headers).status_code == 404
    assert client.post("/api/v1/tokens", json={"name": ""}, headers=headers).status_code == 400
    assert client.post("/api/v1/tokens", json=["x"], headers=headers).status_code == 400
    assert client.post("/api/v1/tokens", data="name=x", headers=headers).status_code == 415
    bad_expiry = client.post("/api/v1/tokens", json={"name": "x", "expires_in_days": 0}, headers=headers)
    assert bad_expiry.status_code == 400 and "expires_in_days" in bad_expiry.get_json()["error"]
    assert client.get("/api/v1/me", headers=bearer(alice_token)).status_code == 200


def test_roles_guard_pages_and_api(client, make_user, login, make_token):
    make_user("album_user", email="frank@example.org")
    login(client, "frank@example.org", PASSWORD)
    for path in ("/probe/instructor", "/admin/users"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "text/html" in response.content_type
        assert "role" in response.get_data(as_text=True)

    instructor = make_user("instructor")
    api_client = client.application.test_client()
    headers = {"Authorization": f"Bearer {make_token(instructor)}"}
    assert api_client.get("/probe/instructor", headers=headers).status_code == 200
    forbidden = api_client.get("/admin/users", headers=headers)
    assert forbidden.status_code == 403 and "admin" in forbidden.get_json()["error"]

    admin = make_user("admin")
    assert api_client.get("/probe/instructor", headers=bearer(make_token(admin))).status_code == 200


def test_errors_speak_json_on_the_api_and_html_on_the_web(client):
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and "error" in missing.get_json()
    wrong_method = client.put("/api/v1/openapi.json")
    assert wrong_method.status_code == 405 and wrong_method.is_json and "GET" in wrong_method.headers["Allow"]
    page = client.get("/no-such-page")
    assert page.status_code == 404 and "text/html" in page.content_type


def test_security_headers_and_static_assets(client):
    css = client.get("/static/visage.css")
    assert css.status_code == 200 and "text/css" in css.content_type
    login_page = client.get("/login")
    assert "frame-ancestors 'none'" in login_page.headers["Content-Security-Policy"]
    assert login_page.headers["X-Content-Type-Options"] == "nosniff"
    assert "https://" not in login_page.get_data(as_text=True)  # nothing from a CDN
    assert client.get("/healthz").get_json() == {"status": "ok"}
