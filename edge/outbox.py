"""The device's durable outbox: every sighting is on disk before it is published, and leaves only on PUBACK.

Why SQLite in WAL mode: one file, crash-safe transactions, readers never block the writer, and it is
in the Python standard library (no extra daemon on the device). `synchronous=FULL` because a sighting
the camera saw and the device then lost on a power cut is exactly the loss this outbox exists to
prevent; WAL + FULL costs one fsync per commit, and commits are batched (`add` takes a list), so the
price is a few hundred microseconds per frame, far below the frame budget.

Life of an event:

    add()          -> queued (batch_id NULL)
    next_batch()   -> in flight under a fresh batch id (same rows, stamped with the id and time)
    ack(batch_id)  -> deleted (the broker acknowledged the QoS 1 message carrying the batch)
    requeue_inflight() -> queued again (startup, or a batch unacknowledged past its timeout)

A requeued event keeps its event_id, so if the first copy did reach the server after all, the
server's idempotent insert (unique event id) drops the second one: at-least-once on the wire,
exactly-once in the database.

Capacity policy: `add` never silently drops. At capacity it raises `OutboxFull`, unless the caller
passes `evict_unknown=True`, in which case the oldest *queued* (not in-flight) unknown-face events
(student_id NULL) are deleted to make room first: an unknown face is the least valuable sighting
for attendance, a recognized student is never evicted. If that still does not make room, OutboxFull
is raised and the caller (the agent) blocks/slows capture until the link drains the backlog.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from shared.messages import SightingEvent, format_time, parse_time

# A rough upper bound of one event's JSON size without its crop and embedding, used to keep a batch
# message under shared.messages.MAX_PAYLOAD_BYTES when crops ride along (base64 grows them by 4/3).
# Measured: 229 bytes for the longest values a device writes (tests/test_edge_outbox.py).
_EVENT_JSON_OVERHEAD = 320
_EMBEDDING_JSON_OVERHEAD = 110  # the two keys and the embedder id beside the base64
DEFAULT_BATCH_BYTES = 400_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    track_id INTEGER NOT NULL,
    captured_at TEXT NOT NULL,
    score REAL NOT NULL,
    student_id INTEGER,
    quality REAL,
    thumbnail BLOB,
    batch_id TEXT,
    sent_at REAL,
    embedding BLOB,
    embedding_model TEXT
);
CREATE INDEX IF NOT EXISTS events_batch ON events (batch_id);
"""
# Columns added since the first outbox format: an outbox file written by an older agent gets them on
# open, so an upgraded device still delivers what it queued before the upgrade.
_ADDED_COLUMNS = (("embedding", "BLOB"), ("embedding_model", "TEXT"))
_COLUMNS = (
    "event_id, track_id, captured_at, score, student_id, quality, thumbnail, embedding, embedding_model"
)


class OutboxFull(RuntimeError):
    """The outbox is at capacity; the caller decides whether to evict unknown faces or to wait."""


