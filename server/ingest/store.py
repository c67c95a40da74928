"""Validate and store a batch of MQTT messages in one transaction.

Decisions (see docs in the package and the issue):

* Sightings are idempotent on `event_id`: a redelivered batch (same ids, same content) inserts
  nothing and is acknowledged as a duplicate.
* **replay**: a batch carrying an event id that is already stored with different content (other
  device, capture time, student, track or score). Event ids are the device's unique ids, so this
  is a forged or corrupted message or a device reusing ids; the whole batch is refused.
* An event naming a student id that does not exist (deleted since the device's gallery was built)
  is dropped, not stored as an unknown face: storing it would keep a deleted student's face and
  miscount an unknown person. The rest of the batch is stored and one `unknown_student` rejection
  lists the dropped event ids.
* Each stored sighting is placed in its lecture session by the schedule's one rule
  (`server.school.schedule.lecture_at`, with the attendance window margin), and every session that
  got sightings gets an `attendance.refresh` job (unknown faces, clusters: server.attendance.refresh),
  so attendance pages only read.
* Unknown devices (not in `devices`) are refused on every topic.
* Clock skew = device send time minus arrival time. A message that waited in the broker while
  ingest was down looks like a slow device clock, so only skew *ahead* of the server is certain;
  both directions beyond `max_clock_skew_s` set `clock_skew_exceeded` for operators to check.
* Status is applied in arrival order, not by the payload's time: a Last Will is composed when the
  device connects, so its `at` is older than the "online" it supersedes.
* Device times outside `IngestSettings.window` (a clock reset to 1970, set to 2100) are refused
  as `implausible_time`; integers beyond their columns as `out_of_range` (shared.messages).
* Event ids are compared in lower case (the decoder lower-cases them): MariaDB's unique key
  ignores case, so a case variant of a stored id is the same event there and must be here too.
* An unknown face's embedding (little-endian float32) and the embedder id that made it are stored
  on its sighting (`embedding`, `embedding_model`) for the review's clusters and suggestions. The
  contract refuses a bad one (`bad_embedding`: wrong size, not finite, all zeros, no embedder id,
  or sent with a recognised student), and with it the whole batch: nothing is half-written.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from server.attendance.refresh import request_refresh
from server.db.models import (
    Device,
    DeviceHealth,
    DeviceTelemetry,
    LectureSession,
    RejectedMessage,
    Sighting,
    Student,
)
from server.db.types import utcnow
from server.devices.commands import apply_acks
from server.school.schedule import lecture_at, room_lectures
from server.settings.ingest import IngestSettings  # the INGEST_* settings, typed (docs/mqtt.md)
from shared.messages import (
    MessageError,
    SightingBatch,
    Status,
    Telemetry,
    parse_topic,
)

PAYLOAD_HEAD_BYTES = 1024
ID_CHUNK = 500  # ids per IN (...) query


@dataclass(frozen=True)
class Incoming:
    """A message as received: the worker adds what it needs to acknowledge it (`token`)."""

    topic: str
    payload: bytes
    received_at: datetime = field(default_factory=utcnow)
    token: Any = None


@dataclass(frozen=True)
class Outcome:
    """What became of one message: 'stored', 'duplicate', 'ignored' (an empty retained status) or
    'rejected' (with the reason)."""

    message: Incoming
    result: str
    reason: str | None = None
    inserted: int = 0


class _Rejected(Exception):
    def __init__(self, reason: str, detail: str, device: str | None):
        super().__init__(detail)
        self.reason, self.detail, self.device = reason, detail, device


def process_batch(
    session: Session,
    messages: Sequence[Incoming],
    settings: IngestSettings,
    margin: timedelta = timedelta(0),
) -> list[Outcome]:
    """Write `messages` (and the rejections among them) in `session`; the caller commits.

    Each sighting is placed in its lecture session by the schedule's rule (`lecture_at`), with
    `margin` the attendance window margin (ATTENDANCE_WINDOW_MARGIN_MINUTES): a student seen just
    before the start belongs to that session already. A session that got sightings gets an
    `attendance.refresh` job (its unknown faces and their clusters), so no page has to write."""
    decoded: list[tuple[Incoming, str | None, str | None, Any, MessageError | None]] = []
    for message in messages:
        device, kind, parsed, error = _decode(message, settings)
        decoded.append((message, device, kind, parsed, error))
    devices = _devices(session, {d for _, d, _, p, _ in decoded if p is not None})
    known_events = _stored_events(
        session, [e.event_id for *_, p, _ in decoded if isinstance(p, SightingBatch) for e in p.events]
    )
    students = _existing_students(
        session,
        {
            e.student_id
            for *_, p, _ in decoded
            if isinstance(p, SightingBatch)
            for e in p.events
            if e.student_id
        },
    )
    health: dict[int, DeviceHealth] = {}
    lectures: dict[int, tuple[datetime, datetime, list[LectureSession]]] = {}
    rows: list[dict[str, Any]] = []  # sightings, inserted at the end in one multi-row statement
    outcomes = []
    for message, device_name, kind, parsed, error in decoded:
        if kind == "status" and not message.payload:
            # A cleared retained status (an operator or test removing it), not a malformed one.
            outcomes.append(Outcome(message, "ignored"))
            continue
        try:
            if error is not None:
                raise _Rejected(error.reason, str(error), device_name)
            device = devices.get(device_name)
            if device is None:
                raise _Rejected("unknown_device", f"device '{device_name}' is not registered.", device_name)
            state = health.get(device.id) or _health(session, device)
            health[device.id] = state
            state.last_seen_at = max(filter(None, (state.last_seen_at, message.received_at)))
            if isinstance(parsed, SightingBatch):
                outcomes.append(
                    _sightings(
                        session, message, device, parsed, known_events, students, rows, lectures, margin
                    )
                )
                _skew(state, parsed.sent_at, message.received_at, settings)
                if parsed.gallery_version is not None:
                    state.gallery_version = parsed.gallery_version
            elif isinstance(parsed, Status):
                state.status, state.status_at, state.software = (
                    parsed.state,
                    message.received_at,
                    parsed.software,
                )
                outcomes.append(Outcome(message, "stored"))
            else:
                outcomes.append(_telemetry(session, message, device, parsed, settings))
                _skew(state, parsed.at, message.received_at, settings)
        except _Rejected as refused:
            _reject(session, message, refused.reason, refused.detail, refused.device)
            outcomes.append(Outcome(message, "rejected", refused.reason))
    if rows:
        # Core executemany: the driver sends multi-row INSERTs (the ORM would insert row by row
        # on MariaDB to fetch each new primary key, which ingest never needs).
        session.execute(insert(Sighting.__table__), rows)
        # Their sessions' unknown faces and clusters follow in a job (one queued per session).
        request_refresh(session, {row["session_id"] for row in rows if row["session_id"] is not None})
    return outcomes


def _decode(
    message: Incoming, settings: IngestSettings
) -> tuple[str | None, str | None, Any, MessageError | None]:
    """(device, kind, parsed payload, error): the contract's validation, nothing else."""
    device = kind = None
    try:
        device, kind = parse_topic(message.topic)
        if kind == "status":
            return device, kind, Status.decode(message.payload, expected_device=device), None
        reader = {"sightings": SightingBatch, "telemetry": Telemetry}.get(kind)
        if reader is None:
            raise MessageError("bad_topic", f"ingest does not read '{kind}' topics.")
        window = settings.window(message.received_at)
        return device, kind, reader.decode(message.payload, expected_device=device, window=window), None
    except MessageError as exc:
        return device or topic_device(message.topic), kind, None, exc
    except Exception as exc:  # a decoder bug: refused and recorded, never the end of ingest
        error = MessageError("internal_error", f"decoding failed ({exc.__class__.__name__}).")
        return device or topic_device(message.topic), kind, None, error


