"""Faces an instructor can see (issue 15), on the device: every unknown track's events carry the crop
and the embedding of its best view (quality x face size); a recognised track's carry neither unless
the crop mode is "all"; the mode is a setting and a command."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import cv2
import numpy as np
import pytest

from edge.agent import EdgeAgent, RunStats
from edge.commands import agent_handlers
from edge.config import ConfigError, parse_config
from edge.recognizer import Recognizer, RecognizerSettings
from shared.embed import DEFAULT_EMBEDDER, embedder_id
from shared.messages import GalleryStudent, SightingEvent, encode_embedding
from shared.quality import Pose, Quality
from tests.test_edge_pipeline import (  # noqa: F401 (enrolled_gallery is a fixture)
    ENROLLED,
    START,
    STRANGER,
    agent_config,
    enrolled_gallery,
    lfw,
    make_gallery,
)

pytestmark = pytest.mark.device_profile

MODEL = embedder_id(DEFAULT_EMBEDDER)
KNOWN, UNKNOWN = 10, 20


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def quality(face_px: float, sharpness: float) -> Quality:
    return Quality(face_px=face_px, score=0.99, sharpness=sharpness, pose=Pose(0, 0, 0), passed=True)


# (face px, sharpness): the second view is the largest and sharpest, so it is the best one
VIEWS = [(60.0, 50.0), (150.0, 120.0), (90.0, 30.0)]


class Crops:
    """Crop encoders that record which view was encoded (only a sent crop is ever encoded)."""

    def __init__(self) -> None:
        self.encoded: list[tuple[int, int]] = []

    def __call__(self, track: int, view: int):
        def encode() -> bytes:
            self.encoded.append((track, view))
            return b"\xff\xd8" + f"{track}-{view}".encode()

        return encode


@pytest.fixture
def scene():
    """A recognizer that saw one enrolled student (track KNOWN) and a stranger (track UNKNOWN) in
    three views each; returns it, the stranger's embeddings, the crop recorder and the mode holder."""
    rng = np.random.default_rng(3)
    student = unit(rng.normal(size=128))
    gallery = make_gallery([GalleryStudent(1, student[None, :])])
    mode = {"crops": "unknown"}
    recognizer = Recognizer(
        lambda: gallery,
        RecognizerSettings(match_threshold=0.6, unknown_threshold=0.3, repeat_s=10.0),
        crops=lambda: mode["crops"],
    )
    crops = Crops()
    stranger = [unit(rng.normal(size=128)) for _ in VIEWS]
    for view, (px, sharp) in enumerate(VIEWS):
        known = unit(student + 0.1 * rng.normal(size=128))
        for track, embedding in ((KNOWN, known), (UNKNOWN, stranger[view])):
            assert recognizer.wants(track, view * 5, px)
            recognizer.add(track, view * 5, embedding, quality(px, sharp), px, thumbnail=crops(track, view))
    return recognizer, stranger, crops, mode


def events_by_track(recognizer: Recognizer, seconds: float) -> dict[int, SightingEvent]:
    events = recognizer.step([KNOWN, UNKNOWN], [], START + timedelta(seconds=seconds))
    return {event.track_id: event for event in events}


def test_an_unknown_track_carries_its_best_views_crop_and_embedding(scene):
    recognizer, stranger, crops, _ = scene
    events = events_by_track(recognizer, 0)
    assert recognizer.decision(KNOWN)[:2] == (True, 1) and recognizer.decision(UNKNOWN)[:2] == (True, None)
    unknown, known = events[UNKNOWN], events[KNOWN]
    assert unknown.thumbnail_jpeg == b"\xff\xd820-1"  # the largest, sharpest view
    assert unknown.embedding == encode_embedding(stranger[1]) and unknown.embedding_model == MODEL
    # A recognised student: no crop (privacy, the default) and never an embedding.
    assert known.student_id == 1 and known.thumbnail_jpeg is None and known.embedding is None
    assert known.embedding_model is None
    # Repeats carry the same best view; the crop was encoded once, and only the unknown one.
    again = events_by_track(recognizer, 10)[UNKNOWN]
    assert (again.thumbnail_jpeg, again.embedding) == (unknown.thumbnail_jpeg, unknown.embedding)
    assert crops.encoded == [(UNKNOWN, 1)]


def test_the_crop_mode_is_read_at_every_event(scene):
    recognizer, _, crops, mode = scene
    mode["crops"] = "all"
    events = events_by_track(recognizer, 0)
    assert events[KNOWN].thumbnail_jpeg == b"\xff\xd810-1" and events[KNOWN].embedding is None
    assert events[UNKNOWN].thumbnail_jpeg == b"\xff\xd820-1"
    mode["crops"] = "off"
    events = events_by_track(recognizer, 10)
    assert events[KNOWN].thumbnail_jpeg is None and events[UNKNOWN].thumbnail_jpeg is None
    assert events[UNKNOWN].embedding is not None  # the embedding is not a picture: it still goes
    assert sorted(crops.encoded) == [(KNOWN, 1), (UNKNOWN, 1)]