class Outbox:
    """A SQLite-backed FIFO of SightingEvents, safe to share between the capture and publisher threads."""

    def __init__(
        self, path: str | Path, capacity: int = 100_000, alarm_fraction: float = 0.8, ledger: bool = False
    ):
        if capacity < 1:
            raise ValueError("Outbox capacity must be at least 1 event.")
        if not 0 < alarm_fraction <= 1:
            raise ValueError("alarm_fraction must be in (0, 1].")
        self.path = Path(path)
        self.capacity = capacity
        self.alarm_fraction = alarm_fraction
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves so each call is one transaction.
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(events)")}
        for name, kind in _ADDED_COLUMNS:
            if name not in present:
                self._db.execute(f"ALTER TABLE events ADD COLUMN {name} {kind}")
        # The ledger keeps every event id ever queued, in the same transaction as the event, so a
        # test can count the server's rows against what the device produced even after SIGKILL
        # (the simulator's fault runs). It grows without bound: off on real devices.
        self.ledger = ledger
        if ledger:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS ledger (event_id TEXT PRIMARY KEY, captured_at TEXT NOT NULL,"
                " student_id INTEGER)"
            )

    # ------------------------------------------------------------ writing

    def add(self, events: Iterable[SightingEvent], evict_unknown: bool = False) -> int:
        """Store events atomically (all or none); returns how many were new (known ids are ignored)."""
        rows = [
            (
                e.event_id,
                e.track_id,
                format_time(e.captured_at),
                e.score,
                e.student_id,
                e.quality,
                e.thumbnail_jpeg,
                e.embedding,
                e.embedding_model,
            )
            for e in events
        ]
        if not rows:
            return 0
        with self._lock, self._transaction():
            depth = self._depth()
            excess = depth + len(rows) - self.capacity
            if excess > 0 and evict_unknown:
                self._db.execute(
                    "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE batch_id IS NULL"
                    " AND student_id IS NULL ORDER BY seq LIMIT ?)",
                    (excess,),
                )
                depth = self._depth()
            if depth + len(rows) > self.capacity:
                raise OutboxFull(
                    f"The outbox holds {depth} of {self.capacity} events and cannot take {len(rows)} more;"
                    " the broker has been unreachable long enough to fill it."
                )
            before = self._db.total_changes
            self._db.executemany(
                f"INSERT OR IGNORE INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )
            added = self._db.total_changes - before
            if self.ledger:
                self._db.executemany(
                    "INSERT OR IGNORE INTO ledger (event_id, captured_at, student_id) VALUES (?, ?, ?)",
                    [(r[0], r[2], r[4]) for r in rows],
                )
            return added

    def next_batch(
        self, max_events: int = 50, max_bytes: int = DEFAULT_BATCH_BYTES
    ) -> tuple[str | None, list[SightingEvent]]:
        """The oldest queued events (up to max_events and ~max_bytes of JSON), marked in flight.

        Returns (None, []) when nothing is queued.
        """
        with self._lock, self._transaction():
            rows = self._db.execute(
                f"SELECT seq, {_COLUMNS} FROM events WHERE batch_id IS NULL ORDER BY seq LIMIT ?",
                (max_events,),
            ).fetchall()
            chosen, size = [], 0
            for row in rows:
                cost = _json_cost(row[7], row[8])
                if chosen and size + cost > max_bytes:
                    break
                chosen.append(row)
                size += cost
            if not chosen:
                return None, []
            batch_id = uuid.uuid4().hex
            self._db.executemany(
                "UPDATE events SET batch_id = ?, sent_at = ? WHERE seq = ?",
                [(batch_id, time.time(), row[0]) for row in chosen],
            )
        return batch_id, [_event(row[1:]) for row in chosen]

    def ack(self, batch_id: str) -> int:
        """Delete the events of an acknowledged batch; returns how many were deleted (0 if unknown)."""
        with self._lock, self._transaction():
            return self._db.execute("DELETE FROM events WHERE batch_id = ?", (batch_id,)).rowcount

    def requeue_inflight(self, older_than_s: float | None = None) -> int:
        """Put in-flight events back in the queue (all, or those sent more than older_than_s ago)."""
        with self._lock, self._transaction():
            if older_than_s is None:
                cursor = self._db.execute(
                    "UPDATE events SET batch_id = NULL, sent_at = NULL WHERE batch_id IS NOT NULL"
                )
            else:
                cursor = self._db.execute(
                    "UPDATE events SET batch_id = NULL, sent_at = NULL WHERE batch_id IS NOT NULL"
                    " AND sent_at < ?",
                    (time.time() - older_than_s,),
                )
            return cursor.rowcount

    def requeue_batch(self, batch_id: str) -> int:
        """Put one in-flight batch back in the queue (its PUBACK timed out or the broker refused it)."""
        with self._lock, self._transaction():
            return self._db.execute(
                "UPDATE events SET batch_id = NULL, sent_at = NULL WHERE batch_id = ?", (batch_id,)
            ).rowcount

    # ------------------------------------------------------------ reading

    def ledger_ids(self) -> set[str]:
        """Every event id queued since the ledger was switched on (empty without a ledger)."""
        if not self.ledger:
            return set()
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT event_id FROM ledger")}

    def depth(self) -> int:
        """Events on disk, queued or in flight."""
        with self._lock:
            return self._depth()

    def inflight(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM events WHERE batch_id IS NOT NULL").fetchone()[0]

    @property
    def alarm(self) -> bool:
        """True when the backlog passed alarm_fraction of capacity (telemetry shows it to the operator)."""
        return self.depth() >= self.alarm_fraction * self.capacity

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ internals

    def _depth(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (so `add` is all-or-nothing)."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _json_cost(thumbnail: bytes | None, embedding: bytes | None) -> int:
    """An upper bound of one event's bytes in a batch message (base64 is 4/3 of the bytes, + padding)."""
    cost = _EVENT_JSON_OVERHEAD
    if thumbnail is not None:
        cost += len(thumbnail) * 4 // 3 + 4
    if embedding is not None:
        cost += len(embedding) * 4 // 3 + 4 + _EMBEDDING_JSON_OVERHEAD
    return cost


def _event(row: tuple) -> SightingEvent:
    event_id, track_id, captured_at, score, student_id, quality, thumbnail, embedding, model = row
    return SightingEvent(
        event_id=event_id,
        track_id=track_id,
        captured_at=parse_time(captured_at, "outbox"),
        score=score,
        student_id=student_id,
        quality=quality,
        thumbnail_jpeg=bytes(thumbnail) if thumbnail is not None else None,
        embedding=bytes(embedding) if embedding is not None else None,
        embedding_model=model,
    )
