"""The MQTT contract between classroom devices and the server: topics and versioned JSON payloads.

Both sides validate with this one module, so a payload the edge can build is exactly a payload
ingest accepts. Every payload carries `"schema": 1`; a change that old readers cannot ignore
bumps it (and the topic root `visage/v1`). Validation failures raise `MessageError` with a
machine-readable `reason` (what ingest records for a rejected message) and a sentence.

Topics (`{device}` matches `DEVICE_ID_PATTERN`):

    visage/v1/devices/{device}/status      device -> server, retained, QoS 1; Last Will "offline"
    visage/v1/devices/{device}/telemetry   device -> server, QoS 0, every N seconds
    visage/v1/devices/{device}/sightings   device -> server, QoS 1, batches of events
    visage/v1/devices/{device}/gallery     server -> device, retained, QoS 1
    visage/v1/devices/{device}/commands    server -> device, QoS 1
    visage/v1/devices/{device}/models      server -> device, retained, QoS 1 (the model bundle to run)

Times are ISO 8601 with an explicit offset (devices send UTC, `...Z`); naive times are refused,
and a reader may pass a `TimeWindow` to refuse times no working clock gives (`implausible_time`).
Payloads are parsed by `load_json`, which bounds size, nesting and number length before Python's
recursive parser runs: a decoder raises nothing but `MessageError`, whatever the bytes. Integers
are bounded to the database columns they end in (`out_of_range`). Event ids are case-insensitive
and read in lower case (a MariaDB unique key ignores case, SQLite's does not).
Thumbnails are base64 JPEG, at most `MAX_THUMBNAIL_BYTES` decoded: by default devices send the best
crop of *unknown* tracks only (`CROP_MODES`). An unknown track's events also carry the embedding of
its best view (base64 little-endian float32) and the embedder id that made it; a recognised one never.
The full field-by-field description is in docs/mqtt.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

SCHEMA_VERSION = 1
TOPIC_ROOT = "visage/v1/devices"
TOPIC_KINDS = ("status", "telemetry", "sightings", "gallery", "commands", "models")
DEVICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
EVENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")  # sightings.event_id is VARCHAR(64)
MAX_PAYLOAD_BYTES = 512 * 1024
MAX_EVENTS_PER_BATCH = 500
MAX_THUMBNAIL_BYTES = 16 * 1024
# An unknown face's embedding (SightingEvent.embedding): every embedder Visage ships has 128
# dimensions; the bounds admit any face embedder in use (32..1024) and refuse anything else.
EMBEDDING_DIMS = (32, 1024)
CROP_MODES = ("unknown", "all", "off")  # which tracks' best face crop a device sends (edge.config)
STATUS_STATES = ("online", "offline")
# Our payloads nest 3 deep; the bound leaves room for growth and stays far below the recursion
# limit of `json.loads` (a 2 KB "[[[[...]]]]" would otherwise raise RecursionError).
MAX_JSON_DEPTH = 16
INT32_MAX = 2**31 - 1  # INT columns (ids, versions, counters) on MariaDB
INT64_MAX = 2**63 - 1  # BIGINT columns; SQLite's INTEGER
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=timezone.utc)  # no device time before this is believed


class MessageError(ValueError):
    """A payload or topic that breaks the contract; `reason` is a short code for the reject log."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


# ---------------------------------------------------------------- topics


def topic(device_id: str, kind: str) -> str:
    if not DEVICE_ID_PATTERN.match(device_id):
        raise MessageError("bad_topic", f"'{device_id}' is not a valid device id (letters, digits, _ and -).")
    if kind not in TOPIC_KINDS:
        raise MessageError("bad_topic", f"'{kind}' is not a Visage topic kind ({', '.join(TOPIC_KINDS)}).")
    return f"{TOPIC_ROOT}/{device_id}/{kind}"


def parse_topic(name: str) -> tuple[str, str]:
    """(device_id, kind) of a Visage topic, or MessageError('bad_topic')."""
    prefix = TOPIC_ROOT + "/"
    parts = name[len(prefix) :].split("/") if name.startswith(prefix) else []
    if len(parts) != 2 or not DEVICE_ID_PATTERN.match(parts[0]) or parts[1] not in TOPIC_KINDS:
        raise MessageError("bad_topic", f"'{name}' is not a Visage device topic.")
    return parts[0], parts[1]


# ---------------------------------------------------------------- field readers


