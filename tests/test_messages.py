"""shared/messages.py: what a device builds decodes to the same value on the server, and every
broken payload is refused with the reason ingest records for it."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from shared import messages as m
from shared.messages import (
    Command,
    Gallery,
    GalleryStudent,
    MessageError,
    SightingBatch,
    SightingEvent,
    Status,
    Telemetry,
)

pytestmark = pytest.mark.device_profile

NOW = datetime(2026, 3, 2, 9, 15, 30, 123456, tzinfo=timezone.utc)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100


def event(**changes) -> SightingEvent:
    values = dict(event_id="dev-a:0001", track_id=3, captured_at=NOW, score=0.71, student_id=42, quality=0.9)
    return SightingEvent(**{**values, **changes})


def batch(*events: SightingEvent, **changes) -> SightingBatch:
    values = dict(device_id="dev-a", batch_id="b-1", sent_at=NOW, events=events or (event(),))
    return SightingBatch(**{**values, **changes})


def telemetry() -> Telemetry:
    return Telemetry(
        device_id="dev-a",
        at=NOW,
        fps=14.5,
        faces_per_second=3.25,
        outbox_depth=12,
        outbox_capacity=100000,
        stage_ms={"detect": 21.5, "embed": 8.0},
        gallery_version=7,
        models={"detector": "mtcnn-1"},
        cpu_temperature_c=61.0,
        uptime_s=3600.5,
        providers={"mtcnn_pnet": ("TensorrtExecutionProvider", "CPUExecutionProvider")},
    )


def gallery() -> Gallery:
    rng = np.random.default_rng(0)
    return Gallery(
        device_id="dev-a",
        course_id=5,
        version=7,
        sha256="ab" * 32,
        model="dlib_resnet",
        metric="euclidean",
        threshold=0.6,
        students=(
            GalleryStudent(42, rng.standard_normal((3, 128)).astype(np.float32)),
            GalleryStudent(43, rng.standard_normal((1, 128)).astype(np.float32)),
        ),
    )


def payload(message) -> dict:
    return json.loads(message.encode())


def rejected(cls, data, expected: str | None = None, reason: str = "bad_schema") -> MessageError:
    raw = data if isinstance(data, (bytes, str)) else json.dumps(data)
    with pytest.raises(MessageError) as info:
        cls.decode(raw, expected)
    assert info.value.reason == reason, str(info.value)
    return info.value


# ---------------------------------------------------------------- round trips


def test_sighting_batch_round_trip():
    original = batch(
        event(),
        event(event_id="dev-a:0002", student_id=None, quality=None, score=-0.2),
        event(event_id="dev-a:0003", thumbnail_jpeg=JPEG),
        gallery_version=7,
    )
    decoded = SightingBatch.decode(original.encode(), "dev-a")
    assert decoded == original
    assert payload(original)["schema"] == m.SCHEMA_VERSION
    assert "thumbnail" not in payload(original)["events"][0]


def test_status_telemetry_command_round_trip():
    for message in (
        Status("dev-a", "online", NOW, "visage-edge 0.1"),
        Status("dev-a", "offline", NOW),
        telemetry(),
        Command("dev-a", "c-1", "set_thumbnails", {"enabled": True}),
        Command("dev-a", "c-2", "resync_gallery"),
    ):
        assert type(message).decode(message.encode(), "dev-a") == message


def test_gallery_round_trip_keeps_embeddings():
    original = gallery()
    decoded = Gallery.decode(original.encode(), "dev-a")
    assert (decoded.device_id, decoded.version, decoded.sha256, decoded.threshold) == (
        "dev-a",
        7,
        "ab" * 32,
        0.6,
    )
    assert [s.student_id for s in decoded.students] == [42, 43]
    for before, after in zip(original.students, decoded.students, strict=True):
        assert after.embeddings.dtype == np.float32
        np.testing.assert_array_equal(before.embeddings, after.embeddings)


def test_times_are_utc_with_z_and_other_offsets_are_converted():
    data = payload(batch())
    assert data["sent_at"] == "2026-03-02T09:15:30.123456Z"
    data["sent_at"] = "2026-03-02T10:15:30.123456+01:00"
    assert SightingBatch.decode(json.dumps(data)).sent_at == NOW
    assert m.format_time(NOW.astimezone(timezone(timedelta(hours=-5)))).endswith("Z")
    with pytest.raises(ValueError):
        m.format_time(NOW.replace(tzinfo=None))


def test_decode_without_expected_device_accepts_any_device():
    assert SightingBatch.decode(batch(device_id="dev-b").encode()).device_id == "dev-b"


# ---------------------------------------------------------------- envelope rejections


@pytest.mark.parametrize("cls", [SightingBatch, Status, Telemetry, Gallery, Command])
def test_envelope_rejections_apply_to_every_type(cls):
    rejected(cls, b"{not json", reason="malformed_json")
    rejected(cls, b"\xff\xfe\x00", reason="malformed_json")
    for not_object in ([], "text", 3, None):
        rejected(cls, json.dumps(not_object))
    rejected(cls, {"device_id": "dev-a"}, reason="unsupported_version")
    rejected(cls, {"schema": 2, "device_id": "dev-a"}, reason="unsupported_version")
    rejected(cls, {"schema": "1", "device_id": "dev-a"}, reason="unsupported_version")
    rejected(cls, {"schema": 1})
    rejected(cls, {"schema": 1, "device_id": 5})
    rejected(cls, {"schema": 1, "device_id": "dev-b"}, "dev-a", reason="device_mismatch")
    rejected(cls, b" " * (m.MAX_PAYLOAD_BYTES + 1), reason="oversized")


def test_encode_refuses_oversized_payloads():
    many = tuple(
        event(event_id=f"dev-a:{i:06d}", thumbnail_jpeg=JPEG + b"\x00" * 2000)
        for i in range(m.MAX_EVENTS_PER_BATCH)
    )
    with pytest.raises(MessageError) as info:
        batch(*many).encode()
    assert info.value.reason == "oversized"


def test_encode_refuses_nan():
    with pytest.raises(ValueError):
        batch(event(score=float("nan"))).encode()


# ---------------------------------------------------------------- sightings rejections


def with_event(**changes) -> dict:
    data = payload(batch())
    data["events"][0].update(changes)
    for key, value in changes.items():
        if value is ...:
            del data["events"][0][key]
    return data


@pytest.mark.parametrize(
    "changes",
    [
        {"event_id": ...},
        {"event_id": 17},
        {"event_id": "short"},
        {"event_id": "has space in it"},
        {"track_id": ...},
        {"track_id": "3"},
        {"track_id": 1.5},
        {"track_id": -1},
        {"track_id": True},
        {"score": ...},
        {"score": "0.5"},
        {"score": True},
        {"score": 1.5},
        {"score": -1.01},
        {"quality": 2.0},
        {"quality": False},
        {"student_id": 0},
        {"student_id": "42"},
        {"student_id": 4.2},
        {"student_id": True},
        {"captured_at": ...},
        {"captured_at": 1700000000},
        {"captured_at": "yesterday"},
        {"captured_at": "2026-03-02T09:15:30"},
        {"thumbnail": "!!not base64!!"},
        {"thumbnail": base64.b64encode(b"GIF89a....").decode()},
        {"thumbnail": 12},
    ],
    ids=repr,
)
def test_bad_event_fields_are_refused(changes):
    error = rejected(SightingBatch, with_event(**changes), "dev-a")
    assert "event 0" in str(error)


def test_non_finite_numbers_are_refused():
    for number in ("NaN", "Infinity", "-Infinity"):
        raw = (
            json.dumps(with_event(score=0.5))
            .replace('"score":0.5', f'"score":{number}')
            .replace('"score": 0.5', f'"score": {number}')
        )
        assert number in raw
        rejected(SightingBatch, raw, "dev-a")
    data = payload(telemetry())
    raw = json.dumps(data).replace('"fps": 14.5', '"fps": NaN')
    assert "NaN" in raw
    rejected(Telemetry, raw, "dev-a")


def test_oversized_thumbnail_is_refused():
    big = base64.b64encode(JPEG + b"\x00" * m.MAX_THUMBNAIL_BYTES).decode()
    rejected(SightingBatch, with_event(thumbnail=big), "dev-a", reason="oversized")
    fits = JPEG + b"\x00" * (m.MAX_THUMBNAIL_BYTES - len(JPEG))
    assert SightingBatch.decode(batch(event(thumbnail_jpeg=fits)).encode()).events[0].thumbnail_jpeg == fits


def test_batch_level_rejections():
    data = payload(batch(event(), event(event_id="dev-a:0001")))
    assert "twice" in str(rejected(SightingBatch, data, "dev-a"))
    for events in ([], "x", [5], [{}]):
        rejected(SightingBatch, {**payload(batch()), "events": events}, "dev-a")
    too_many = [payload(batch())["events"][0] | {"event_id": f"dev-a:{i:06d}"} for i in range(501)]
    rejected(SightingBatch, {**payload(batch()), "events": too_many}, "dev-a")
    for key, value in (
        ("batch_id", None),
        ("batch_id", 9),
        ("sent_at", "2026-03-02 09:00"),
        ("gallery_version", "7"),
    ):
        rejected(SightingBatch, {**payload(batch()), key: value}, "dev-a")
    rejected(SightingBatch, {**payload(batch()), "gallery_version": True}, "dev-a")


# ---------------------------------------------------------------- other types' rejections


def test_status_rejections():
    good = payload(Status("dev-a", "online", NOW))
    rejected(Status, {**good, "state": "sleeping"}, "dev-a")
    rejected(Status, {**good, "state": None}, "dev-a")
    rejected(Status, {**good, "at": "2026-03-02T09:00:00"}, "dev-a")
    rejected(Status, {**good, "software": 3}, "dev-a")


@pytest.mark.parametrize(
    "changes",
    [
        {"fps": -1},
        {"fps": True},
        {"fps": "14"},
        {"faces_per_second": None},
        {"outbox_depth": -1},
        {"outbox_capacity": False},
        {"stage_ms": {"detect": "fast"}},
        {"stage_ms": {"detect": True}},
        {"stage_ms": {"detect": -1}},
        {"stage_ms": {f"s{i}": 1 for i in range(33)}},
        {"stage_ms": [1, 2]},
        {"models": {"detector": 1}},
        {"models": {f"m{i}": "v" for i in range(17)}},
        {"providers": {"sface": "CPUExecutionProvider"}},
        {"providers": {"sface": []}},
        {"providers": {"sface": [1]}},
        {"providers": {"sface": ["x" * 65]}},
        {"providers": {f"m{i}": ["CPUExecutionProvider"] for i in range(17)}},
        {"cpu_temperature_c": 500},
        {"uptime_s": -5},
        {"gallery_version": 1.5},
        {"at": "noon"},
    ],
    ids=repr,
)
def test_telemetry_rejections(changes):
    rejected(Telemetry, {**payload(telemetry()), **changes}, "dev-a")


def test_gallery_rejections():
    good = payload(gallery())
    student = good["students"][0]
    for students in (
        "x",
        [5],
        [{**student, "embeddings": "!!"}],
        [{**student, "count": 5}],
        [{**student, "count": 0}],
    ):
        rejected(Gallery, {**good, "students": students}, "dev-a")
    rejected(Gallery, {**good, "students": [{**student, "embeddings": ""}]}, "dev-a")
    rejected(Gallery, {**good, "students": [{**student, "student_id": "42"}]}, "dev-a")
    for key, value in (
        ("version", None),
        ("version", True),
        ("sha256", 1),
        ("threshold", "0.6"),
        ("threshold", 99),
    ):
        rejected(Gallery, {**good, key: value}, "dev-a")


def test_command_rejections():
    good = payload(Command("dev-a", "c-1", "resync_gallery"))
    rejected(Command, {**good, "name": None}, "dev-a")
    rejected(Command, {**good, "command_id": 3}, "dev-a")
    rejected(Command, {**good, "args": [1]}, "dev-a")


# ---------------------------------------------------------------- topics


def test_topic_build_and_parse():
    for kind in m.TOPIC_KINDS:
        name = m.topic("dev-a_01", kind)
        assert name == f"visage/v1/devices/dev-a_01/{kind}"
        assert m.parse_topic(name) == ("dev-a_01", kind)


@pytest.mark.parametrize(
    ("device", "kind"),
    [
        ("dev/a", "status"),
        ("", "status"),
        ("x" * 65, "status"),
        ("dev a", "status"),
        ("+", "status"),
        ("dev-a", "secrets"),
        ("dev-a", ""),
    ],
)
def test_topic_refuses_bad_parts(device, kind):
    with pytest.raises(MessageError) as info:
        m.topic(device, kind)
    assert info.value.reason == "bad_topic"


@pytest.mark.parametrize(
    "name",
    [
        "visage/v1/devices/dev-a",
        "visage/v1/devices/dev-a/sightings/extra",
        "visage/v2/devices/dev-a/sightings",
        "visage/v1/devices//sightings",
        "visage/v1/devices/dev+a/sightings",
        "visage/v1/devices/dev-a/unknown",
        "other/dev-a/sightings",
        "",
    ],
)
def test_parse_topic_refuses_foreign_topics(name):
    with pytest.raises(MessageError) as info:
        m.parse_topic(name)
    assert info.value.reason == "bad_topic"


def test_schema_version_must_be_the_integer_one():
    for version in (True, 1.0):
        rejected(
            Status,
            {**payload(Status("dev-a", "online", NOW)), "schema": version},
            reason="unsupported_version",
        )


def test_event_id_length_limits():
    assert SightingBatch.decode(batch(event(event_id="e" * 64)).encode()).events[0].event_id == "e" * 64
    rejected(SightingBatch, with_event(event_id="e" * 65), "dev-a")
