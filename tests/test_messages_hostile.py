"""shared/messages.py against hostile bytes: a decoder raises MessageError and nothing else, the
nesting pre-scan measures exactly what the parser would recurse into, integers are bounded to
their columns and device times to a believable window (issue 14)."""

from __future__ import annotations

import contextlib
import json
import random
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from shared import messages as m
from shared.messages import (
    Command,
    Gallery,
    MessageError,
    ModelsAnnouncement,
    SightingBatch,
    SightingEvent,
    Status,
    Telemetry,
    TimeWindow,
    load_json,
)

pytestmark = pytest.mark.device_profile

NOW = datetime(2026, 3, 2, 9, 15, 30, tzinfo=timezone.utc)
DECODERS = (SightingBatch, Status, Telemetry, Gallery, Command, ModelsAnnouncement)


def reason(payload: bytes | str, decoder: Any = SightingBatch, **kwargs: Any) -> str:
    with pytest.raises(MessageError) as info:
        decoder.decode(payload, **kwargs)
    return info.value.reason


def valid_batch(**changes: Any) -> dict:
    event = SightingEvent("ev-0001-abcd", 3, NOW, 0.7, student_id=42)
    data = json.loads(SightingBatch("dev-a", "b-1", NOW, (event,)).encode())
    data["events"][0].update(changes.pop("event", {}))
    return {**data, **changes}


# ---------------------------------------------------------------- bounded parsing


@pytest.mark.parametrize(
    "payload, expected",
    [
        (b"[" * 1000 + b"]" * 1000, "too_deep"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "too_deep"),
        (b"[" * 300_000, "too_deep"),  # unbalanced
        (b'"' + b'\\"' * 100_000, "malformed_json"),  # one unterminated string of escaped quotes
        (b'{"a":"\\ud800"}', "malformed_json"),
        (b'{"a":"\xff"}', "malformed_json"),
        (b"\xef\xbb\xbf{}", "malformed_json"),  # a byte-order mark is not JSON text
        ('{"a":"\ud800"}', "malformed_json"),  # a str that is not even encodable
    ],
    ids=lambda value: repr(value)[:40],
)
def test_hostile_payloads_are_refused_with_a_reason(payload, expected):
    with pytest.raises(MessageError) as info:
        load_json(payload)
    assert info.value.reason == expected


def test_a_5000_digit_integer_is_refused_before_or_at_its_column():
    payload = json.dumps(valid_batch(event={"student_id": "N"})).replace('"N"', "9" * 5000)
    limited = hasattr(sys, "get_int_max_str_digits")  # Python's int-string limit (3.10.7+)
    assert reason(payload) == ("number_too_long" if limited else "out_of_range")


def test_nesting_up_to_the_limit_is_accepted_and_one_more_is_not():
    deepest = "[" * m.MAX_JSON_DEPTH + "]" * m.MAX_JSON_DEPTH
    assert load_json(deepest) is not None
    with pytest.raises(MessageError, match="deeper"):
        load_json("[" + deepest + "]")


def test_brackets_quotes_and_backslashes_inside_strings_do_not_count():
    text = '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"]]]]\\\\'
    data = {
        "schema": 1,
        "device_id": "dev-a",
        "items": [{"s": text, "t": "}" * 40, "u": '"' * 20} for _ in range(30)],
        "note": "\\" * 7 + '"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{',
    }
    assert load_json(json.dumps(data)) == data
    assert m._nesting(json.dumps(data).encode()) == 3


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def random_json(rng: random.Random, level: int = 0) -> Any:
    alphabet = '[]{}"\\ab:,0é'
    choice = rng.random()
    if level > 20 or choice < 0.3:
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(8)))
    if choice < 0.4:
        return rng.choice([0, -7, 1.5, True, None, 10**30])
    if choice < 0.7:
        return [random_json(rng, level + 1) for _ in range(rng.randrange(4))]
    return {random_json(rng, 99): random_json(rng, level + 1) for _ in range(rng.randrange(4))}


