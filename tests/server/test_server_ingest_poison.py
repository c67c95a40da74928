"""No MQTT message can stop ingest (issue 14): every payload of the hostile soak, published through
the real Mosquitto into the real `IngestWorker` on SQLite and MariaDB, is refused with its reason in
the reject log and acknowledged, and a valid message sent after them is stored. Before the fix each
of them ended the worker (RecursionError, ValueError, OverflowError, IntegrityError) or held it in
an endless "database unavailable" loop (MariaDB's out-of-range DataError), and the unacknowledged
message crashed every restart again."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

import server.ingest.worker as worker_module
from server.db.models import Device, DeviceHealth, DeviceTelemetry, RejectedMessage, Sighting, Student
from server.ingest import IngestWorker
from shared.messages import SightingBatch, SightingEvent, Status, Telemetry, topic
from tests.conftest import BROKER, require_broker
from tests.server.test_server_ingest_mqtt import forget_session

BIG = 2**63  # one more than the largest BIGINT
WORKER_WAIT_S = 60.0


@pytest.fixture
def scene(db) -> dict:
    device = Device(device_id=f"cam-{secrets.token_hex(4)}", name="Poisoned")
    student = Student(student_number=secrets.token_hex(4), name="Kim")
    db.add_all([device, student])
    db.commit()
    return {"device": device, "student": student}


@pytest.fixture
def ingest(app) -> Iterator[Callable[[], IngestWorker]]:
    """start() -> a running worker with this test's client id (the same on every call, so a second
    one resumes the first one's persistent session)."""
    require_broker()
    client_id = f"poison-{secrets.token_hex(4)}"
    started: list[IngestWorker] = []

    def start() -> IngestWorker:
        worker = IngestWorker(app, client_id, *BROKER, batch_size=50)
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker._thread is not None and worker._thread.is_alive():
            worker.stop(drain=False)
    forget_session(f"visage-ingest-{client_id}")


def sightings(device: str, *events: dict, **fields) -> dict:
    """A valid batch as JSON data, its events and fields replaced by the given ones."""
    now = datetime.now(timezone.utc)
    default = SightingEvent(f"ev-{secrets.token_hex(8)}", 1, now, 0.8)
    data = json.loads(SightingBatch(device, "b-1", now, (default,)).encode())
    if events:
        data["events"] = [
            {**data["events"][0], "event_id": f"ev-{secrets.token_hex(8)}", **e} for e in events
        ]
    return {**data, **fields}


def telemetry(device: str, **fields) -> dict:
    data = json.loads(Telemetry(device, datetime.now(timezone.utc), 10.0, 1.0, 0, 100).encode())
    return {**data, **fields}


def literal(data: dict, marker: str, text: str) -> bytes:
    """`data` as JSON with the string `marker` replaced by a raw literal that `json.dumps` cannot
    write (Python refuses to format a 5,000-digit integer)."""
    return json.dumps(data).replace(json.dumps(marker), text).encode()


