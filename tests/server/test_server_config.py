"""Settings resolution, the persisted secret key and cookie flags (no database needed)."""

from __future__ import annotations

import stat

import pytest

from server.app import create_app
from server.config import ConfigError, default_instance_path, ensure_secret_key, load_config


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in ("DATABASE_URL", "VISAGE_CONFIG", "VISAGE_INSTANCE_PATH", "VISAGE_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_an_embedded_sqlite_file_and_safe_cookies(tmp_path):
    config = load_config(tmp_path, environ={})
    assert config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'visage.db'}"
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["SECRET_KEY"] is None  # left to ensure_secret_key: never a hard-coded default


def test_file_then_environment_then_caller(tmp_path):
    settings = tmp_path / "visage.toml"
    settings.write_text(
        'DATABASE_URL = "mysql+pymysql://u:p@db/visage"\nLOGIN_MAX_FAILURES = 3\nlowercase = "ignored"\n'
    )
    environ = {
        "VISAGE_CONFIG": str(settings),
        "VISAGE_SESSION_COOKIE_SECURE": "true",
        "VISAGE_SECRET_KEY": "123",
    }
    config = load_config(tmp_path, environ=environ)
    assert config["DATABASE_URL"] == "mysql+pymysql://u:p@db/visage"
    assert config["LOGIN_MAX_FAILURES"] == 3
    assert config["SESSION_COOKIE_SECURE"] is True  # JSON-decoded
    assert config["SECRET_KEY"] == "123"  # kept as the string it is
    assert "lowercase" not in config

    environ["DATABASE_URL"] = "sqlite:////srv/visage.db"
    assert load_config(tmp_path, environ=environ)["DATABASE_URL"] == "sqlite:////srv/visage.db"
    assert load_config(tmp_path, {"LOGIN_MAX_FAILURES": 9}, environ)["LOGIN_MAX_FAILURES"] == 9


def test_bad_config_file_is_a_clear_error(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(tmp_path, environ={"VISAGE_CONFIG": str(broken)})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path, environ={"VISAGE_CONFIG": str(tmp_path / "absent.toml")})


def test_secret_key_is_generated_once_and_kept_private(tmp_path):
    first: dict = {}
    ensure_secret_key(first, tmp_path)
    second: dict = {}
    ensure_secret_key(second, tmp_path)
    assert first["SECRET_KEY"] == second["SECRET_KEY"] and len(first["SECRET_KEY"]) == 64
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no temporary file left behind
    configured = {"SECRET_KEY": "from-the-operator"}
    ensure_secret_key(configured, tmp_path)
    assert configured["SECRET_KEY"] == "from-the-operator"


def test_app_uses_the_instance_folder_and_secure_cookies_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("VISAGE_INSTANCE_PATH", str(tmp_path / "state"))
    assert default_instance_path() == tmp_path / "state"
    app = create_app({"SESSION_COOKIE_SECURE": True})
    assert app.instance_path == str(tmp_path / "state")
    assert app.config["DATABASE_URL"].endswith("/state/visage.db")
    assert (tmp_path / "state" / "secret_key").read_text().strip() == app.config["SECRET_KEY"]

    @app.get("/set")
    def set_session() -> str:
        from flask import session

        session["x"] = 1
        return "ok"

    cookie = app.test_client().get("/set").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
