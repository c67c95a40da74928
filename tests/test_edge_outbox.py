"""The durable outbox: exact round trip, capacity policy, batch life cycle, and survival of SIGKILL."""

from __future__ import annotations

import dataclasses
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from edge.outbox import _EVENT_JSON_OVERHEAD, Outbox, OutboxFull, _json_cost
from shared.messages import (
    EMBEDDING_DIMS,
    MAX_EVENTS_PER_BATCH,
    MAX_PAYLOAD_BYTES,
    MAX_THUMBNAIL_BYTES,
    SightingBatch,
    SightingEvent,
    encode_embedding,
)

pytestmark = pytest.mark.device_profile

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def make_event(i: int, student: int | None = 7, thumb: bytes | None = None) -> SightingEvent:
    return SightingEvent(
        event_id=f"dev1-{i:08d}",
        track_id=i % 13,
        captured_at=T0 + timedelta(microseconds=i * 33_333),
        score=0.5 + (i % 100) / 1000,
        student_id=student,
        quality=0.25 if i % 2 else None,
        thumbnail_jpeg=thumb,
    )


def test_events_round_trip_exactly_with_thumbnails(tmp_path):
    thumb = b"\xff\xd8" + bytes(range(256)) * 20 + b"\x00\xff\xd9"
    events = [make_event(0, thumb=thumb), make_event(1, student=None), make_event(2)]
    with Outbox(tmp_path / "o.db") as box:
        assert box.add(events) == 3
        batch_id, got = box.next_batch()
    assert batch_id and got == events
    # and the batch is a valid contract message
    batch = SightingBatch("dev1", batch_id, T0, tuple(got))
    assert SightingBatch.decode(batch.encode(), "dev1").events == tuple(events)


def test_wal_mode_and_full_sync(tmp_path):
    box = Outbox(tmp_path / "o.db")
    assert box._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert box._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    box.close()


def test_batch_lifecycle_ack_and_requeue_keep_event_ids(tmp_path):
    box = Outbox(tmp_path / "o.db")
    box.add([make_event(i) for i in range(120)])
    b1, e1 = box.next_batch(50)
    b2, e2 = box.next_batch(50)
    b3, e3 = box.next_batch(50)
    assert [len(e1), len(e2), len(e3)] == [50, 50, 20]
    assert len({b1, b2, b3}) == 3
    assert box.next_batch() == (None, [])
    assert box.inflight() == 120
    assert box.ack(b2) == 50
    assert box.ack(b2) == 0  # a duplicate PUBACK mapping is harmless
    assert box.depth() == 70
    # nothing older than an hour: a timeout requeue leaves fresh batches alone
    assert box.requeue_inflight(older_than_s=3600) == 0
    assert box.requeue_batch(b3) == 20
    assert box.requeue_inflight() == 50
    b4, e4 = box.next_batch(100)
    assert b4 not in (b1, b3)
    assert [e.event_id for e in e4] == [e.event_id for e in e1 + e3]  # same ids, original order
    box.ack(b4)
    assert box.depth() == 0
    box.close()


def test_add_is_atomic_and_idempotent_on_event_id(tmp_path):
    box = Outbox(tmp_path / "o.db", capacity=10)
    assert box.add([make_event(i) for i in range(5)]) == 5
    assert box.add([make_event(i) for i in range(3, 8)]) == 3  # 3 and 4 already there
    with pytest.raises(OutboxFull, match="cannot take 4 more"):
        box.add([make_event(i) for i in range(100, 104)])
    assert box.depth() == 8  # nothing of the refused call was written
    box.close()


def test_capacity_evicts_oldest_queued_unknown_faces_only_when_asked(tmp_path):
    box = Outbox(tmp_path / "o.db", capacity=6, alarm_fraction=0.5)
    box.add([make_event(0, student=None), make_event(1), make_event(2, student=None)])
    assert box.alarm
    batch_id, inflight = box.next_batch(1)  # event 0, unknown, in flight: never evicted
    assert [e.event_id for e in inflight] == ["dev1-00000000"]
    box.add([make_event(3, student=None), make_event(4), make_event(5)])
    with pytest.raises(OutboxFull):
        box.add([make_event(6)])
    box.add([make_event(6), make_event(7)], evict_unknown=True)
    assert box.ack(batch_id) == 1  # the in-flight unknown survived the eviction
    _, rest = box.next_batch(50)
    ids = [e.event_id for e in rest]
    assert "dev1-00000002" not in ids and "dev1-00000003" not in ids  # the two oldest queued unknowns
    assert ids == ["dev1-00000001", "dev1-00000004", "dev1-00000005", "dev1-00000006", "dev1-00000007"]
    box.add([make_event(8)])  # the ack freed one slot: 6 of 6, all known faces (5 of them in flight)
    # no queued unknown face left: eviction cannot help, so the outbox refuses
    with pytest.raises(OutboxFull, match="holds 6 of 6"):
        box.add([make_event(9, student=None)], evict_unknown=True)
    box.close()


