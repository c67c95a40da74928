"""/healthz and /readyz: liveness never touches the database; readiness needs it reachable and migrated."""

from __future__ import annotations

import secrets

from server.app import create_app
from server.settings import update_settings


def make_app(url: str, tmp_path):
    return create_app(
        {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": url,
            "TESTING": True,
            "SECRET_KEY": secrets.token_hex(16),
        }
    )


def test_a_migrated_database_is_ready(client):
    live = client.get("/healthz")
    assert live.status_code == 200 and live.json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["status"] == "ready"
    from server.db.migrate import head_revision

    assert ready.json["revision"] == head_revision()


def test_a_database_not_migrated_to_head_is_not_ready(new_database_url, tmp_path):
    from server.db.migrate import upgrade

    url = new_database_url()
    client = make_app(url, tmp_path).test_client()
    empty = client.get("/readyz")
    assert empty.status_code == 503
    assert empty.json["status"] == "unavailable"
    assert empty.json["reasons"][0].startswith("database schema at revision none, code expects ")
    upgrade(url, "0004")
    behind = client.get("/readyz")
    assert behind.status_code == 503 and "at revision 0004" in behind.json["reasons"][0]
    assert client.get("/healthz").status_code == 200  # alive all the same


def test_an_unreachable_database_is_not_ready_and_the_reason_names_no_secret(tmp_path):
    url = "mysql+pymysql://visage:s3cret@127.0.0.1:1/visage?connect_timeout=2"
    client = make_app(url, tmp_path).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "reasons": ["database unreachable"]}
    assert client.get("/healthz").status_code == 200


def test_readiness_checks_redis_when_jobs_go_through_rq(app, client):
    update_settings(app, JOBS_RUNNER="rq", REDIS_URL="redis://127.0.0.1:1/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["reasons"] == ["job queue (Redis) unreachable"]
