"""The verdict on one enrolment photo: how many people it shows, and whether the one face passes.

The verdict follows the face core's strict quality gate (`QualityThresholds.strict()`), after deciding
how many people the photo shows. Detectors also find faces nobody would call the subject: a poster in
the background, a distant passer-by. A detected face counts as a person in the photo when it is at
least half the size of the largest face; among several such faces, those the detector is unsure of
(below the strict detector score) are not counted either, as long as a confident one remains. Then:
0 faces: "no face found"; 2 or more: "N faces found: use a photo of one person"; exactly one: it must
pass the strict gate (size, detector score, sharpness, pose), else the gate's reasons are the reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from server.faces.images import face_thumbnail, shrink
from server.i18n import N_
from server.uploads.policy import over_limit_english
from shared.analysis import AnalyzedFace, FaceAnalyzer
from shared.media import MediaError, ShapeLimits, decode_image
from shared.quality import QualityThresholds, assess

STRICT = QualityThresholds.strict()
ALREADY_ENROLLED = N_("this photo is already enrolled for this student")
BACKGROUND_FACE_RATIO = 0.5
"""A face smaller than this fraction of the largest face is background, not a second person."""


@dataclass
class PhotoVerdict:
    """What the quality gate made of one photo. Accepted: `embedding` (and maybe `thumbnail`) are set."""

    filename: str
    sha256: str
    accepted: bool
    reason: str | None = None
    faces: int = 0
    quality: dict[str, Any] | None = None
    embedding: np.ndarray | None = field(default=None, repr=False)
    thumbnail: bytes | None = field(default=None, repr=False)

    @classmethod
    def already_enrolled(cls, filename: str, sha256: str) -> PhotoVerdict:
        return cls(filename, sha256, False, ALREADY_ENROLLED)

    @classmethod
    def rejected(cls, filename: str, data: bytes, reason: str, **kwargs: Any) -> PhotoVerdict:
        return cls(filename, hashlib.sha256(data).hexdigest(), False, reason, **kwargs)


def analyze_photo(
    analyzer: FaceAnalyzer,
    data: bytes,
    filename: str,
    *,
    max_bytes: int,
    max_side: int = 1600,
    thumbnail_px: int | None = 112,
    shape: ShapeLimits | None = None,
    size: int | None = None,
) -> PhotoVerdict:
    """Decode (safely), find the faces, apply the strict gate, embed the one accepted face.

    `size`: the file's whole size when `data` was cut short at the cap (the refusal names it)."""
    size = len(data) if size is None else size
    if size > max_bytes:
        return PhotoVerdict.rejected(
            filename, data, f"the file is {over_limit_english(size, max_bytes)} for a photo"
        )
    try:
        image = decode_image(data, name=filename, shape=shape)
    except MediaError as exc:
        return PhotoVerdict.rejected(filename, data, str(exc).removeprefix(f"{filename}: "))
    image = shrink(image, max_side)
    faces = analyzer.get(image, embed=False)
    people = count_people(faces)
    if not people:
        return PhotoVerdict.rejected(filename, data, N_("no face found"), faces=0)
    if len(people) > 1:
        return PhotoVerdict.rejected(
            filename, data, f"{len(people)} faces found: use a photo of one person", faces=len(people)
        )
    subject = people[0]
    quality = assess(subject.face, subject.chip, STRICT)
    figures = {
        "face_px": quality.face_px,
        "score": quality.score,
        "sharpness": quality.sharpness,
        "pose": {"yaw": quality.pose.yaw, "pitch": quality.pose.pitch, "roll": quality.pose.roll},
        "background_faces": len(faces) - 1,
        "image_px": [int(image.shape[1]), int(image.shape[0])],
    }
    if not quality.passed:
        return PhotoVerdict.rejected(filename, data, "; ".join(quality.reasons), faces=1, quality=figures)
    embedding = analyzer.embed(image, [subject.face], subject.chip[None])[0].astype(np.float32)
    return PhotoVerdict(
        filename=filename,
        sha256=hashlib.sha256(data).hexdigest(),
        accepted=True,
        faces=1,
        quality=figures,
        embedding=embedding,
        thumbnail=face_thumbnail(subject.chip, thumbnail_px) if thumbnail_px else None,
    )


def count_people(faces: list[AnalyzedFace]) -> list[AnalyzedFace]:
    """The faces that are people in the photo (see the module docstring), largest first."""
    if not faces:
        return []
    ranked = sorted(faces, key=lambda f: -f.face.size)
    largest = ranked[0].face.size
    people = [f for f in ranked if f.face.size >= BACKGROUND_FACE_RATIO * largest]
    confident = [f for f in people if f.face.score >= STRICT.min_score]
    return confident if len(people) > 1 and confident else people
