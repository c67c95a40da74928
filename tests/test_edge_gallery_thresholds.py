"""A course's calibrated thresholds on the device (issue 15, X4): the Gallery message carries an
optional `unknown_threshold`, and the recognizer applies the gallery's thresholds, also when a new
version brings new thresholds for the same embeddings (same sha256).

The vectors are built with a chosen cosine to the enrolled one: what is tested is which threshold
decides, not recognition itself (tests/server/test_server_course_calibration.py uses real faces)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import numpy as np
import pytest

from edge.recognizer import Recognizer, RecognizerSettings
from shared.embed import DEFAULT_EMBEDDER, embedder_id, require_embedder
from shared.messages import Gallery, GalleryStudent, MessageError, gallery_digest
from shared.quality import Pose, Quality

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
GOOD = Quality(face_px=120, score=0.99, sharpness=200.0, pose=Pose(0.0, 0.0, 0.0), passed=True)
MODEL = embedder_id(DEFAULT_EMBEDDER)
GAP = float(require_embedder(MODEL)["unknown_gap"])


def axis(i: int) -> np.ndarray:
    vector = np.zeros(128, np.float32)
    vector[i] = 1.0
    return vector


def gallery(threshold: float, unknown: float | None = None, version: int = 1) -> Gallery:
    students = (GalleryStudent(1, axis(0)[None]), GalleryStudent(2, axis(1)[None]))
    draft = Gallery("cam-1", 7, version, "", MODEL, "cosine", threshold, students, unknown)
    return dataclasses.replace(draft, sha256=gallery_digest(draft))


def face(cosine: float) -> np.ndarray:
    """A face with similarity `cosine` to student 1 and 0 to student 2."""
    return (cosine * axis(0) + np.sqrt(1 - cosine**2) * axis(2)).astype(np.float32)


def decide(
    current: list[Gallery], cosine: float, track: int = 1, attempts: int = 1
) -> tuple[bool, int | None]:
    recognizer = Recognizer(lambda: current[0], RecognizerSettings(min_attempts=1, max_attempts=8))
    for frame in range(attempts):
        recognizer.add(track, frame * 5, face(cosine), GOOD, 120.0)
        recognizer.step([track], [], T0)
    decided, student, _ = recognizer.decision(track)
    return decided, student


def test_the_message_carries_an_optional_unknown_threshold():
    plain = gallery(0.43)
    assert b"unknown_threshold" not in plain.encode()  # older payloads stay as they were
    assert Gallery.decode(plain.encode()).unknown_threshold is None
    calibrated = gallery(0.40, 0.31, version=2)
    decoded = Gallery.decode(calibrated.encode(), expected_device="cam-1")
    assert (decoded.threshold, decoded.unknown_threshold) == (0.40, 0.31)
    assert decoded.sha256 == plain.sha256 == gallery_digest(decoded)  # thresholds are not in the digest
    broken = calibrated.encode().replace(b'"unknown_threshold":0.31', b'"unknown_threshold":1e400')
    with pytest.raises(MessageError):
        Gallery.decode(broken)


def test_the_recognizer_decides_with_the_gallery_unknown_threshold():
    # 0.30: below the default unknown threshold (0.43 - gap), above a calibrated one of 0.25.
    assert 0.43 - GAP > 0.30
    assert decide([gallery(0.43)], 0.30) == (True, None)  # unknown at once
    assert decide([gallery(0.43, 0.25)], 0.30) == (False, None)  # undecided: keeps looking
    # Never above the match threshold: an unknown threshold of 0.9 still lets a 0.5 match through.
    assert decide([gallery(0.43, 0.9)], 0.50) == (True, 1)


def test_a_new_version_with_new_thresholds_is_applied_although_the_sha256_is_the_same():
    current = [gallery(0.43)]
    recognizer = Recognizer(lambda: current[0], RecognizerSettings(min_attempts=1, max_attempts=8))
    recognizer.add(1, 0, face(0.40), GOOD, 120.0)
    recognizer.step([1], [], T0)
    assert recognizer.decision(1)[:2] == (False, None)  # 0.40: between 0.33 and 0.43
    current[0] = gallery(0.38, 0.30, version=2)  # the course's accepted calibration
    assert current[0].sha256 == gallery(0.43).sha256
    recognizer.add(2, 0, face(0.40), GOOD, 120.0)
    recognizer.step([2], [], T0)
    assert recognizer.decision(2)[:2] == (True, 1)