def test_a_better_later_view_replaces_the_kept_one():
    recognizer = Recognizer(lambda: None, RecognizerSettings(min_attempts=3))
    crops = Crops()
    rng = np.random.default_rng(5)
    vectors = [unit(rng.normal(size=128)) for _ in range(3)]
    for view, (px, sharp) in enumerate([(60.0, 50.0), (90.0, 30.0), (150.0, 120.0)]):
        crop = crops(UNKNOWN, view)
        recognizer.add(UNKNOWN, view * 5, vectors[view], quality(px, sharp), px, thumbnail=crop)
    recognizer.model = lambda: MODEL
    (event,) = recognizer.step([UNKNOWN], [], START)
    assert event.thumbnail_jpeg == b"\xff\xd820-2" and event.embedding == encode_embedding(vectors[2])
    # Without an embedder id the device cannot say whose vector it is: it sends none.
    recognizer.model = lambda: None
    (later,) = recognizer.step([UNKNOWN], [], START + timedelta(seconds=60))
    assert later.embedding is None and later.thumbnail_jpeg == event.thumbnail_jpeg


@pytest.mark.parametrize(
    "settings,mode",
    [
        ({}, "unknown"),
        ({"crops": "all"}, "all"),
        ({"crops": "off"}, "off"),
        ({"thumbnails": True}, "all"),
        ({"thumbnails": False}, "unknown"),
    ],
)
def test_the_crop_mode_setting(settings, mode):
    assert parse_config({"device_id": "room-1", **settings}).crops == mode


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"crops": "students"}, "crops must be one of unknown, all, off"),
        ({"crops": True}, "crops must be one of"),
        ({"thumbnails": "yes"}, "thumbnails must be true or false"),
        ({"thumbnails": True, "crops": "off"}, "not both"),
    ],
)
def test_a_wrong_crop_mode_is_a_sentence(settings, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({"device_id": "room-1", **settings})


def outbox_rows(path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT track_id, student_id, thumbnail, embedding, embedding_model FROM events"
        ).fetchall()


def test_the_agent_sends_the_strangers_face_and_keeps_students_private(
    tmp_path,
    analyzer,
    enrolled_gallery,  # noqa: F811 (the fixture imported above)
):
    agent = EdgeAgent(agent_config(tmp_path), analyzer=analyzer, mqtt=False)
    assert agent.config.crops == "unknown"
    assert agent.gallery.offer(enrolled_gallery)
    people = [*ENROLLED, STRANGER]
    photos = [lfw(name, 5) for name in people]
    stats = RunStats()
    for index in range(14):
        canvas = np.full((290, 260 * len(photos)), 128, np.uint8)[..., None].repeat(3, axis=2)
        for slot, photo in enumerate(photos):
            x, y = 260 * slot + index % 5, 20 + (index * 3) % 10
            canvas[y : y + 250, x : x + 250] = photo
        agent.process(canvas, START + timedelta(seconds=index / 10), stats)

    rows = outbox_rows(agent.config.outbox_path)
    slot_of = {t.track_id: int((t.box[0] + t.box[2]) / 2 // 260) for t in agent.tracker.tracks.values()}
    known = [r for r in rows if r[1] is not None]
    stranger = [r for r in rows if r[1] is None and people[slot_of.get(r[0], 0)] == STRANGER]
    assert {r[1] for r in known} == {1, 2, 3} and stranger
    assert all(r[2] is None and r[3] is None and r[4] is None for r in known)  # students: nothing
    reference = analyzer.get(lfw(STRANGER, 5), max_faces=1)[0].embedding
    for _, _, crop, embedding, model in stranger:
        image = cv2.imdecode(np.frombuffer(crop, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[0] >= 100  # a JPEG of the aligned face
        vector = np.frombuffer(embedding, "<f4")
        assert model == MODEL and vector.shape == reference.shape
        cosine = float(vector @ reference / np.linalg.norm(vector) / np.linalg.norm(reference))
        assert cosine > 0.8, f"the sent embedding is not the stranger's face ({cosine:.3f})"

    # The set_crops command switches the mode of the running agent; set_thumbnails maps onto it.
    handlers = agent_handlers(agent)
    assert handlers["set_crops"]({"mode": "off"}) == "crops off" and agent.config.crops == "off"
    handlers["set_thumbnails"]({"enabled": True})
    assert agent.config.crops == "all"
    handlers["set_thumbnails"]({"enabled": False})
    assert agent.config.crops == "unknown"
