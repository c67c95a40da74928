"""Typed settings (server/settings/): checked once when the app starts, documented in one table.

No database is touched: `create_app` only builds the engine."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from server.app import create_app
from server.config import ConfigError
from server.retention import RULES
from server.settings import Settings, default_config, load_settings, settings_of, update_settings
from server.settings.table import DOC, documented, table

MiB = 1024 * 1024

# The defaults as they were before the settings were typed (the six dicts and the inline defaults of
# the call sites), kept here so that typing them changed no deployment's behaviour.
OLD_DEFAULTS = {
    # server/config.py DEFAULTS
    "DATABASE_URL": None,
    "DATABASE_ECHO": False,
    "SECRET_KEY": None,
    "SESSION_COOKIE_NAME": "visage_session",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": False,
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_SECURE": False,
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
    "WTF_CSRF_TIME_LIMIT": None,
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_FAILURE_WINDOW_SECONDS": 15 * 60,
    "ARGON2_TIME_COST": 3,
    "ARGON2_MEMORY_COST": 65536,
    "ARGON2_PARALLELISM": 4,
    "TOKEN_TOUCH_SECONDS": 60,
    "TRUSTED_PROXIES": 0,
    "MAX_CONTENT_LENGTH": 512 * MiB,
    "MODELS_DIR": None,
    "DEVICE_MODELS": None,
    "DEFAULT_LOCALE": "en",
    "DISPLAY_TIMEZONE": "Asia/Seoul",
    # bodyread, logs, metrics, web/live, media policy (shared.media), storage
    "BODY_IDLE_SECONDS": 30.0,
    "BODY_READ_SECONDS": 600.0,
    "LOG_FORMAT": "text",
    "LOG_LEVEL": "INFO",
    "METRICS_LOCAL": True,
    "METRICS_TOKEN": None,
    "METRICS_WINDOW_SECONDS": 3600,
    "LIVE_REFRESH_SECONDS": 5,
    "IMAGE_MIN_SIDE": 32,
    "IMAGE_MAX_ASPECT": 20.0,
    "STORAGE_BACKEND": "local",
    "STORAGE_PATH": None,
    "S3_BUCKET": None,
    "S3_PREFIX": "",
    # server/enrolment/settings.py DEFAULTS
    "ENROLMENT_MAX_PHOTO_BYTES": 15 * MiB,
    "ENROLMENT_MAX_UPLOAD_BYTES": 100 * MiB,
    "ENROLMENT_MAX_FILES_PER_UPLOAD": 20,
    "ENROLMENT_MAX_IMPORT_BYTES": 256 * MiB,
    "ENROLMENT_MAX_PHOTOS_PER_STUDENT": 10,
    "ENROLMENT_MAX_CSV_ROWS": 5000,
    "ENROLMENT_ZIP_MAX_MEMBERS": 2000,
    "ENROLMENT_ZIP_MAX_TOTAL_BYTES": 1024 * MiB,
    "ENROLMENT_ZIP_MAX_RATIO": 100,
    "ENROLMENT_MAX_SIDE_PX": 1600,
    "ENROLMENT_THUMBNAILS": True,
    "ENROLMENT_THUMBNAIL_PX": 112,
    "ENROLMENT_REJECTIONS_KEPT": 20,
    "GALLERY_MODEL": "sface",
    "GALLERY_THRESHOLD": None,
    # server/album/settings.py DEFAULTS
    "ALBUM_MAX_PHOTO_BYTES": 30 * MiB,
    "ALBUM_MAX_UPLOAD_BYTES": 300 * MiB,
    "ALBUM_MAX_FILES_PER_UPLOAD": 50,
    "ALBUM_MAX_ZIP_BYTES": 1024 * MiB,
    "ALBUM_ZIP_MAX_MEMBERS": 5000,
    "ALBUM_ZIP_MAX_TOTAL_BYTES": 4096 * MiB,
    "ALBUM_ZIP_MAX_RATIO": 100,
    "ALBUM_MAX_SIDE_PX": 1600,
    "ALBUM_THUMBNAIL_PX": 320,
    "ALBUM_FACE_CROP_PX": 112,
    "ALBUM_BLUR_THRESHOLD": 60.0,
    "ALBUM_SEARCH_THRESHOLD": None,
    "ALBUM_SEARCHES_KEPT": 10,
    "ALBUM_INDEX_EXACT_LIMIT": 20_000,
    "ALBUM_HNSW_M": 16,
    "ALBUM_HNSW_EF_CONSTRUCTION": 100,
    "ALBUM_HNSW_EF_SEARCH": 512,
    # server/deepfake/settings.py DEFAULTS
    "DEEPFAKE_MAX_FILE_BYTES": 200 * MiB,
    "DEEPFAKE_MAX_UPLOAD_BYTES": 512 * MiB,
    "DEEPFAKE_MAX_FILES_PER_UPLOAD": 20,
    "DEEPFAKE_FRAMES": 32,
    "DEEPFAKE_MODELS_DIR": None,
    "DEEPFAKE_MODEL_PATH": None,
    "DEEPFAKE_HISTORY_PAGE": 50,
    # server/attendance/service.py SETTINGS (+ the roster's refresh)
    "ATTENDANCE_LATE_AFTER_MINUTES": 10,
    "ATTENDANCE_LEFT_EARLY_MINUTES": 10,
    "ATTENDANCE_MIN_PRESENCE": 0.5,
    "ATTENDANCE_GAP_TOLERANCE_MINUTES": 5,
    "ATTENDANCE_MIN_SIGHTINGS": 3,
    "ATTENDANCE_MIN_CONFIDENCE": None,
    "ATTENDANCE_DWELL_SECONDS": 30,
    "ATTENDANCE_WINDOW_MARGIN_MINUTES": 10,
    "ATTENDANCE_BREAK_MINUTES": 0,
    "ATTENDANCE_OUT_AFTER_SECONDS": 90,
    "ATTENDANCE_REFRESH_SECONDS": 5,
    # server/ingest (IngestSettings and the worker), visage server ingest
    "INGEST_MAX_CLOCK_SKEW_SECONDS": 120.0,
    "INGEST_TELEMETRY_KEEP": 10_000,
    "INGEST_MAX_AHEAD_SECONDS": 86_400.0,
    "INGEST_MAX_SENT_AGE_SECONDS": 30 * 86_400.0,
    "INGEST_EARLIEST_TIME": datetime(2000, 1, 1, tzinfo=timezone.utc),
    "INGEST_GALLERY_PUBLISH_SECONDS": 60,
    "INGEST_POLL_SECONDS": 0.5,
    "INGEST_LINGER_SECONDS": 0.05,
    "MQTT_HOST": "127.0.0.1",
    "MQTT_PORT": 1883,
    "MQTT_TLS": False,
    # server/jobs/__init__.py DEFAULTS
    "JOBS_RUNNER": "thread",
    "JOBS_THREADS": 2,
    "JOBS_START": None,
    "REDIS_URL": None,
    "JOBS_RQ_QUEUE": "visage-jobs",
    "JOBS_RQ_TIMEOUT": 6 * 3600,
    "JOBS_POLL_SECONDS": 2.0,
    "JOBS_HEARTBEAT_SECONDS": 10.0,
    "JOBS_STALE_SECONDS": 90.0,
    "JOBS_PROGRESS_SECONDS": 0.5,
    # server/retention.py rules
    "RETENTION_SIGHTING_THUMBNAIL_DAYS": 30,
    "RETENTION_UNKNOWN_CROPS_DAYS": 7,
    "RETENTION_SIGHTINGS_DAYS": None,
    "RETENTION_TELEMETRY_DAYS": 90,
    "RETENTION_REJECTED_MESSAGES_DAYS": 30,
    "RETENTION_JOBS_DAYS": 90,
    "RETENTION_ALBUM_SEARCHES_DAYS": 7,
    "RETENTION_DEEPFAKE_CHECKS_DAYS": 30,
    "RETENTION_BATCH": 1000,
}

# One wrong value per area, and what the startup error says about it.
WRONG = {
    "server": ("LOGIN_MAX_FAILURES", "five", "LOGIN_MAX_FAILURES='five': must be a whole number"),
    "i18n": ("DISPLAY_TIMEZONE", "Mars/Olympus", "DISPLAY_TIMEZONE='Mars/Olympus': is not a known IANA"),
    "storage": ("STORAGE_BACKEND", "ftp", "STORAGE_BACKEND='ftp': must be one of 'local' or 's3'"),
    "uploads": ("IMAGE_MAX_ASPECT", 0.5, "IMAGE_MAX_ASPECT=0.5: must be at least 1"),
    "devices": ("DEVICE_MODELS", 7, "DEVICE_MODELS=7: must be a list"),
    "enrolment": ("GALLERY_MODEL", "arcface", "GALLERY_MODEL='arcface': must be one of 'dlib_resnet'"),
    "album": ("ALBUM_MAX_SIDE_PX", "abc", "ALBUM_MAX_SIDE_PX='abc': must be a whole number"),
    "deepfake": ("DEEPFAKE_FRAMES", 0, "DEEPFAKE_FRAMES=0: must be at least 1"),
    "attendance": ("ATTENDANCE_MIN_PRESENCE", "lots", "ATTENDANCE_MIN_PRESENCE='lots': must be a number"),
    "ingest": (
        "INGEST_EARLIEST_TIME",
        "1900-01-01T00:00:00Z",
        "INGEST_EARLIEST_TIME='1900-01-01T00:00:00Z': must be from 1970 to 2100",
    ),
    "jobs": ("JOBS_RUNNER", "celery", "JOBS_RUNNER must be one of thread, rq, none, not 'celery'"),
    "retention": ("RETENTION_JOBS_DAYS", -1, "RETENTION_JOBS_DAYS=-1: must be at least 0"),
}


def make_app(tmp_path, **settings):
    return create_app(
        {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'v.db'}",
            "TESTING": True,
            "SECRET_KEY": "x",
            **settings,
        }
    )


def test_defaults_equal_the_old_ones():
    defaults = default_config()
    assert {key: defaults[key] for key in OLD_DEFAULTS} == OLD_DEFAULTS
    settings = load_settings({})
    assert settings.album.max_photo_bytes == 30 * MiB and settings.jobs.runner == "thread"


@pytest.mark.parametrize("area", sorted(WRONG))
def test_a_wrong_value_in_each_area_stops_the_app_naming_the_key(tmp_path, area):
    key, value, message = WRONG[area]
    with pytest.raises(ConfigError) as caught:
        make_app(tmp_path, **{key: value})
    assert message in str(caught.value)
    assert Settings.areas()[area].keys(), "the area has settings"


def test_every_area_has_a_wrong_value_case():
    assert set(WRONG) == set(Settings.areas())


def test_every_bad_key_is_named_at_once_and_secrets_are_not_printed(tmp_path):
    with pytest.raises(ConfigError) as caught:
        make_app(tmp_path, ALBUM_MAX_SIDE_PX="abc", JOBS_THREADS=0, MQTT_PASSWORD=["hunter2"])
    message = str(caught.value)
    assert "ALBUM_MAX_SIDE_PX='abc': must be a whole number" in message
    assert "JOBS_THREADS=0: must be at least 1" in message
    assert "MQTT_PASSWORD=<hidden>: must be a string" in message and "hunter2" not in message


def test_true_is_not_a_number_and_false_still_keeps_data_for_ever():
    with pytest.raises(ConfigError, match="DEEPFAKE_FRAMES=True: must be a number, not true or false"):
        load_settings({"DEEPFAKE_FRAMES": True})  # pydantic alone would read it as 1
    assert load_settings({"RETENTION_JOBS_DAYS": False}).retention.jobs_days is None


def test_values_from_the_environment_are_typed_once(tmp_path, monkeypatch):
    monkeypatch.setenv("VISAGE_ALBUM_MAX_SIDE_PX", "1200")  # JSON-decoded to an int
    monkeypatch.setenv("VISAGE_ENROLMENT_THUMBNAILS", "false")
    monkeypatch.setenv("VISAGE_DEVICE_MODELS", "sface,yunet")  # not JSON: a comma list
    monkeypatch.setenv("VISAGE_MQTT_PASSWORD", "1234")  # JSON-decodes to a number; kept as text
    monkeypatch.setenv("VISAGE_LOG_LEVEL", "debug")
    app = make_app(tmp_path)
    settings = settings_of(app)
    assert settings.album.max_side_px == 1200
    assert settings.enrolment.thumbnails is False
    assert settings.devices.device_models == ["sface", "yunet"]
    assert settings.ingest.mqtt_password == "1234"
    assert settings.server.log_level == "DEBUG"
    assert app.config["ALBUM_MAX_SIDE_PX"] == 1200  # written back: Flask's own keys are read there


def test_update_settings_validates_and_leaves_the_old_values_on_error(tmp_path):
    app = make_app(tmp_path)
    update_settings(app, ALBUM_MAX_PHOTO_BYTES="1000")
    assert settings_of(app).album.max_photo_bytes == 1000 == app.config["ALBUM_MAX_PHOTO_BYTES"]
    with pytest.raises(ConfigError, match="ALBUM_MAX_PHOTO_BYTES=-5: must be at least 1"):
        update_settings(app, ALBUM_MAX_PHOTO_BYTES=-5)
    assert settings_of(app).album.max_photo_bytes == 1000
    with pytest.raises(Exception, match="frozen"):
        settings_of(app).album.max_photo_bytes = 1  # type: ignore[misc]


def test_rq_without_redis_is_a_startup_error(tmp_path):
    with pytest.raises(ConfigError, match="JOBS_RUNNER is 'rq' but REDIS_URL is not set"):
        make_app(tmp_path, JOBS_RUNNER="rq")


def test_retention_rules_and_settings_are_the_same_keys():
    fields = set(Settings.areas()["retention"].keys().values()) - {"RETENTION_BATCH"}
    assert {rule.key for rule in RULES} == fields


def documented_keys() -> list[str]:
    return re.findall(r"^\| `([A-Z0-9_]+)` \|", documented(DOC.read_text(encoding="utf-8")), re.M)


def test_the_table_lists_every_setting_once_and_nothing_else():
    keys = documented_keys()
    assert len(keys) == len(set(keys)), "a key appears twice in docs/configuration.md"
    fields = {key for model in Settings.areas().values() for key in model.keys().values()}
    assert set(keys) - fields == set(), "documented but no model has it"
    assert fields - set(keys) == set(), "a setting missing from docs/configuration.md"


def test_the_table_is_what_the_models_generate():
    assert documented(DOC.read_text(encoding="utf-8")) == table(), "run python -m server.settings.table"
