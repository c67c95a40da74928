"""Server test fixtures: every database test runs on SQLite and on MariaDB.

Fixtures (see each docstring):
  backend           "sqlite" | "mariadb" (session-scoped parameter of every database test)
  new_database_url  factory: a fresh, empty database of the current backend, dropped at the end
  db_url            one database migrated to head for the whole session (per backend)
  app               a configured app on `db_url` (CSRF on, cheap argon2), tables emptied afterwards
  client            `app.test_client()`
  db                a SQLAlchemy session on the app's database (for arranging and checking rows)
  make_user         factory: make_user(role="instructor", email=None, password=PASSWORD) -> User
  make_token        factory: make_token(user, name="test") -> the bearer token string
  login             login(client, email, password) -> the response to the sign-in POST (CSRF done)
  server_env        environment variables (monkeypatched) that point the `visage server` CLI at db_url

MariaDB is the one on 127.0.0.1:3306 (root, no password), or VISAGE_TEST_MYSQL_URL
(`mysql+pymysql://user:pass@host:port/`). When it is unreachable the MariaDB half is skipped
with a message, except under CI=true, where it fails.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator

import pytest
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from sqlalchemy import delete
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from server.auth import role_required
from server.db.enums import Role
from tests.conftest import MYSQL_URL, mysql_admin_connection

PASSWORD = "correct horse battery"

# Cheap argon2id for tests (the default costs ~50 ms per hash by design).
FAST_HASHING = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "ARGON2_PARALLELISM": 1}

CSRF_FIELD = re.compile(r'name="csrf[-_]token"[^>]*?(?:value|content)="([^"]+)"')

# A page only instructors (and administrators) may open, as the attendance views will be.
probe = Blueprint("probe", __name__)


@probe.get("/probe/instructor")
@role_required(Role.INSTRUCTOR)
def instructor_probe() -> str:
    return "instructor area"


@pytest.fixture(scope="session", params=["sqlite", "mariadb"])
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def new_database_url(backend, tmp_path_factory) -> Iterator[Callable[[], str]]:
    """Factory of fresh, empty databases of the current backend; MariaDB ones are dropped at the end."""
    created: list[str] = []
    connection = mysql_admin_connection() if backend == "mariadb" else None

    def make() -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path_factory.mktemp('db') / 'visage.db'}"
        name = f"visage_test_{secrets.token_hex(6)}"
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        created.append(name)
        return make_url(MYSQL_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    if connection is not None:
        with connection.cursor() as cursor:
            for name in created:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        connection.close()


@pytest.fixture(scope="session")
def db_url(new_database_url) -> str:
    """A database of the current backend, migrated to head once per test session."""
    from server.db.migrate import upgrade

    url = new_database_url()
    upgrade(url)
    return url


@pytest.fixture
def app(db_url, tmp_path) -> Iterator[Flask]:
    from server.app import create_app
    from server.db import Base, get_db

    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": db_url,
            "TESTING": True,
            "SECRET_KEY": secrets.token_hex(16),
            # The tests write their times in UTC and read pages in it; the Asia/Seoul default is
            # tested where it matters (test_server_i18n.py).
            "DISPLAY_TIMEZONE": "UTC",
            **FAST_HASHING,
        }
    )
    app.register_blueprint(probe)
    yield app
    database = get_db(app)
    with database.session() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))
        session.commit()
    database.dispose()


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def db(app) -> Iterator[Session]:
    from server.db import get_db

    with get_db(app).session() as session:
        yield session


@pytest.fixture
def make_user(app, db) -> Callable[..., object]:
    from server.auth.accounts import create_user
    from server.auth.passwords import passwords

    counter = iter(range(1, 1000))

    def make(role: str = "instructor", email: str | None = None, password: str | None = PASSWORD, **kw):
        email = email or f"{role}{next(counter)}@example.org"
        name = kw.pop("display_name", f"Test {role}")
        return create_user(
            db, passwords(app), email=email, display_name=name, role=role, password=password, **kw
        )

    return make


@pytest.fixture
def make_token(db) -> Callable[..., str]:
    from server.auth.tokens import issue_token

    def make(user, name: str = "test", expires_at=None) -> str:
        _row, token = issue_token(db, user, name, expires_at)
        db.commit()
        return token

    return make


def csrf_token_from(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client: FlaskClient, email: str, password: str, **kwargs) -> TestResponse:
    """Open the sign-in page, then post the form with the token it carried (as a browser does)."""
    page = client.get("/login", **kwargs)
    token = csrf_token_from(page.get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token}, **kwargs)


@pytest.fixture
def login() -> Callable[..., TestResponse]:
    return sign_in


@pytest.fixture
def server_env(db_url, tmp_path, monkeypatch) -> dict[str, str]:
    """Point `visage server ...` (which reads the environment) at the test database."""
    env = {
        "DATABASE_URL": db_url,
        "VISAGE_INSTANCE_PATH": str(tmp_path / "cli-instance"),
        **{f"VISAGE_{key}": str(value) for key, value in FAST_HASHING.items()},
    }
    monkeypatch.delenv("VISAGE_CONFIG", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


class Publisher:
    """A plain paho client on the system Mosquitto: what a device (or an attacker with a device's
    account) publishes, for the ingest tests."""

    def __init__(self) -> None:
        import paho.mqtt.client as mqtt

        from tests.conftest import BROKER

        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{secrets.token_hex(4)}")
        self.client.connect(*BROKER)
        self.client.loop_start()

    def send(self, name: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.client.publish(name, payload, qos=qos, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher() -> Iterator[Publisher]:
    from tests.conftest import require_broker

    require_broker()
    pub = Publisher()
    yield pub
    pub.close()
