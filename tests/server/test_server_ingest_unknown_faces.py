"""Unknown faces through the real Mosquitto into both databases (issue 15): an unknown track's crop,
embedding and embedder id are stored on its sighting; a batch with a bad embedding is refused with
its reason and nothing of it is written; ingest goes on."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import select

from server.db.models import RejectedMessage, Sighting
from shared.messages import SightingBatch, SightingEvent, encode_embedding, topic
from tests.server.test_server_ingest_mqtt import (  # noqa: F401 (scene and make_worker are fixtures)
    make_worker,
    reasons,
    scene,
    sightings_of,
    wait_for,
)

MODEL = "sface@2021dec"
JPEG = b"\xff\xd8" + bytes(range(256)) * 12 + b"\xff\xd9"


def event(
    track: int, student: int | None = None, vector: np.ndarray | None = None, crop: bool = True
) -> SightingEvent:
    return SightingEvent(
        event_id=f"ev-{secrets.token_hex(8)}",
        track_id=track,
        captured_at=datetime.now(timezone.utc),
        score=0.2 if student is None else 0.8,
        student_id=student,
        thumbnail_jpeg=JPEG if crop else None,
        embedding=None if vector is None else encode_embedding(vector),
        embedding_model=None if vector is None else MODEL,
    )


def send(publisher, device_id: str, *events: SightingEvent) -> None:
    now = datetime.now(timezone.utc)
    payload = SightingBatch(device_id, f"b-{secrets.token_hex(4)}", now, events).encode()
    publisher.send(topic(device_id, "sightings"), payload)


def stored(db, device) -> dict[str, tuple]:
    db.rollback()
    columns = (Sighting.event_id, Sighting.student_id, Sighting.thumbnail, Sighting.embedding)
    rows = db.execute(select(*columns, Sighting.embedding_model).where(Sighting.device_id == device.id))
    return {row[0]: tuple(row[1:]) for row in rows}


def test_unknown_faces_are_stored_with_crop_and_embedding_and_bad_ones_refused(
    db,
    scene,  # noqa: F811
    make_worker,  # noqa: F811
    publisher,
):
    device, student = scene["device"], scene["student"]
    make_worker()
    rng = np.random.default_rng(7)
    stranger = rng.normal(size=128).astype(np.float32)
    wide = rng.normal(size=1024).astype(np.float32)
    good = [event(1, vector=stranger), event(2, vector=wide), event(3, student=student.id, crop=False)]
    send(publisher, device.device_id, *good)

    nan = stranger.copy()
    nan[5] = np.nan
    hostile = [
        (event(4, vector=nan), "not finite"),
        (event(4, vector=np.zeros(128, np.float32)), "all zeros"),
        (event(4, vector=stranger[:16]), "32-1024 float32s"),
        (event(4, student=student.id, vector=stranger), "unknown faces only"),
    ]
    bystanders = []
    for bad, _ in hostile:
        bystander = event(5, vector=stranger)  # a valid unknown face in the same batch
        bystanders.append(bystander.event_id)
        send(publisher, device.device_id, bystander, bad)
    send(publisher, device.device_id, event(6, vector=stranger))  # and ingest goes on
    wait_for(lambda: sightings_of(db, device) == 4 and len(reasons(db, device.device_id)) == 4)

    rows = stored(db, device)
    assert rows[good[0].event_id] == (None, JPEG, encode_embedding(stranger), MODEL)
    assert rows[good[1].event_id][2] == wide.astype("<f4").tobytes()  # 1024 dimensions, exact
    assert rows[good[2].event_id] == (student.id, None, None, None)  # a recognised student: no face
    assert np.array_equal(np.frombuffer(rows[good[0].event_id][2], "<f4"), stranger)
    # Nothing of a refused batch was written: not the bad event, not its valid neighbour.
    assert not set(bystanders) & set(rows)
    assert reasons(db, device.device_id) == ["bad_embedding"] * 4
    details = db.scalars(
        select(RejectedMessage.detail)
        .where(RejectedMessage.device_id == device.device_id)
        .order_by(RejectedMessage.id)
    ).all()
    for detail, (_, expected) in zip(details, hostile, strict=True):
        assert "event 1" in detail and expected in detail, detail
