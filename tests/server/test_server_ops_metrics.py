"""/metrics: request counts and latency from this app, ingest/jobs/devices from the database,
served to loopback or with the metrics token only."""

from __future__ import annotations

import base64
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from server.db.models import DeviceHealth, RejectedMessage, Sighting
from server.db.models.school import Device
from server.db.types import utcnow
from server.jobs import JobContext, job_handler, run_pending, submit_job
from server.settings import update_settings


@job_handler("test.metrics.noop")
def noop(ctx: JobContext, payload: dict) -> None:
    return None


def scrape(client, **kwargs) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_requests_are_counted_by_endpoint_and_status_with_latency(client):
    for _ in range(3):
        client.get("/healthz")
    client.get("/no/such/page")
    samples = scrape(client)
    ok = (("endpoint", "health.healthz"), ("method", "GET"), ("status", "200"))
    assert samples[("visage_http_requests_total", ok)] == 3
    missing = (("endpoint", "none"), ("method", "GET"), ("status", "404"))
    assert samples[("visage_http_requests_total", missing)] == 1
    count = samples[
        ("visage_http_request_duration_seconds_count", (("endpoint", "health.healthz"), ("method", "GET")))
    ]
    assert count == 3


def test_database_metrics_follow_ingest_jobs_and_devices(app, client, db):
    before = scrape(client)
    assert before[("visage_database_up", ())] == 1
    room_cam, hall_cam = (
        Device(device_id="cam-101", name="Room 101"),
        Device(device_id="cam-hall", name="Hall"),
    )
    db.add_all([room_cam, hall_cam])
    db.flush()
    db.add(DeviceHealth(device_id=room_cam.id, status="online", clock_skew_exceeded=False))
    db.add(DeviceHealth(device_id=hall_cam.id, status="offline", clock_skew_exceeded=False))
    now = utcnow()
    db.add_all(
        Sighting(event_id=f"ev-{i}", device_id=room_cam.id, track_id="t1", captured_at=now) for i in range(3)
    )
    for reason, age in (("schema", 10), ("schema", 20), ("unknown_device", 30), ("replay", 7200)):
        db.add(
            RejectedMessage(
                topic="t",
                device_id="x",
                reason=reason,
                detail="d",
                payload_size=1,
                payload_head=b"x",
                received_at=now - timedelta(seconds=age),
            )
        )
    for _ in range(2):
        submit_job(db, "test.metrics.noop")
    db.commit()
    run_pending(app, limit=1)

    after = scrape(client)
    sightings = ("visage_ingest_sightings_total", ())
    # A counter over the ids ever given (the highest id: MariaDB keeps counting after rows are
    # deleted, so on a reused test database it starts above zero; it never goes back).
    assert after[sightings] == db.scalar(select(func.max(Sighting.id)))
    assert after[sightings] - before.get(sightings, 0) >= 3
    assert after[("visage_ingest_rejected_recent", (("reason", "schema"),))] == 2
    assert after[("visage_ingest_rejected_recent", (("reason", "unknown_device"),))] == 1
    assert ("visage_ingest_rejected_recent", (("reason", "replay"),)) not in after  # outside the hour
    assert after[("visage_jobs", (("status", "queued"),))] == 1
    assert after[("visage_jobs", (("status", "succeeded"),))] == 1
    assert after[("visage_jobs_oldest_queued_age_seconds", ())] >= 0
    assert after[("visage_device_online", (("device", "cam-101"),))] == 1
    assert after[("visage_device_online", (("device", "cam-hall"),))] == 0
    assert after[("visage_devices", (("state", "online"),))] == 1
    assert after[("visage_devices", (("state", "total"),))] == 2


def test_remote_scrapes_need_the_token(app, client):
    remote = {"environ_base": {"REMOTE_ADDR": "203.0.113.9"}}
    refused = client.get("/metrics", **remote)
    assert refused.status_code == 403
    assert "localhost" in refused.json["error"]
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})  # loopback proxy
    assert proxied.status_code == 403

    update_settings(app, METRICS_TOKEN="scrape-me")
    assert client.get("/metrics", **remote).status_code == 401
    wrong = base64.b64encode(b"prometheus:nope").decode()
    assert client.get("/metrics", headers={"Authorization": f"Basic {wrong}"}, **remote).status_code == 401
    right = base64.b64encode(b"prometheus:scrape-me").decode()
    assert "visage_database_up" in str(scrape(client, headers={"Authorization": f"Basic {right}"}, **remote))