def poison(device: str, stored: dict) -> list[tuple[str, str, bytes, str]]:
    """(what, topic kind, payload, the reason ingest must record) for each hostile payload."""
    status = json.loads(Status(device, "online", datetime.now(timezone.utc)).encode())
    ack = {"command_id": "c-1", "name": "resync_gallery", "ok": True, "detail": "", "at": "0001-01-01T00:00Z"}
    twin = {**stored, "event_id": stored["event_id"].upper(), "score": 0.1}
    huge = literal(sightings(device, {"student_id": "N"}), "N", "9" * 5000)
    sig, tel = "sightings", "telemetry"
    cases: list[tuple[str, str, bytes | dict, str]] = [
        ("2 KB of brackets", sig, b"[" * 1000 + b"]" * 1000, "too_deep"),
        ("an object nested 50,000 deep", sig, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "too_deep"),
        ("a 5,000-digit integer", sig, huge, "number_too_long"),
        (
            "sent_at in year 0 in UTC",
            sig,
            sightings(device, sent_at="0001-01-01T00:00:00+14:00"),
            "implausible_time",
        ),
        ("student_id 2^63", sig, sightings(device, {"student_id": BIG}), "out_of_range"),
        ("student_id beyond INT", sig, sightings(device, {"student_id": 2**31}), "out_of_range"),
        ("gallery_version 2^63", sig, sightings(device, gallery_version=BIG), "out_of_range"),
        ("gallery_version beyond INT", sig, sightings(device, gallery_version=2**31), "out_of_range"),
        ("a track_id of 71 digits", sig, sightings(device, {"track_id": 10**70}), "out_of_range"),
        ("telemetry gallery_version 2^63", tel, telemetry(device, gallery_version=BIG), "out_of_range"),
        ("an outbox depth beyond INT", tel, telemetry(device, outbox_depth=3e9), "bad_schema"),
        ("an fps of 401 digits", tel, telemetry(device, fps=10**400), "bad_schema"),
        ("an ack in year 1", tel, telemetry(device, acks=[ack]), "implausible_time"),
        ("an unpaired surrogate", "status", {**status, "software": "\ud800"}, "malformed_json"),
        ("a stored id in upper case, other content", sig, sightings(device, twin), "replay"),
    ]
    for year in ("0001", "1970", "2100", "9999"):
        at = f"{year}-06-01T00:00:00Z"
        cases.append(
            (f"captured_at in {year}", sig, sightings(device, {"captured_at": at}), "implausible_time")
        )
    return [
        (what, kind, raw if isinstance(raw, bytes) else json.dumps(raw).encode(), reason)
        for what, kind, raw, reason in cases
    ]


def wait_for(check: Callable[[], bool], what: str, worker: IngestWorker) -> None:
    deadline = time.monotonic() + WORKER_WAIT_S
    while not check():
        assert not worker.failed.is_set(), f"ingest stopped: {worker.failure!r}"
        assert time.monotonic() < deadline, f"timed out waiting for {what} (stats {worker.stats})"
        time.sleep(0.05)


def rejections(db, device: str) -> list[RejectedMessage]:
    db.rollback()
    query = select(RejectedMessage).where(RejectedMessage.device_id == device).order_by(RejectedMessage.id)
    return list(db.scalars(query))


def stored_ids(db, device: Device) -> set[str]:
    db.rollback()
    return set(db.scalars(select(Sighting.event_id).where(Sighting.device_id == device.id)))


def test_every_poison_payload_is_refused_with_its_reason_and_ingest_goes_on(db, scene, ingest, publisher):
    device, student = scene["device"], scene["student"]
    name = device.device_id
    worker = ingest()
    first = sightings(name, {"event_id": f"ev-{secrets.token_hex(8)}", "student_id": student.id})
    publisher.send(topic(name, "sightings"), json.dumps(first).encode())
    wait_for(lambda: len(stored_ids(db, device)) == 1, "the first valid batch", worker)

    cases = poison(name, first["events"][0])
    for _what, kind, payload, _reason in cases:
        publisher.send(topic(name, kind), payload)
    # Same content under an upper-case id: the same event (a duplicate), not a second row.
    same = {**first["events"][0], "event_id": first["events"][0]["event_id"].upper()}
    publisher.send(topic(name, "sightings"), json.dumps(sightings(name, same)).encode())
    after = sightings(name, {"event_id": f"ev-after-{secrets.token_hex(6)}", "student_id": student.id})
    publisher.send(topic(name, "sightings"), json.dumps(after).encode())
    wait_for(
        lambda: after["events"][0]["event_id"] in stored_ids(db, device), "the valid batch after", worker
    )

    refused = rejections(db, name)
    assert [r.reason for r in refused] == [reason for *_, reason in cases], [
        (what, r.reason, r.detail) for (what, *_), r in zip(cases, refused, strict=False)
    ]
    assert all(r.detail and r.payload_size > 0 for r in refused)
    assert stored_ids(db, device) == {first["events"][0]["event_id"], after["events"][0]["event_id"]}
    assert worker.stats["duplicate"] >= 1 and not worker.failed.is_set()
    health = db.get(DeviceHealth, device.id)
    assert health.gallery_version is None  # no out-of-range version reached the row
    telemetry_rows = (
        select(func.count()).select_from(DeviceTelemetry).where(DeviceTelemetry.device_id == device.id)
    )
    assert db.scalar(telemetry_rows) == 0

    # Everything was acknowledged: the same client id resumes the session and gets nothing again.
    worker.stop()
    again = ingest()
    publisher.send(topic(name, "sightings"), json.dumps(sightings(name)).encode())
    wait_for(lambda: again.stats["stored"] >= 1, "a batch after the restart", again)
    assert len(rejections(db, name)) == len(cases)