def topic_device(topic: str) -> str | None:
    """What a topic names as its device, even when it is not a valid Visage topic (reject log)."""
    parts = topic.split("/")
    return parts[3][:64] if len(parts) > 3 else None


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), ID_CHUNK):
        yield values[start : start + ID_CHUNK]


def _devices(session: Session, names: set[str]) -> dict[str, Device]:
    found: dict[str, Device] = {}
    for chunk in _chunks(sorted(names)):
        found.update(
            (d.device_id, d) for d in session.scalars(select(Device).where(Device.device_id.in_(chunk)))
        )
    return found


def _stored_events(session: Session, event_ids: list[str]) -> dict[str, tuple]:
    """event_id -> the stored content the replay check compares (see `_content`)."""
    stored: dict[str, tuple] = {}
    columns = (
        Sighting.event_id,
        Sighting.device_id,
        Sighting.student_id,
        Sighting.track_id,
        Sighting.captured_at,
        Sighting.score,
    )
    for chunk in _chunks(sorted(set(event_ids))):
        for row in session.execute(select(*columns).where(Sighting.event_id.in_(chunk))):
            # MariaDB matches ids of any case (a row stored before ids were lower-cased): keyed in
            # lower case, it is found as the duplicate it is instead of breaking the unique key.
            stored[row[0].lower()] = tuple(row[1:])
    return stored


def _existing_students(session: Session, ids: set[int]) -> set[int]:
    found: set[int] = set()
    for chunk in _chunks(sorted(ids)):
        found.update(session.scalars(select(Student.id).where(Student.id.in_(chunk))))
    return found


def _same(stored: tuple, new: tuple) -> bool:
    """Equal content; scores compared loosely (MariaDB's FLOAT keeps single precision)."""
    *exact_a, score_a = stored
    *exact_b, score_b = new
    if exact_a != exact_b:
        return False
    if score_a is None or score_b is None:
        return score_a == score_b
    return math.isclose(score_a, score_b, rel_tol=1e-5, abs_tol=1e-6)


def _health(session: Session, device: Device) -> DeviceHealth:
    state = session.get(DeviceHealth, device.id)
    if state is None:
        state = DeviceHealth(device_id=device.id, clock_skew_exceeded=False)
        session.add(state)
    return state


