"""Account commands pointed at a database that is not there (issue 18: `visage server create-token`, run
as the README showed it, looked at instance/visage.db, failed, and left an empty database and a secret
key behind). They refuse with one sentence naming the file and what to do, and create nothing: no
database file, no instance folder, no secret key. A database file without the schema is refused too.
`init-db` still creates the database, as it should."""

from __future__ import annotations

import io

import pytest

from visage.cli import main

COMMANDS = [
    ("server", "create-token", "--email", "album@school.example", "--name", "script"),
    ("server", "create-user", "--email", "a@example.org", "--name", "A", "--role", "admin", "--no-password"),
    ("server", "set-password", "--email", "a@example.org", "--password-stdin"),
]


@pytest.fixture
def instance(tmp_path, monkeypatch):
    """VISAGE_INSTANCE_PATH at a folder that does not exist, no DATABASE_URL or config file."""
    folder = tmp_path / "instance"
    monkeypatch.setenv("VISAGE_INSTANCE_PATH", str(folder))
    for name in ("DATABASE_URL", "VISAGE_CONFIG", "VISAGE_DATABASE_URL", "VISAGE_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    return folder


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: argv[1])
def test_a_missing_database_is_refused_and_nothing_is_created(instance, argv, capsys):
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert f"there is no database at {instance / 'visage.db'}" in err
    assert "visage server init-db" in err and "instance/demo" in err
    assert not instance.exists()  # no folder, no empty visage.db, no secret_key


def test_a_database_without_the_schema_is_refused_without_a_secret_key(instance, capsys):
    instance.mkdir()
    (instance / "visage.db").write_bytes(b"")
    assert main(list(COMMANDS[0])) == 2
    assert "is not initialised or not up to date" in capsys.readouterr().err
    assert "secret_key" not in {path.name for path in instance.iterdir()}  # (SQLite's -wal/-shm aside)


def test_init_db_still_creates_the_database(instance, capsys):
    assert main(["server", "init-db"]) == 0
    assert (instance / "visage.db").is_file()
    assert main(["server", "create-user", "--email", "a@example.org", "--name", "A", "--role", "admin",
                 "--no-password"]) == 0  # fmt: skip
    assert main([*COMMANDS[0][:3], "a@example.org", "--name", "script"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("vsg_")
