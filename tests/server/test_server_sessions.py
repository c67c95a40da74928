"""Accounts under attack (issue 14), on SQLite and MariaDB: the sign-in limit holds under a burst of
parallel wrong passwords, signing out or changing the password ends the account's sessions
(a cookie copied before is refused), and pages and API answers for a signed-in user are not stored
by caches."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from server.db.models import AuditLog, LoginAttempt
from tests.server.conftest import PASSWORD, csrf_token_from


def session_cookie(client) -> str:
    cookie = client.get_cookie("visage_session")
    assert cookie is not None
    return cookie.value


def with_cookie(app, value: str):
    """A second browser holding a copy of someone's session cookie."""
    thief = app.test_client()
    thief.set_cookie("visage_session", value)
    return thief


def test_a_burst_of_parallel_wrong_passwords_gets_exactly_the_limit_evaluated(app, make_user, login, db):
    make_user("instructor", email="burst@example.org")
    limit = int(app.config["LOGIN_MAX_FAILURES"])
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(24)

    def attempt() -> None:
        client = app.test_client()
        page = client.get("/login")
        token = csrf_token_from(page.get_data(as_text=True))
        start.wait(timeout=30)
        response = client.post(
            "/login", data={"email": "burst@example.org", "password": "wrong password", "csrf_token": token}
        )
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(set(statuses)) == [401, 429] and len(statuses) == 24
    assert statuses.count(401) == limit  # evaluated: exactly the limit, not 18 of a burst
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(LoginAttempt)) == limit  # refusals leave no row
    assert login(app.test_client(), "burst@example.org", PASSWORD).status_code == 429


def test_signing_out_ends_the_session_and_every_copy_of_its_cookie(app, client, make_user, login):
    make_user("instructor", email="out@example.org")
    assert login(client, "out@example.org", PASSWORD).status_code == 302
    copied = session_cookie(client)
    assert with_cookie(app, copied).get("/").status_code == 200  # the copy works while signed in
    home = client.get("/").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_token_from(home)}).status_code == 302
    assert with_cookie(app, copied).get("/").status_code == 302  # refused: sent to the sign-in page
    assert with_cookie(app, copied).get("/api/v1/courses").status_code == 401


def test_changing_the_password_ends_other_sessions_and_keeps_this_one(app, client, make_user, login, db):
    user = make_user("instructor", email="change@example.org")
    assert login(client, "change@example.org", PASSWORD).status_code == 302
    other = app.test_client()
    assert login(other, "change@example.org", PASSWORD).status_code == 302
    page = client.get("/account/password")
    assert page.status_code == 200 and "Change password" in page.get_data(as_text=True)
    token = csrf_token_from(page.get_data(as_text=True))

    def post(current: str, new: str, confirm: str):
        return client.post(
            "/account/password",
            data={"current": current, "new": new, "confirm": confirm, "csrf_token": token},
        )

    wrong = post("not it", "a new long password", "a new long password")
    assert wrong.status_code == 400 and "not your current password" in wrong.get_data(as_text=True)
    differ = post(PASSWORD, "a new long password", "another new password")
    assert differ.status_code == 400 and "differ" in differ.get_data(as_text=True)
    short = post(PASSWORD, "short", "short")
    assert short.status_code == 400 and "too short" in short.get_data(as_text=True)
    assert other.get("/").status_code == 200  # nothing changed yet

    done = post(PASSWORD, "a new long password", "a new long password")
    assert done.status_code == 302
    assert client.get("/").status_code == 200  # this browser stays signed in
    assert other.get("/").status_code == 302  # the other session has ended
    assert login(app.test_client(), "change@example.org", PASSWORD).status_code == 401
    assert login(app.test_client(), "change@example.org", "a new long password").status_code == 302
    db.expire_all()
    actions = db.scalars(select(AuditLog.action).where(AuditLog.entity_id == user.id)).all()
    assert "user.password" in actions


def test_set_password_command_ends_the_accounts_sessions(
    app, client, make_user, login, server_env, capsys, monkeypatch
):
    import io

    from visage.cli import main

    make_user("instructor", email="reset@example.org")
    assert login(client, "reset@example.org", PASSWORD).status_code == 302
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new password\n"))
    assert main(["server", "set-password", "--email", "reset@example.org", "--password-stdin"]) == 0
    assert "every session of the account has ended" in capsys.readouterr().out
    assert client.get("/").status_code == 302
    assert login(app.test_client(), "reset@example.org", "a brand new password").status_code == 302
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new password\n"))
    assert main(["server", "set-password", "--email", "nobody@example.org", "--password-stdin"]) == 2
    assert "no account with email nobody@example.org" in capsys.readouterr().err


def test_signed_in_answers_are_not_stored_by_caches(client, make_user, login, make_token):
    anonymous = client.get("/login")
    assert "no-store" not in anonymous.headers.get("Cache-Control", "")
    user = make_user("instructor", email="cache@example.org")
    login(client, "cache@example.org", PASSWORD)
    for path in ("/", "/courses", "/students"):
        response = client.get(path)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store", path
    static = client.get("/static/visage.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")
    api = client.application.test_client().get(
        "/api/v1/courses", headers={"Authorization": f"Bearer {make_token(user)}"}
    )
    assert api.status_code == 200 and api.headers["Cache-Control"] == "no-store"
