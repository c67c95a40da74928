"""The contract for unknown faces (issue 15): an unknown track's event carries its best crop and the
embedding of its best view; hostile embeddings are refused with `bad_embedding`, a recognised
student's event never carries one, and the crop mode travels as the `set_crops` command."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pytest

from shared.messages import (
    COMMANDS,
    CROP_MODES,
    EMBEDDING_DIMS,
    MessageError,
    SightingBatch,
    SightingEvent,
    check_command,
    encode_embedding,
)

pytestmark = pytest.mark.device_profile

NOW = datetime(2026, 3, 2, 9, 15, 30, tzinfo=timezone.utc)
MODEL = "sface@2021dec"
JPEG = b"\xff\xd8" + bytes(range(256)) * 8 + b"\xff\xd9"


def unknown_event(vector: np.ndarray | None = None, **changes: Any) -> SightingEvent:
    vector = np.linspace(-1, 1, 128, dtype=np.float32) if vector is None else vector
    fields: dict[str, Any] = {
        "event_id": "evt-00000001",
        "track_id": 3,
        "captured_at": NOW,
        "score": 0.21,
        "thumbnail_jpeg": JPEG,
        "embedding": encode_embedding(vector),
        "embedding_model": MODEL,
    }
    return SightingEvent(**{**fields, **changes})


def payload_with(event: dict[str, Any]) -> bytes:
    data = json.loads(SightingBatch("cam-1", "b-1", NOW, (unknown_event(),)).encode())
    data["events"][0].update(event)
    return json.dumps(data).encode()


def reason_of(event: dict[str, Any]) -> str:
    with pytest.raises(MessageError) as info:
        SightingBatch.decode(payload_with(event), "cam-1")
    return info.value.reason


@pytest.mark.parametrize("dim", [EMBEDDING_DIMS[0], 128, 512, EMBEDDING_DIMS[1]])
def test_an_unknown_face_round_trips_with_its_crop_and_embedding(dim):
    vector = np.random.default_rng(dim).normal(size=dim).astype(np.float32)
    event = unknown_event(vector)
    decoded = SightingBatch.decode(SightingBatch("cam-1", "b-1", NOW, (event,)).encode(), "cam-1").events[0]
    assert decoded == event  # bytes for bytes: crop, embedding, model
    assert np.array_equal(decoded.embedding_vector(), vector)
    assert decoded.embedding_model == MODEL and decoded.thumbnail_jpeg == JPEG


def test_events_without_an_embedding_keep_their_old_form():
    plain = SightingEvent("evt-00000002", 1, NOW, 0.9, student_id=4)
    assert "embedding" not in plain.to_json() and "embedding_model" not in plain.to_json()
    decoded = SightingBatch.decode(SightingBatch("cam-1", "b-1", NOW, (plain,)).encode(), "cam-1")
    assert decoded.events[0] == plain and decoded.events[0].embedding_vector() is None


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def floats(values: list[float]) -> str:
    return b64(np.asarray(values, "<f4").tobytes())


HOSTILE: list[tuple[str, dict[str, Any], str]] = [
    ("too few dimensions", {"embedding": floats([0.5] * (EMBEDDING_DIMS[0] - 1))}, "bad_embedding"),
    ("too many dimensions", {"embedding": floats([0.5] * (EMBEDDING_DIMS[1] + 1))}, "bad_embedding"),
    ("a huge string", {"embedding": "A" * 10_000_000}, "oversized"),  # the payload bound comes first
    ("long but under the payload bound", {"embedding": "AAAA" * 2000}, "bad_embedding"),
    ("bytes that are not float32s", {"embedding": b64(b"\x00\x00\x80\x3f" * 40 + b"\x01")}, "bad_embedding"),
    ("not base64", {"embedding": "not base64!"}, "bad_embedding"),
    ("NaN", {"embedding": floats([0.5] * 127 + [float("nan")])}, "bad_embedding"),
    ("infinity", {"embedding": floats([float("inf")] + [0.5] * 127)}, "bad_embedding"),
    ("all zeros", {"embedding": floats([0.0] * 128)}, "bad_embedding"),
    ("a number", {"embedding": 12}, "bad_schema"),
    ("a list of floats", {"embedding": [0.5] * 128}, "bad_schema"),
    ("no embedder id", {"embedding_model": None}, "bad_embedding"),
    ("an embedder id that is not one", {"embedding_model": "sface"}, "bad_embedding"),
    ("an embedder id beyond its column", {"embedding_model": "a" * 40 + "@" + "b" * 40}, "bad_embedding"),
    ("an embedder id of the wrong type", {"embedding_model": ["sface@2021dec"]}, "bad_schema"),
    ("an embedder id without an embedding", {"embedding": None}, "bad_embedding"),
    ("a recognised student's embedding", {"student_id": 5}, "bad_embedding"),
]


@pytest.mark.parametrize("change,expected", [(c, r) for _, c, r in HOSTILE], ids=[n for n, *_ in HOSTILE])
def test_hostile_embeddings_are_refused_with_their_reason(change, expected):
    assert reason_of(change) == expected


def test_one_bad_embedding_refuses_the_whole_batch():
    good = unknown_event()
    bad = unknown_event(np.full(128, np.nan, np.float32), event_id="evt-00000009")
    with pytest.raises(MessageError, match="event 1: embedding holds a value that is not finite") as info:
        SightingBatch.decode(SightingBatch("cam-1", "b-1", NOW, (good, bad)).encode(), "cam-1")
    assert info.value.reason == "bad_embedding"


@pytest.mark.parametrize("mode", CROP_MODES)
def test_set_crops_takes_a_mode(mode):
    assert check_command("set_crops", {"mode": mode}) == {"mode": mode}


@pytest.mark.parametrize("args", [{"mode": "ALL"}, {"mode": 1}, {"mode": None}, {"mode": True}, {}, {"x": 1}])
def test_set_crops_refuses_anything_else(args):
    with pytest.raises(MessageError) as info:
        check_command("set_crops", args)
    assert info.value.reason == "bad_args"


def test_set_thumbnails_still_takes_its_switch():
    assert "set_thumbnails" in COMMANDS and check_command("set_thumbnails", {"enabled": False}) == {
        "enabled": False
    }