def test_the_nesting_scan_bounds_the_parsers_depth_on_random_documents():
    """Exact beyond the limit (what decides a refusal), never below the real depth."""
    rng = random.Random(14)
    for n in range(3000):
        document = random_json(rng)
        for _ in range(n % 30):  # up to 29 more levels, some beyond the limit
            document = [document, "]"] if rng.random() < 0.5 else {"k[": document, "}": 1}
        for ascii_only in (True, False):
            measured = m._nesting(json.dumps(document, ensure_ascii=ascii_only).encode())
            assert measured >= depth(document)
            assert measured == depth(document) or measured <= m.MAX_JSON_DEPTH


def mutations(rng: random.Random, raw: bytes) -> bytes:
    pieces = [b"[", b"]", b"{", b"}", b'"', b"\\", b"9" * 50, b"-", b"1e999", b"\\u", b"\xff", b"\x00", b","]
    data = bytearray(raw)
    for _ in range(rng.randrange(1, 6)):
        where = rng.randrange(len(data) + 1)
        action = rng.random()
        if action < 0.4:
            data[where:where] = rng.choice(pieces) * rng.choice([1, 1, 2, 40])
        elif action < 0.7 and data:
            del data[where : where + rng.randrange(1, 8)]
        elif data:
            data[min(where, len(data) - 1)] = rng.randrange(256)
    return bytes(data)


def valid_payloads() -> list[bytes]:
    from tests.test_messages import gallery, telemetry

    return [
        SightingBatch.decode(json.dumps(valid_batch())).encode(),
        Status("dev-a", "online", NOW, "1.2").encode(),
        telemetry().encode(),
        gallery().encode(),
        Command("dev-a", "c-1", "set_thumbnails", {"enabled": True}, NOW).encode(),
        ModelsAnnouncement("dev-a", "0" * 16, "a" * 64, "sface@2021dec").encode(),
    ]


def test_decoders_raise_nothing_but_message_error_on_mutated_payloads():
    """Random insertions of brackets, quotes, backslashes, long digit runs, bad bytes; deletions;
    flipped bytes: 6 decoders x 6 payloads x 250 mutations, each either a value or a MessageError."""
    rng = random.Random(1414)
    window = TimeWindow(NOW)
    outcomes: dict[str, int] = {}
    for raw in valid_payloads():
        for _ in range(250):
            mutated = mutations(rng, raw)
            for decoder in DECODERS:
                kwargs = {"window": window} if decoder in (SightingBatch, Telemetry) else {}
                try:
                    decoder.decode(mutated, **kwargs)
                    outcomes["accepted"] = outcomes.get("accepted", 0) + 1
                except MessageError as exc:
                    outcomes[exc.reason] = outcomes.get(exc.reason, 0) + 1
    assert outcomes.get("malformed_json", 0) > 0 and outcomes.get("too_deep", 0) > 0


# ---------------------------------------------------------------- integers and times


@pytest.mark.parametrize(
    "changes",
    [
        {"event": {"student_id": 2**31}},
        {"event": {"student_id": 2**63}},
        {"event": {"track_id": 2**63}},
        {"gallery_version": 2**31},
        {"gallery_version": 2**63},
        {"gallery_version": -1},
    ],
    ids=repr,
)
def test_integers_beyond_their_columns_are_out_of_range(changes):
    assert reason(json.dumps(valid_batch(**changes))) == "out_of_range"


def test_integers_at_the_edge_of_their_columns_are_accepted():
    batch = SightingBatch.decode(
        json.dumps(valid_batch(event={"student_id": m.INT32_MAX, "track_id": m.INT64_MAX}, gallery_version=0))
    )
    assert batch.events[0].student_id == m.INT32_MAX and batch.events[0].track_id == m.INT64_MAX


def test_telemetry_and_gallery_integers_are_bounded():
    from tests.test_messages import gallery, telemetry

    report = json.loads(telemetry().encode())
    for key, value in (("gallery_version", 2**63), ("gallery_version", 2**31)):
        assert reason(json.dumps({**report, key: value}), Telemetry) == "out_of_range"
    for key, value in (("outbox_depth", 2**31), ("outbox_capacity", 10**400), ("fps", 10**400)):
        assert reason(json.dumps({**report, key: value}), Telemetry) == "bad_schema"
    data = json.loads(gallery().encode())
    assert reason(json.dumps({**data, "version": 2**63}), Gallery) == "out_of_range"
    students = [{**data["students"][0], "student_id": 2**63}]
    assert reason(json.dumps({**data, "students": students}), Gallery) == "out_of_range"