def _skew(state: DeviceHealth, sent_at: datetime, received_at: datetime, settings: IngestSettings) -> None:
    skew = (sent_at - received_at).total_seconds()
    state.clock_skew_seconds = skew
    state.clock_skew_exceeded = abs(skew) > settings.max_clock_skew_s


def _sightings(
    session: Session,
    message: Incoming,
    device: Device,
    batch: SightingBatch,
    known: dict[str, tuple],
    students: set[int],
    rows: list[dict[str, Any]],
    lectures: dict[int, tuple[datetime, datetime, list[LectureSession]]],
    margin: timedelta,
) -> Outcome:
    new, dropped = [], []
    for event in batch.events:
        content = (device.id, event.student_id, str(event.track_id), event.captured_at, event.score)
        if event.event_id in known:
            if not _same(known[event.event_id], content):
                raise _Rejected(
                    "replay",
                    f"event '{event.event_id}' was already stored with other content.",
                    device.device_id,
                )
        elif event.student_id is not None and event.student_id not in students:
            dropped.append(event.event_id)
        else:
            new.append((event, content))
    times = [event.captured_at for event, _ in new]
    cached = lectures.get(device.id)
    if new and (cached is None or min(times) < cached[0] or max(times) > cached[1]):
        # The lectures loaded for the device's previous message usually cover this one too.
        room = (
            []
            if device.classroom_id is None
            else room_lectures(session, device.classroom_id, min(times), max(times), margin)
        )
        cached = lectures[device.id] = (min(times), max(times), room)
    for event, content in new:
        lecture = lecture_at(cached[2], event.captured_at, margin)
        rows.append(
            {
                "event_id": event.event_id,
                "device_id": device.id,
                "session_id": lecture.id if lecture else None,
                "student_id": event.student_id,
                "track_id": str(event.track_id),
                "captured_at": event.captured_at,
                "received_at": message.received_at,
                "score": event.score,
                "quality": event.quality,
                "thumbnail": event.thumbnail_jpeg,
                "embedding": event.embedding,
                "embedding_model": event.embedding_model,
            }
        )
        known[event.event_id] = content  # a later message of this batch carrying it is a duplicate
    if dropped:
        _reject(
            session,
            message,
            "unknown_student",
            f"dropped {len(dropped)} event(s) naming students that do not exist: {', '.join(dropped)[:900]}",
            device.device_id,
        )
    if dropped and not new:
        return Outcome(message, "rejected", "unknown_student")
    reason = "unknown_student" if dropped else None
    return Outcome(message, "stored" if new else "duplicate", reason, len(new))


def _telemetry(
    session: Session, message: Incoming, device: Device, report: Telemetry, settings: IngestSettings
) -> Outcome:
    session.add(
        DeviceTelemetry(
            device_id=device.id,
            at=report.at,
            received_at=message.received_at,
            fps=report.fps,
            faces_per_second=report.faces_per_second,
            outbox_depth=report.outbox_depth,
            outbox_capacity=report.outbox_capacity,
            stage_ms=dict(report.stage_ms),
            cpu_temperature_c=report.cpu_temperature_c,
            gallery_version=report.gallery_version,
            uptime_s=report.uptime_s,
            providers={model: list(names) for model, names in report.providers.items()} or None,
            models=dict(report.models) or None,
            models_bundle=report.models_bundle,
            models_error=report.models_error,
            capture_error=report.capture_error,
            crops=report.crops,
        )
    )
    session.flush()
    prune_telemetry(session, device.id, settings.telemetry_keep)
    apply_acks(session, device.id, report.acks)  # the device's answers to commands
    return Outcome(message, "stored", inserted=1)


def prune_telemetry(session: Session, device_pk: int, keep: int) -> None:
    """Delete all but the newest `keep` telemetry rows of a device (ids grow with arrival)."""
    cutoff = session.scalar(
        select(DeviceTelemetry.id)
        .where(DeviceTelemetry.device_id == device_pk)
        .order_by(DeviceTelemetry.id.desc())
        .offset(keep)
        .limit(1)
    )
    if cutoff is not None:
        session.execute(
            delete(DeviceTelemetry).where(
                DeviceTelemetry.device_id == device_pk, DeviceTelemetry.id <= cutoff
            )
        )


def record_rejection(session: Session, message: Incoming, reason: str, detail: str) -> None:
    """Add a reject-log row for `message` (the worker's last resort; the caller commits)."""
    _reject(session, message, reason, detail, topic_device(message.topic))


def _storable(text: str, limit: int) -> str:
    """`text` cut to `limit` characters that any database can store (no unpaired surrogates)."""
    return text[:limit].encode("utf-8", "backslashreplace").decode("utf-8")


def _reject(session: Session, message: Incoming, reason: str, detail: str, device: str | None) -> None:
    session.add(
        RejectedMessage(
            topic=_storable(message.topic, 255),
            device_id=_storable(device, 64) if device else None,
            reason=reason,
            detail=_storable(detail, 2000),
            received_at=message.received_at,
            payload_size=len(message.payload),
            payload_head=bytes(message.payload[:PAYLOAD_HEAD_BYTES]),
        )
    )