def _require(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise MessageError("bad_schema", f"{where}: '{key}' is missing.")
    value = data[key]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise MessageError("bad_schema", f"{where}: '{key}' must not be a boolean.")
    if not isinstance(value, kind):
        raise MessageError("bad_schema", f"{where}: '{key}' has the wrong type ({type(value).__name__}).")
    return value


def _optional(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if data.get(key) is None:
        return None
    return _require(data, key, kind, where)


def _number(data: Mapping[str, Any], key: str, where: str, low: float, high: float, optional: bool = False):
    value = (_optional if optional else _require)(data, key, (int, float), where)
    if value is None:
        return None
    if not low <= value <= high or not math.isfinite(value):  # range first: huge ints overflow isfinite
        raise MessageError("bad_schema", f"{where}: '{key}' must be between {low} and {high}.")
    return float(value)


def _integer(
    data: Mapping[str, Any], key: str, where: str, low: int, high: int, optional: bool = False
) -> int | None:
    """An integer within the range of the column it is stored in (a bigger one would make the
    database driver raise instead of refusing the message)."""
    value = (_optional if optional else _require)(data, key, int, where)
    if value is not None and not low <= value <= high:
        raise MessageError("out_of_range", f"{where}: '{key}' must be an integer from {low} to {high}.")
    return value


def parse_time(value: Any, where: str) -> datetime:
    """An aware ISO 8601 time in UTC; refused when unparseable, naive or beyond UTC's calendar
    (`0001-01-01T00:00:00+14:00` is a valid string whose UTC time is in year 0)."""
    if not isinstance(value, str):
        raise MessageError("bad_schema", f"{where}: a time must be an ISO 8601 string.")
    shown = value[:40]
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00")) if len(value) <= 64 else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise MessageError("bad_schema", f"{where}: '{shown}' is not an ISO 8601 time.")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise MessageError("bad_schema", f"{where}: '{shown}' has no UTC offset.")
    try:
        return parsed.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        raise MessageError(
            "implausible_time", f"{where}: '{shown}' is outside the calendar in UTC."
        ) from None


@dataclass(frozen=True)
class TimeWindow:
    """Which device times a reader believes, around `now` (when the message arrived).

    A send time (`sent_at`, telemetry `at`) may trail `now` by `sent_behind_s` (it waited in the
    broker while ingest was down) and lead it by `ahead_s` (a fast clock). An event time
    (`captured_at`, an ack's `at`) may be as old as `earliest` (a device outbox keeps events while
    the network is down) and lead `now` by `ahead_s`. A clock reset to 1970 or set to 2100 is
    refused with `implausible_time` instead of being stored as attendance evidence."""

    now: datetime
    ahead_s: float = 86_400.0
    sent_behind_s: float = 30 * 86_400.0
    earliest: datetime = EARLIEST_TIME
    latest: datetime = field(init=False)  # now + ahead_s
    sent_earliest: datetime = field(init=False)  # now - sent_behind_s

    def __post_init__(self) -> None:
        object.__setattr__(self, "latest", self.now + timedelta(seconds=self.ahead_s))
        object.__setattr__(self, "sent_earliest", self.now - timedelta(seconds=self.sent_behind_s))

    def sent(self, moment: datetime, where: str, key: str) -> datetime:
        """`moment` if it is a believable send time, else MessageError('implausible_time')."""
        return self._within(moment, self.sent_earliest, where, key)

    def event(self, moment: datetime, where: str, key: str) -> datetime:
        """`moment` if it is a believable time of something that happened, else MessageError."""
        return self._within(moment, self.earliest, where, key)

    def _within(self, moment: datetime, low: datetime, where: str, key: str) -> datetime:
        high = self.latest
        if not low <= moment <= high:
            raise MessageError(
                "implausible_time",
                f"{where}: '{key}' {format_time(moment)} is outside {format_time(low)} .. "
                f"{format_time(high)} (the device clock is wrong).",
            )
        return moment


def format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("Times in messages must be timezone-aware (UTC).")
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


_NOT_QUOTE_OR_BRACKET = bytes(b for b in range(256) if b not in b'"[]{}')
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_NESTING_STEP = np.zeros(256, dtype=np.int8)
_NESTING_STEP[[ord("["), ord("{")]] = 1
_NESTING_STEP[[ord("]"), ord("}")]] = -1


def _nesting(raw: bytes) -> int:
    """An upper bound of the bracket nesting of JSON text, strings left out: exact for valid JSON,
    and for invalid JSON exact up to the point where the parser stops with an error.

    Escaped backslashes, then escaped quotes, are removed first (JSON pairs backslashes left to
    right, as `bytes.replace` does); after that every quote opens or closes a string. Of the quotes
    and brackets left, adjacent quote pairs go (which keeps every other byte's side: most strings
    hold no bracket, so usually no quote is left), and the pieces between the remaining quotes
    alternate outside and inside. In UTF-8 no byte of a multi-byte character is ASCII, so no quote
    or bracket is misread. About 10 us for a batch of 50 events."""
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    compact = raw.translate(None, _NOT_QUOTE_OR_BRACKET)  # quotes and brackets only
    opened = compact.count(b"[") + compact.count(b"{")
    if opened <= MAX_JSON_DEPTH:  # strings' brackets counted too: still a bound
        return opened
    outside = compact.replace(b'""', b"")
    if b'"' in outside:
        outside = b"".join(outside.split(b'"')[::2])
    steps = _NESTING_STEP[np.frombuffer(outside, dtype=np.uint8)]
    return int(np.cumsum(steps, dtype=np.int32).max())


def load_json(payload: bytes | str, limit: int = MAX_PAYLOAD_BYTES) -> Any:
    """Parse untrusted JSON; any failure is a MessageError (oversized, malformed_json, too_deep,
    number_too_long), never a RecursionError or ValueError from deep in the parser.

    Nesting is measured on the bytes before `json.loads` recurses (`_nesting`: a few C-speed
    bytes operations and one numpy pass). An integer literal
    longer than Python's int-string limit (`sys.get_int_max_str_digits()`, 4,300 digits) makes
    the parser raise a plain ValueError: `number_too_long`. Integers that parse are bounded by the
    decoders to their columns. Text must be UTF-8 without unpaired surrogates (no database column
    can store one)."""
    try:
        raw = payload.encode() if isinstance(payload, str) else bytes(payload)
    except UnicodeEncodeError:
        raise MessageError("malformed_json", "payload is not valid Unicode text.") from None
    if len(raw) > limit:
        raise MessageError("oversized", f"payload of {len(raw)} bytes exceeds {limit}.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MessageError("malformed_json", "payload is not UTF-8 text.") from None
    if _nesting(raw) > MAX_JSON_DEPTH:
        raise MessageError("too_deep", f"payload nests deeper than {MAX_JSON_DEPTH} levels.")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise MessageError("malformed_json", f"payload is not JSON ({exc.__class__.__name__}).") from None
    except ValueError:  # only int() raises a plain one: a literal beyond the int-string limit
        raise MessageError("number_too_long", "payload holds an integer literal too long to read.") from None
    if b"\\" in raw and _SURROGATE_ESCAPE.search(raw):  # rare: an escaped non-BMP character
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise MessageError("malformed_json", "payload holds an unpaired UTF-16 surrogate.") from None
    return data


def _envelope(payload: bytes | str, expected_device: str | None) -> dict[str, Any]:
    data = load_json(payload)
    if not isinstance(data, dict):
        raise MessageError("bad_schema", "payload must be a JSON object.")
    version = data.get("schema")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise MessageError(
            "unsupported_version", f"schema {version!r} is not supported (expected {SCHEMA_VERSION})."
        )
    device = _require(data, "device_id", str, "payload")
    if expected_device is not None and device != expected_device:
        raise MessageError(
            "device_mismatch", f"payload names device '{device}' but came on '{expected_device}'s topic."
        )
    return data


def _dump(data: dict[str, Any]) -> bytes:
    raw = json.dumps(data, separators=(",", ":"), allow_nan=False).encode()
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise MessageError("oversized", f"payload of {len(raw)} bytes exceeds {MAX_PAYLOAD_BYTES}.")
    return raw


# ---------------------------------------------------------------- sightings


@dataclass(frozen=True)
class SightingEvent:
    """One decision about one tracked face: who (or unknown), how sure, when it was captured."""

    event_id: str
    track_id: int
    captured_at: datetime
    score: float
    student_id: int | None = None
    quality: float | None = None
    thumbnail_jpeg: bytes | None = None
    # Unknown tracks only: the embedding of the track's best view as little-endian float32 bytes
    # (bytes, not an array, so that events compare and store exactly) and the embedder id that
    # made it (`sface@2021dec`): the server clusters unknown faces and ranks the roster with it.
    embedding: bytes | None = None
    embedding_model: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "event_id": self.event_id,
            "track_id": self.track_id,
            "student_id": self.student_id,
            "score": self.score,
            "quality": self.quality,
            "captured_at": format_time(self.captured_at),
        }
        if self.thumbnail_jpeg is not None:
            data["thumbnail"] = base64.b64encode(self.thumbnail_jpeg).decode()
        if self.embedding is not None:
            data["embedding"] = base64.b64encode(self.embedding).decode()
            data["embedding_model"] = self.embedding_model
        return data

    def embedding_vector(self) -> np.ndarray | None:
        """The embedding as a float32 vector (None when the event carries none)."""
        return None if self.embedding is None else np.frombuffer(self.embedding, dtype="<f4")

    @classmethod
    def from_json(cls, data: Any, where: str) -> SightingEvent:
        if not isinstance(data, dict):
            raise MessageError("bad_schema", f"{where}: an event must be an object.")
        event_id = _require(data, "event_id", str, where)
        if not EVENT_ID_PATTERN.match(event_id):
            raise MessageError("bad_schema", f"{where}: event_id '{event_id[:80]}' is not a valid id.")
        event_id = event_id.lower()  # ids are case-insensitive: one spelling on every database
        thumbnail = None
        if data.get("thumbnail") is not None:
            encoded = _require(data, "thumbnail", str, where)
            if len(encoded) > MAX_THUMBNAIL_BYTES * 4 // 3 + 4:
                raise MessageError("oversized", f"{where}: thumbnail exceeds {MAX_THUMBNAIL_BYTES} bytes.")
            try:
                thumbnail = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise MessageError("bad_schema", f"{where}: thumbnail is not base64.") from None
            if not thumbnail.startswith(b"\xff\xd8"):
                raise MessageError("bad_schema", f"{where}: thumbnail is not a JPEG.")
        student = _optional(data, "student_id", int, where)
        if student is not None and student <= 0:
            raise MessageError("bad_schema", f"{where}: student_id must be positive.")
        if student is not None and student > INT32_MAX:  # students.id is an INT column
            raise MessageError("out_of_range", f"{where}: 'student_id' must be at most {INT32_MAX}.")
        track = _require(data, "track_id", int, where)
        if track < 0:
            raise MessageError("bad_schema", f"{where}: track_id must not be negative.")
        if track > INT64_MAX:  # stored as text, but a 64-bit id on the device
            raise MessageError("out_of_range", f"{where}: 'track_id' must be at most {INT64_MAX}.")
        embedding, model = _embedding(data, where, student)
        return cls(
            event_id=event_id,
            track_id=track,
            captured_at=parse_time(data.get("captured_at"), where),
            score=_number(data, "score", where, -1.0, 1.0),
            student_id=student,
            quality=_number(data, "quality", where, 0.0, 1.0, optional=True),
            thumbnail_jpeg=thumbnail,
            embedding=embedding,
            embedding_model=model,
        )


def encode_embedding(vector: np.ndarray) -> bytes:
    """The bytes `SightingEvent.embedding` holds: little-endian float32, row-major."""
    return np.ascontiguousarray(vector, dtype="<f4").reshape(-1).tobytes()


def _embedding(data: Mapping[str, Any], where: str, student: int | None) -> tuple[bytes | None, str | None]:
    """An event's (embedding bytes, embedder id), both None when absent; MessageError('bad_embedding')
    for one that is not EMBEDDING_DIMS finite, non-zero float32s with its embedder id, or that comes
    with a recognised student (their faces are never sent: privacy)."""
    if data.get("embedding") is None:
        if data.get("embedding_model") is not None:
            raise MessageError("bad_embedding", f"{where}: embedding_model without an embedding.")
        return None, None
    low, high = EMBEDDING_DIMS
    if student is not None:
        raise MessageError("bad_embedding", f"{where}: an embedding is sent for unknown faces only.")
    encoded = _require(data, "embedding", str, where)
    if len(encoded) > high * 4 * 4 // 3 + 4:  # before decoding: never inflate a huge string
        raise MessageError("bad_embedding", f"{where}: embedding has more than {high} dimensions.")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise MessageError("bad_embedding", f"{where}: embedding is not base64.") from None
    if len(raw) % 4 or not low <= len(raw) // 4 <= high:
        shown = f"{len(raw) / 4:g}"
        raise MessageError("bad_embedding", f"{where}: embedding must be {low}-{high} float32s, not {shown}.")
    vector = np.frombuffer(raw, dtype="<f4")
    if not np.isfinite(vector).all():
        raise MessageError("bad_embedding", f"{where}: embedding holds a value that is not finite.")
    if not np.any(vector):
        raise MessageError("bad_embedding", f"{where}: embedding is all zeros.")
    model = _optional(data, "embedding_model", str, where)
    if model is None or len(model) > 64 or not EMBEDDER_ID_PATTERN.match(model):  # VARCHAR(64)
        raise MessageError(
            "bad_embedding", f"{where}: embedding_model must name the embedder, such as sface@2021dec."
        )
    return raw, model


@dataclass(frozen=True)
class SightingBatch:
    device_id: str
    batch_id: str
    sent_at: datetime
    events: tuple[SightingEvent, ...]
    gallery_version: int | None = None

    def encode(self) -> bytes:
        return _dump(
            {
                "schema": SCHEMA_VERSION,
                "device_id": self.device_id,
                "batch_id": self.batch_id,
                "sent_at": format_time(self.sent_at),
                "gallery_version": self.gallery_version,
                "events": [event.to_json() for event in self.events],
            }
        )

    @classmethod
    def decode(
        cls, payload: bytes | str, expected_device: str | None = None, window: TimeWindow | None = None
    ) -> SightingBatch:
        """The batch in `payload`; with a `window`, its times must be believable (TimeWindow)."""
        data = _envelope(payload, expected_device)
        events = _require(data, "events", list, "sightings")
        if not 1 <= len(events) <= MAX_EVENTS_PER_BATCH:
            raise MessageError("bad_schema", f"sightings: a batch holds 1 to {MAX_EVENTS_PER_BATCH} events.")
        parsed = tuple(SightingEvent.from_json(e, f"sightings event {i}") for i, e in enumerate(events))
        if len({e.event_id for e in parsed}) != len(parsed):
            raise MessageError("bad_schema", "sightings: the same event_id appears twice in one batch.")
        if window is not None:
            times = [e.captured_at for e in parsed]
            if min(times) < window.earliest or max(times) > window.latest:  # name the first one
                for i, moment in enumerate(times):
                    window.event(moment, f"sightings event {i}", "captured_at")
        version = _integer(data, "gallery_version", "sightings", 0, INT32_MAX, optional=True)
        sent_at = parse_time(data.get("sent_at"), "sightings")
        return cls(
            device_id=data["device_id"],
            batch_id=_require(data, "batch_id", str, "sightings")[:80],
            sent_at=window.sent(sent_at, "sightings", "sent_at") if window else sent_at,
            events=parsed,
            gallery_version=version,
        )


# ---------------------------------------------------------------- status and telemetry


@dataclass(frozen=True)
class Status:
    device_id: str
    state: str
    at: datetime
    software: str = ""

    def encode(self) -> bytes:
        return _dump(
            {
                "schema": SCHEMA_VERSION,
                "device_id": self.device_id,
                "state": self.state,
                "at": format_time(self.at),
                "software": self.software,
            }
        )

    @classmethod
    def decode(cls, payload: bytes | str, expected_device: str | None = None) -> Status:
        data = _envelope(payload, expected_device)
        state = _require(data, "state", str, "status")
        if state not in STATUS_STATES:
            raise MessageError("bad_schema", f"status: state must be one of {', '.join(STATUS_STATES)}.")
        return cls(
            data["device_id"],
            state,
            parse_time(data.get("at"), "status"),
            str(_optional(data, "software", str, "status") or "")[:80],
        )


@dataclass(frozen=True)
class Telemetry:
    """Health figures a device operator watches: throughput, latency, backlog, temperature."""

    device_id: str
    at: datetime
    fps: float
    faces_per_second: float
    outbox_depth: int
    outbox_capacity: int
    stage_ms: Mapping[str, float] = field(default_factory=dict)
    gallery_version: int | None = None
    models: Mapping[str, str] = field(default_factory=dict)
    cpu_temperature_c: float | None = None
    uptime_s: float = 0.0
    acks: tuple[CommandAck, ...] = ()  # the device's latest command results (repeated until superseded)
    # {model: the execution providers its session runs on, preferred first}: a GPU device that fell
    # back to its CPU shows here
    providers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    models_bundle: str | None = None  # the model bundle in use (edge.models_sync), when installed as one
    models_error: str | None = None  # why the latest model update failed (the previous set kept running)
    capture_error: str | None = None  # why the camera gives no frames now (the agent keeps retrying)
    crops: str | None = None  # the crop mode the device runs with now (CROP_MODES): the devices page shows it

    def encode(self) -> bytes:
        extra: dict[str, Any] = {"acks": [ack.to_json() for ack in self.acks]} if self.acks else {}
        if self.providers:
            extra["providers"] = {model: list(names) for model, names in self.providers.items()}
        if self.models_bundle is not None:
            extra["models_bundle"] = self.models_bundle[:64]
        if self.models_error is not None:
            extra["models_error"] = self.models_error[:MAX_MODELS_ERROR]
        if self.capture_error is not None:
            extra["capture_error"] = self.capture_error[:MAX_MODELS_ERROR]
        if self.crops is not None:
            extra["crops"] = self.crops
        return _dump(
            {
                "schema": SCHEMA_VERSION,
                "device_id": self.device_id,
                "at": format_time(self.at),
                "fps": round(self.fps, 3),
                "faces_per_second": round(self.faces_per_second, 3),
                "outbox_depth": self.outbox_depth,
                "outbox_capacity": self.outbox_capacity,
                "stage_ms": {k: round(v, 3) for k, v in self.stage_ms.items()},
                "gallery_version": self.gallery_version,
                "models": dict(self.models),
                "cpu_temperature_c": self.cpu_temperature_c,
                "uptime_s": round(self.uptime_s, 1),
                **extra,
            }
        )

    @classmethod
    def decode(
        cls, payload: bytes | str, expected_device: str | None = None, window: TimeWindow | None = None
    ) -> Telemetry:
        """The report in `payload`; with a `window`, its times must be believable (TimeWindow)."""
        data = _envelope(payload, expected_device)
        where = "telemetry"
        stages = _optional(data, "stage_ms", dict, where) or {}
        if len(stages) > 32 or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1e7
            for k, v in stages.items()
        ):
            raise MessageError("bad_schema", f"{where}: stage_ms must map up to 32 names to milliseconds.")
        models = _optional(data, "models", dict, where) or {}
        if len(models) > 16 or not all(isinstance(k, str) and isinstance(v, str) for k, v in models.items()):
            raise MessageError("bad_schema", f"{where}: models must map up to 16 names to versions.")
        depth = int(_number(data, "outbox_depth", where, 0, INT32_MAX))  # INT columns
        capacity = int(_number(data, "outbox_capacity", where, 0, INT32_MAX))
        at = parse_time(data.get("at"), where)
        return cls(
            device_id=data["device_id"],
            at=window.sent(at, where, "at") if window else at,
            fps=_number(data, "fps", where, 0, 1000),
            faces_per_second=_number(data, "faces_per_second", where, 0, 1e5),
            outbox_depth=depth,
            outbox_capacity=capacity,
            stage_ms={k: float(v) for k, v in stages.items()},
            gallery_version=_integer(data, "gallery_version", where, 0, INT32_MAX, optional=True),
            models=dict(models),
            cpu_temperature_c=_number(data, "cpu_temperature_c", where, -50, 150, optional=True),
            uptime_s=_number(data, "uptime_s", where, 0, 1e10, optional=True) or 0.0,
            acks=_acks(_optional(data, "acks", list, where) or [], window),
            providers=_providers(_optional(data, "providers", dict, where) or {}, where),
            models_bundle=_short_text(data, "models_bundle", where, 64),
            models_error=_short_text(data, "models_error", where, MAX_MODELS_ERROR),
            capture_error=_short_text(data, "capture_error", where, MAX_MODELS_ERROR),
            crops=_crop_mode(data, where),
        )


def _crop_mode(data: Mapping[str, Any], where: str) -> str | None:
    value = _optional(data, "crops", str, where)
    if value is not None and value not in CROP_MODES:
        raise MessageError("bad_schema", f"{where}: crops must be one of {', '.join(CROP_MODES)}.")
    return value


def _providers(value: Mapping[str, Any], where: str) -> dict[str, tuple[str, ...]]:
    if len(value) > 16 or not all(
        isinstance(model, str)
        and len(model) <= 64
        and isinstance(names, list)
        and 0 < len(names) <= 8
        and all(isinstance(name, str) and 0 < len(name) <= 64 for name in names)
        for model, names in value.items()
    ):
        raise MessageError(
            "bad_schema", f"{where}: providers must map up to 16 model names to lists of 1-8 provider names."
        )
    return {model: tuple(names) for model, names in value.items()}


# ---------------------------------------------------------------- server -> device


@dataclass(frozen=True)
class GalleryStudent:
    student_id: int
    embeddings: np.ndarray  # (n, dim) float32


@dataclass(frozen=True)
class Gallery:
    """The enrolled embeddings of the course now scheduled in the device's room (retained)."""

    device_id: str
    course_id: int | None
    version: int
    sha256: str
    model: str
    metric: str
    threshold: float
    students: tuple[GalleryStudent, ...]
    # Below it a track is not a student (between it and `threshold`: undecided, keep looking). None:
    # the device's default (threshold - the embedder's unknown_gap). Set by a course's accepted
    # calibration (server.school.calibration); optional, so older payloads stay valid.
    unknown_threshold: float | None = None

    def encode(self) -> bytes:
        optional = {} if self.unknown_threshold is None else {"unknown_threshold": self.unknown_threshold}
        return _dump(
            {
                "schema": SCHEMA_VERSION,
                "device_id": self.device_id,
                "course_id": self.course_id,
                "version": self.version,
                "sha256": self.sha256,
                "model": self.model,
                "metric": self.metric,
                "threshold": self.threshold,
                **optional,
                "students": [
                    {
                        "student_id": s.student_id,
                        "embeddings": base64.b64encode(
                            np.ascontiguousarray(s.embeddings, "<f4").tobytes()
                        ).decode(),
                        "count": len(s.embeddings),
                    }
                    for s in self.students
                ],
            }
        )

    @classmethod
    def decode(cls, payload: bytes | str, expected_device: str | None = None) -> Gallery:
        data = _envelope(payload, expected_device)
        where = "gallery"
        students = []
        for index, item in enumerate(_require(data, "students", list, where)):
            if not isinstance(item, dict):
                raise MessageError("bad_schema", f"{where}: student {index} must be an object.")
            count = _require(item, "count", int, where)
            student_id = _integer(item, "student_id", where, 1, INT32_MAX)  # packed as int64 in the digest
            if not 1 <= count <= 1000:
                raise MessageError("bad_schema", f"{where}: student {index} count must be 1 to 1000.")
            try:
                raw = base64.b64decode(_require(item, "embeddings", str, where), validate=True)
            except (binascii.Error, ValueError):
                raise MessageError(
                    "bad_schema", f"{where}: student {index} embeddings are not base64."
                ) from None
            if not raw or len(raw) % 4:
                raise MessageError("bad_schema", f"{where}: student {index} embeddings are not float32s.")
            vectors = np.frombuffer(raw, dtype="<f4")
            if vectors.size % count:
                raise MessageError(
                    "bad_schema", f"{where}: student {index} embeddings do not split into {count}."
                )
            students.append(GalleryStudent(student_id, vectors.reshape(count, -1)))
        return cls(
            device_id=data["device_id"],
            course_id=_integer(data, "course_id", where, 1, INT32_MAX, optional=True),
            version=_integer(data, "version", where, 0, INT32_MAX),
            sha256=_require(data, "sha256", str, where),
            model=_require(data, "model", str, where),
            metric=_require(data, "metric", str, where),
            threshold=_number(data, "threshold", where, -10, 10),
            students=tuple(students),
            unknown_threshold=_number(data, "unknown_threshold", where, -10, 10, optional=True),
        )


def gallery_digest(gallery: Gallery) -> str:
    """What `Gallery.sha256` must hold: SHA-256 over exactly the numbers a device will match against.

    In order: the UTF-8 text `"{model}\n{metric}\n"`, then per student (message order) its id as a
    little-endian int64, its embedding count as a little-endian uint32 and its embeddings as
    little-endian float32 bytes, row-major. JSON formatting never takes part, and the thresholds (a
    setting the server may tune) are left out: a new threshold comes with a new `version`, and devices
    take a gallery whose version or sha256 differs. Publisher and device both call this function.
    """
    digest = hashlib.sha256(f"{gallery.model}\n{gallery.metric}\n".encode())
    for student in gallery.students:
        vectors = np.ascontiguousarray(student.embeddings, dtype="<f4")
        digest.update(struct.pack("<qI", student.student_id, len(vectors)))
        digest.update(vectors.tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- commands (server -> device)

COMMAND_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_ACKS = 20
# What devices execute, and the arguments each takes: {arg: bool}, {arg: (low, high)} for a number or
# {arg: ("a", "b", ...)} for one of those words.
# Devices refuse any other name or argument with a reason in their acknowledgement.
COMMANDS: dict[str, dict[str, Any]] = {
    "resync_gallery": {},  # subscribe to the gallery topic again: the broker resends the retained one
    "restart_capture": {},  # reopen the camera/stream (a wedged RTSP session, a replaced camera)
    # Which tracks' best face crop rides in sightings (edge.config `crops`): "unknown" (the default:
    # the instructor must see a face to decide who it was), "all" or "off".
    "set_crops": {"mode": CROP_MODES},
    # The older switch, kept for servers and scripts that send it: true = "all" (recognised students'
    # crops too), false = "unknown" (recognised students' crops off; unknown faces keep theirs).
    "set_thumbnails": {"enabled": bool},
    "set_telemetry_interval": {"seconds": (1.0, 3600.0)},
}


def check_command(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of a known command, validated; MessageError('unknown_command'|'bad_args')."""
    spec = COMMANDS.get(name)
    if spec is None:
        raise MessageError("unknown_command", f"'{name[:40]}' is not a command ({', '.join(COMMANDS)}).")
    unknown = sorted(set(args) - set(spec))
    if unknown:
        raise MessageError("bad_args", f"{name}: unknown argument(s) {', '.join(unknown)[:80]}.")
    checked: dict[str, Any] = {}
    for key, rule in spec.items():
        if key not in args:
            raise MessageError("bad_args", f"{name}: '{key}' is missing.")
        value = args[key]
        if rule is bool:
            if not isinstance(value, bool):
                raise MessageError("bad_args", f"{name}: '{key}' must be true or false.")
            checked[key] = value
        elif isinstance(rule[0], str):
            if not isinstance(value, str) or value not in rule:
                raise MessageError("bad_args", f"{name}: '{key}' must be one of {', '.join(rule)}.")
            checked[key] = value
        else:
            low, high = rule
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok or not low <= value <= high or not math.isfinite(value):  # no OverflowError
                raise MessageError("bad_args", f"{name}: '{key}' must be a number from {low:g} to {high:g}.")
            checked[key] = float(value)
    return checked


@dataclass(frozen=True)
class Command:
    """An instruction to a device: e.g. 'resync_gallery', 'set_thumbnails' {'enabled': bool}.

    `expires_at` (optional): a device that receives the command later (it was offline and the broker
    queued it) refuses it as expired instead of acting on a stale order."""

    device_id: str
    command_id: str
    name: str
    args: Mapping[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None

    def encode(self) -> bytes:
        data: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "device_id": self.device_id,
            "command_id": self.command_id,
            "name": self.name,
            "args": dict(self.args),
        }
        if self.expires_at is not None:
            data["expires_at"] = format_time(self.expires_at)
        return _dump(data)

    @classmethod
    def decode(cls, payload: bytes | str, expected_device: str | None = None) -> Command:
        data = _envelope(payload, expected_device)
        command_id = _require(data, "command_id", str, "command")
        if not COMMAND_ID_PATTERN.match(command_id):
            raise MessageError("bad_schema", f"command: command_id '{command_id[:80]}' is not a valid id.")
        expires = data.get("expires_at")
        return cls(
            data["device_id"],
            command_id,
            _require(data, "name", str, "command")[:40],
            _optional(data, "args", dict, "command") or {},
            None if expires is None else parse_time(expires, "command"),
        )


@dataclass(frozen=True)
class CommandAck:
    """A device's answer to one command, carried in its telemetry: done (`ok`) or refused and why."""

    command_id: str
    name: str
    ok: bool
    detail: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "command_id": self.command_id,
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail[:200],
            "at": format_time(self.at),
        }

    @classmethod
    def from_json(cls, data: Any, where: str, window: TimeWindow | None = None) -> CommandAck:
        if not isinstance(data, dict):
            raise MessageError("bad_schema", f"{where}: an ack must be an object.")
        command_id = _require(data, "command_id", str, where)
        if not COMMAND_ID_PATTERN.match(command_id):
            raise MessageError("bad_schema", f"{where}: command_id is not a valid id.")
        at = parse_time(data.get("at"), where)
        return cls(
            command_id,
            _require(data, "name", str, where)[:40],
            _require(data, "ok", bool, where),
            str(_optional(data, "detail", str, where) or "")[:200],
            window.event(at, where, "at") if window else at,  # repeated until superseded: may be old
        )


def _acks(items: list[Any], window: TimeWindow | None = None) -> tuple[CommandAck, ...]:
    if len(items) > MAX_ACKS:
        raise MessageError("bad_schema", f"telemetry: at most {MAX_ACKS} acks.")
    return tuple(CommandAck.from_json(item, f"telemetry ack {i}", window) for i, item in enumerate(items))


# ---------------------------------------------------------------- model bundles (server -> device)

MAX_MODELS_ERROR = 200
BUNDLE_VERSION_PATTERN = re.compile(r"^[0-9a-f]{16}$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
EMBEDDER_ID_PATTERN = re.compile(r"^[a-z0-9_]{1,40}@[A-Za-z0-9_.-]{1,40}$")


def _short_text(data: Mapping[str, Any], key: str, where: str, limit: int) -> str | None:
    value = _optional(data, key, str, where)
    return None if value is None else value[:limit]


@dataclass(frozen=True)
class ModelsAnnouncement:
    """The model bundle the server serves now (retained): a device whose set differs fetches it over
    HTTPS (`GET /api/v1/device/models/manifest`, then each file), checks the manifest's sha256 against
    `manifest_sha256` and every file against the manifest, and only then swaps it in (shared.bundle)."""

    device_id: str
    bundle_version: str  # 16 hex, content-addressed (shared.bundle.bundle_version)
    manifest_sha256: str  # SHA-256 of the manifest bytes the server serves
    embedder: str  # the embedder id the server's galleries are made with, e.g. sface@2021dec
    format: int = 1  # the bundle format (shared.bundle.BUNDLE_FORMAT)

    def encode(self) -> bytes:
        return _dump(
            {
                "schema": SCHEMA_VERSION,
                "device_id": self.device_id,
                "bundle_version": self.bundle_version,
                "manifest_sha256": self.manifest_sha256,
                "embedder": self.embedder,
                "format": self.format,
            }
        )

    @classmethod
    def decode(cls, payload: bytes | str, expected_device: str | None = None) -> ModelsAnnouncement:
        data = _envelope(payload, expected_device)
        where = "models"
        version = _require(data, "bundle_version", str, where)
        if not BUNDLE_VERSION_PATTERN.match(version):
            raise MessageError("bad_schema", f"{where}: bundle_version must be 16 lower-case hex digits.")
        digest = _require(data, "manifest_sha256", str, where)
        if not SHA256_PATTERN.match(digest):
            raise MessageError("bad_schema", f"{where}: manifest_sha256 must be 64 lower-case hex digits.")
        embedder = _require(data, "embedder", str, where)
        if not EMBEDDER_ID_PATTERN.match(embedder):
            raise MessageError("bad_schema", f"{where}: embedder must be an id such as sface@2021dec.")
        fmt = _require(data, "format", int, where)
        if not 1 <= fmt <= 1000:
            raise MessageError("bad_schema", f"{where}: format must be from 1 to 1000.")
        return cls(data["device_id"], version, digest, embedder, fmt)