def test_batches_stay_under_the_payload_limit_with_thumbnails(tmp_path):
    thumb = b"\xff\xd8" + b"x" * 16_000
    box = Outbox(tmp_path / "o.db")
    box.add([make_event(i, thumb=thumb) for i in range(60)])
    batch_id, events = box.next_batch(50)
    assert 1 < len(events) < 50
    SightingBatch("dev1", batch_id, T0, tuple(events)).encode()  # raises MessageError if oversized
    box.close()


def worst_event(i: int, crop: bool = True) -> SightingEvent:
    """An unknown face with the largest crop the contract admits and a 1024-d embedding."""
    vector = np.random.default_rng(i).normal(size=EMBEDDING_DIMS[1]).astype(np.float32)
    return SightingEvent(
        event_id=f"{i:064d}",  # the longest id
        track_id=2**63 - 1 - i,
        captured_at=T0 + timedelta(microseconds=i * 33_333 + 1),
        score=-0.1234567890123456,  # floats written with every digit
        quality=0.1234567890123456,
        thumbnail_jpeg=b"\xff\xd8" + bytes(MAX_THUMBNAIL_BYTES - 2) if crop else None,
        embedding=encode_embedding(vector),
        embedding_model="a" * 31 + "@" + "b" * 32,
    )


def test_a_full_batch_of_unknown_faces_with_crops_and_embeddings_is_split_to_fit(tmp_path):
    box = Outbox(tmp_path / "o.db")
    box.add([worst_event(i) for i in range(MAX_EVENTS_PER_BATCH)])
    sizes, delivered = [], []
    while True:
        batch_id, events = box.next_batch(MAX_EVENTS_PER_BATCH)
        if batch_id is None:
            break
        payload = SightingBatch("dev1", batch_id, T0, tuple(events)).encode()  # MessageError if oversized
        sizes.append(len(payload))
        delivered += SightingBatch.decode(payload, "dev1").events
        box.ack(batch_id)
    # 500 worst-case events (~27.5 KB of JSON each) cannot share one 512 KiB message: the byte
    # budget lowers what a batch carries (14 events), and every one arrives exactly as stored.
    assert len(sizes) > 1 and max(sizes) <= MAX_PAYLOAD_BYTES
    assert delivered == [worst_event(i) for i in range(MAX_EVENTS_PER_BATCH)]
    box.close()


def test_the_per_event_overhead_bounds_an_event_without_crop_or_embedding():
    event = dataclasses.replace(worst_event(0, crop=False), embedding=None, embedding_model=None)
    assert len(json.dumps(event.to_json(), separators=(",", ":"))) + 1 <= _EVENT_JSON_OVERHEAD  # + its comma
    full = worst_event(0)
    assert len(json.dumps(full.to_json(), separators=(",", ":"))) + 1 <= _json_cost(
        full.thumbnail_jpeg, full.embedding
    )


def test_an_outbox_written_before_embeddings_opens_and_delivers(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the first outbox format: no embedding columns
        db.executescript(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,"
            " track_id INTEGER NOT NULL, captured_at TEXT NOT NULL, score REAL NOT NULL, student_id INTEGER,"
            " quality REAL, thumbnail BLOB, batch_id TEXT, sent_at REAL);"
            "INSERT INTO events (event_id, track_id, captured_at, score) VALUES"
            " ('old-00000001', 1, '2026-11-23T09:00:00.000000Z', 0.5);"
        )
    box = Outbox(path)
    box.add([worst_event(1)])
    _, events = box.next_batch()
    assert [e.event_id for e in events] == ["old-00000001", worst_event(1).event_id]
    assert events[0].embedding is None and events[1] == worst_event(1)
    box.close()


WRITER = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timedelta, timezone
    from edge.outbox import Outbox
    from shared.messages import SightingEvent
    box = Outbox(sys.argv[1])
    t0 = datetime(2026, 11, 23, tzinfo=timezone.utc)
    i = 0
    while True:
        box.add([SightingEvent(f"kill-{i + k:08d}", 1, t0 + timedelta(seconds=i + k), 0.9, 3,
                               thumbnail_jpeg=b"\\xff\\xd8" + bytes(500)) for k in range(10)])
        if i % 30 == 0:
            box.ack(box.next_batch(5)[0])  # deletes and in-flight marks interleave with writes
        i += 10
        print(i, flush=True)
    """
)


def test_committed_events_survive_sigkill(tmp_path):
    path = tmp_path / "o.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    committed = 0
    deadline = time.monotonic() + 30
    try:
        while committed < 600 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            committed = int(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    assert committed >= 600, "the writer did not get far enough before the deadline"

    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    box = Outbox(path)
    assert box.requeue_inflight() >= 0
    ids = set()
    while True:
        batch_id, events = box.next_batch(500)
        if batch_id is None:
            break
        ids.update(e.event_id for e in events)
    # every 30 events the writer acknowledged the 5 oldest queued ones; one more ack may have
    # committed after the last line we read, so allow that one
    acks = len(range(0, committed + 1, 30))
    assert {f"kill-{i:08d}" for i in range(5 * acks, committed)} <= ids
    assert not ids & {f"kill-{i:08d}" for i in range(5 * (acks - 1))}
    box.close()