def test_a_message_that_fails_in_the_database_is_refused_alone_not_retried_for_ever(
    db, scene, ingest, publisher, monkeypatch
):
    """The last resort: a message that passes the contract but fails in the database while the
    database answers (here a real out-of-range UPDATE: DataError on MariaDB, OverflowError from
    SQLite's driver) is a data error, not an outage. Its batch is split, the message recorded as
    `internal_error` with the exception class and acknowledged; its neighbours are stored."""
    device = scene["device"]
    name = device.device_id
    real = worker_module.process_batch

    def overflowing(session, batch, *args):
        outcomes = real(session, batch, *args)
        if any(b"poisoned-" in message.payload for message in batch):
            session.flush()
            session.execute(update(DeviceHealth).values(gallery_version=BIG))
        return outcomes

    monkeypatch.setattr(worker_module, "process_batch", overflowing)
    worker = ingest()
    ids = [f"ev-ok-{n}-{secrets.token_hex(6)}" for n in range(6)]
    bad = f"poisoned-{secrets.token_hex(6)}"
    for event_id in [*ids[:3], bad, *ids[3:]]:
        publisher.send(topic(name, "sightings"), json.dumps(sightings(name, {"event_id": event_id})).encode())
    wait_for(lambda: set(ids) <= stored_ids(db, device), "the batches around the poisoned one", worker)
    wait_for(lambda: len(rejections(db, name)) == 1, "the refusal", worker)

    refused = rejections(db, name)[0]
    assert refused.reason == "internal_error"
    assert "DataError" in refused.detail or "OverflowError" in refused.detail
    assert bad not in stored_ids(db, device) and not worker.failed.is_set()
    db.rollback()
    assert db.get(DeviceHealth, device.id).gallery_version is None  # its transaction was rolled back


def test_time_window_settings_are_read_from_the_config_and_checked(app):
    from server.config import ConfigError
    from server.ingest.store import IngestSettings

    settings = IngestSettings.from_config(
        {
            "INGEST_MAX_AHEAD_SECONDS": 60,
            "INGEST_MAX_SENT_AGE_SECONDS": "3600",
            "INGEST_EARLIEST_TIME": "2020-01-01T00:00:00Z",
        }
    )
    now = datetime.now(timezone.utc)
    window = settings.window(now)
    assert window.latest == now + timedelta(seconds=60)
    assert window.sent_earliest == now - timedelta(hours=1)
    assert window.earliest == datetime(2020, 1, 1, tzinfo=timezone.utc)
    for bad in (
        {"INGEST_MAX_AHEAD_SECONDS": -1},
        {"INGEST_MAX_SENT_AGE_SECONDS": 1e12},
        {"INGEST_EARLIEST_TIME": "yesterday"},
        {"INGEST_EARLIEST_TIME": "1900-01-01T00:00:00Z"},
    ):
        with pytest.raises(ConfigError):
            IngestSettings.from_config(bad)
