"""`visage server init-db|create-user|create-token`: exit 0 with a useful line, or 2 with a sentence."""

from __future__ import annotations

import io

import pytest

from server.db.migrate import head_revision
from tests.server.conftest import csrf_token_from
from visage.cli import main


@pytest.fixture
def cli(app, server_env, capsys, monkeypatch):
    """Run `visage ...` against the test database (the `app` fixture empties it afterwards)."""

    def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_init_db_migrates_an_empty_database_and_is_idempotent(cli, new_database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", new_database_url())
    for _ in range(2):
        code, out, _ = cli("server", "init-db")
        assert code == 0
        assert f"is at revision {head_revision()} (head)" in out


def test_create_user_then_sign_in(cli, client):
    code, out, _ = cli(
        "server",
        "create-user",
        "--email",
        "Grace@Example.org",
        "--name",
        "Grace H",
        "--role",
        "instructor",
        "--password-stdin",
        stdin="s3cret pass phrase\n",
    )
    assert code == 0
    assert "created instructor account grace@example.org" in out

    page = client.get("/login")
    form = {"email": "grace@example.org", "password": "s3cret pass phrase"}
    response = client.post(
        "/login", data={**form, "csrf_token": csrf_token_from(page.get_data(as_text=True))}
    )
    assert response.status_code == 302
    assert client.get("/api/v1/me").get_json()["role"] == "instructor"


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (
            ["--role", "boss", "--password-stdin"],
            "long enough pw\n",
            "unknown role 'boss': choose one of admin",
        ),
        (["--role", "student", "--password-stdin"], "short\n", "too short"),
        (["--role", "student", "--password-stdin"], "", "empty password"),
        (["--role", "student"], "", "no password given"),
    ],
)
def test_create_user_bad_input(cli, argv, stdin, message):
    code, out, err = cli(
        "server", "create-user", "--email", "h@example.org", "--name", "H", *argv, stdin=stdin
    )
    assert code == 2 and out == ""
    assert message in err and err.startswith("visage: ")


def test_create_user_duplicate_email_and_bad_email(cli):
    args = ("server", "create-user", "--name", "I", "--role", "admin", "--password-stdin")
    assert cli(*args, "--email", "i@example.org", stdin="long enough pw\n")[0] == 0
    code, _, err = cli(*args, "--email", "I@EXAMPLE.ORG", stdin="long enough pw\n")
    assert code == 2 and "a user with email i@example.org already exists" in err
    code, _, err = cli(*args, "--email", "not-an-address", stdin="long enough pw\n")
    assert code == 2 and "is not an email address" in err


def test_create_user_on_an_uninitialised_database(cli, new_database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", new_database_url())
    code, _, err = cli(
        "server", "create-user", "--email", "j@example.org", "--name", "J", "--role", "admin", "--no-password"
    )
    assert code == 2 and "run `visage server init-db` first" in err


def test_create_token_prints_it_once_and_it_works(cli, client):
    cli(
        "server",
        "create-user",
        "--email",
        "k@example.org",
        "--name",
        "K",
        "--role",
        "album_user",
        "--no-password",
    )
    code, out, err = cli("server", "create-token", "--email", "k@example.org", "--name", "uploader")
    assert code == 0
    token = out.strip()
    assert token.startswith("vsg_") and "shown once" in err and token not in err
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.get_json()["email"] == "k@example.org"

    code, _, err = cli("server", "create-token", "--email", "nobody@example.org", "--name", "x")
    assert code == 2 and "no account with email nobody@example.org" in err