def test_times_outside_the_utc_calendar_are_implausible():
    for text in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        assert reason(json.dumps(valid_batch(sent_at=text))) == "implausible_time"
        assert reason(json.dumps(valid_batch(event={"captured_at": text}))) == "implausible_time"
    assert reason(json.dumps(valid_batch(sent_at="2026-03-02T09:00:00" + "0" * 100 + "Z"))) == "bad_schema"


@pytest.mark.parametrize("year", ["0001", "1970", "1999", "2100", "9999"])
def test_captured_at_outside_the_window_is_implausible(year):
    window = TimeWindow(NOW)
    data = valid_batch(event={"captured_at": f"{year}-06-01T00:00:00Z"})
    assert SightingBatch.decode(json.dumps(data)).events[0].captured_at.year == int(year)  # no window
    with pytest.raises(MessageError, match="sightings event 0: 'captured_at'") as info:
        SightingBatch.decode(json.dumps(data), window=window)
    assert info.value.reason == "implausible_time"


def test_the_window_around_arrival():
    window = TimeWindow(NOW, ahead_s=3600, sent_behind_s=86_400)
    for sent, ok in (
        (NOW - timedelta(hours=23), True),
        (NOW - timedelta(hours=25), False),
        (NOW + timedelta(minutes=59), True),
        (NOW + timedelta(minutes=61), False),
    ):
        data = valid_batch(sent_at=m.format_time(sent))
        if ok:
            assert SightingBatch.decode(json.dumps(data), window=window).sent_at == sent
        else:
            assert reason(json.dumps(data), window=window) == "implausible_time"
    # An event captured long ago (an outbox emptied after weeks offline) is believed...
    old = valid_batch(event={"captured_at": "2025-01-01T00:00:00Z"})
    assert SightingBatch.decode(json.dumps(old), window=window).events[0].captured_at.year == 2025
    # ...and telemetry times, acks included, are checked too.
    from tests.test_messages import telemetry

    report = json.loads(telemetry().encode())
    assert reason(json.dumps({**report, "at": "2100-01-01T00:00:00Z"}), Telemetry, window=window) == (
        "implausible_time"
    )
    ack = {"command_id": "c-1", "name": "x", "ok": True, "detail": "", "at": "1970-01-01T00:00:00Z"}
    assert reason(json.dumps({**report, "acks": [ack]}), Telemetry, window=window) == "implausible_time"


def test_event_ids_are_read_in_lower_case_and_case_twins_are_one_id():
    batch = SightingBatch.decode(json.dumps(valid_batch(event={"event_id": "EV-0001-ABCD"})))
    assert batch.events[0].event_id == "ev-0001-abcd"
    data = valid_batch()
    data["events"].append({**data["events"][0], "event_id": data["events"][0]["event_id"].upper()})
    assert reason(json.dumps(data)) == "bad_schema"  # the same event_id twice in one batch


HOSTILE_VALUES: list[Any] = [
    None, True, 0, -1, 2**31, 2**63, -(2**63) - 1, 10**400, 1e308, -1e308, 1.5, float("nan"), float("inf"),
    "", "x" * 5000, "\ud800", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "AAA", "====",
    [], {}, [[[[1]]]], {"a": {"b": 1}},
]  # fmt: skip


def field_paths(value: Any, path: tuple = ()) -> list[tuple]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += field_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:2]):
            found += field_paths(item, (*path, index))
    return found


def replaced(document: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


def test_every_field_replaced_by_hostile_values_is_a_value_or_a_message_error():
    window = TimeWindow(NOW)
    decoded = 0
    for raw in valid_payloads():
        document = json.loads(raw)
        for path in field_paths(document):
            for value in HOSTILE_VALUES:
                text = json.dumps(replaced(document, path, value))
                for decoder in DECODERS:
                    kwargs = {"window": window} if decoder in (SightingBatch, Telemetry) else {}
                    with contextlib.suppress(MessageError):
                        decoder.decode(text, **kwargs)
                    decoded += 1
    assert decoded > 5000
