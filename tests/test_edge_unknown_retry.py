"""An unknown track is looked at again while the tracker follows it (edge/recognizer.py, `retry_every`).

Found on the simulated class (docs/simulator.md, "Students the edge never recognised"): a student
whose first views scored just under the match threshold stayed unknown for the whole lecture,
although later views of the same track matched. Real SFace embeddings of LFW photos: the first
views of the student are out of focus (a heavy blur, as when the camera hunts for focus), the later
ones sharp; a stranger seen as long, in sharp and blurred views, must stay unknown.
"""

from __future__ import annotations

from datetime import timedelta

import cv2
import numpy as np
import pytest

from edge.recognizer import Recognizer, RecognizerSettings
from shared.quality import assess
from tests.test_edge_pipeline import (  # noqa: F401 (enrolled_gallery is a fixture)
    ENROLLED,
    START,
    STRANGER,
    enrolled_gallery,
    lfw,
)

pytestmark = pytest.mark.device_profile

STUDENT = "Tony_Blair"  # student id 3 in the enrolled gallery (photos 1-3); views use photos 4-10
STUDENT_ID = ENROLLED.index(STUDENT) + 1
FRAME_S = 10.0


def views(analyzer, name: str, blur: float) -> list[tuple[np.ndarray, object, float]]:
    """(embedding, quality, size x score) of photos 4-10 of `name`, blurred with sigma `blur` (0: sharp)."""
    out = []
    for number in range(4, 11):
        image = lfw(name, number)
        face = analyzer.get(image, embed=False, max_faces=1)[0].face  # where the face is, found sharp
        if blur:
            image = cv2.GaussianBlur(image, (0, 0), blur)
        chips = analyzer.align(image, [face])
        embedding = analyzer.embed(image, [face], chips)[0]
        quality = assess(face, chips[0], analyzer.thresholds)
        out.append((embedding, quality, min(face.width, face.height) * face.score))
    return out


def play(gallery, seen: list, retry_every: int) -> tuple[Recognizer, list]:
    """One track followed over `len(seen)` frames, embedded whenever the recognizer asks."""
    recognizer = Recognizer(
        lambda: gallery, RecognizerSettings(embed_every=1, repeat_s=30.0, retry_every=retry_every)
    )
    events = []
    for frame, (embedding, quality, size) in enumerate(seen):
        if recognizer.wants(1, frame, size):
            recognizer.add(1, frame, embedding, quality, size)
        events += recognizer.step([1], [], START + timedelta(seconds=frame * FRAME_S))
    return recognizer, events


@pytest.fixture(scope="module")
def student_track(analyzer):
    """8 blurred views (the recognizer decides after its 8 attempts), then sharp ones."""
    blurred = views(analyzer, STUDENT, blur=7.0)
    return blurred + blurred[:1] + views(analyzer, STUDENT, blur=0.0) * 2


def test_a_student_first_seen_out_of_focus_is_recognised_later(
    analyzer,
    enrolled_gallery,  # noqa: F811 (the fixture imported above)
    student_track,
):
    recognizer, events = play(enrolled_gallery, student_track, retry_every=1)
    first = [e.student_id for e in events[:1]]
    assert first == [None], "the blurred views alone must leave the track unknown"
    assert recognizer.decision(1)[:2] == (True, STUDENT_ID)
    unknown_times = {e.captured_at for e in events if e.student_id is None}
    named = [e for e in events if e.student_id == STUDENT_ID]
    assert unknown_times and named
    # Every moment the track was reported unknown is reported again under the student, so the
    # student's presence starts with the track; the re-sent events carry no face (a student's).
    assert unknown_times <= {e.captured_at for e in named}
    assert all(e.embedding is None and e.thumbnail_jpeg is None for e in named)
    assert {e.student_id for e in events} == {None, STUDENT_ID}  # no one else was ever named


def test_without_retries_the_track_stays_unknown(
    analyzer,
    enrolled_gallery,  # noqa: F811 (the fixture imported above)
    student_track,
):
    recognizer, events = play(enrolled_gallery, student_track, retry_every=0)
    assert recognizer.decision(1)[:2] == (True, None)
    assert events and all(e.student_id is None for e in events)


def test_a_stranger_seen_all_lecture_stays_unknown(
    analyzer,
    enrolled_gallery,  # noqa: F811 (the fixture imported above)
):
    seen = (views(analyzer, STRANGER, blur=0.0) + views(analyzer, STRANGER, blur=3.0)) * 4  # 56 frames
    recognizer, events = play(enrolled_gallery, seen, retry_every=1)
    assert recognizer.embeddings_used > 40  # looked at again and again...
    assert len(recognizer.tracks[1].embeddings) == RecognizerSettings().max_views  # (the latest views)
    assert recognizer.decision(1)[:2] == (True, None)  # ...and never taken for a student
    assert events and all(e.student_id is None for e in events)
    assert all(e.embedding is not None for e in events)  # the stranger's face still goes to review
