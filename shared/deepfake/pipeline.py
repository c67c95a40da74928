"""Score a video or an image: sample frames, find faces, classify each face, aggregate.

    pipeline = DeepfakePipeline.from_registry()          # MTCNN + models/deepfake_sbi.onnx
    result = pipeline.score("clip.mp4")                  # CheckResult; result.to_dict() is JSON
    result.probability, result.verdict, result.timeline, result.top_faces

Steps and the decisions behind them (docs/deepfake.md has the user-facing version):

1. Decode (shared.deepfake.video): `frames` (default 32) frames evenly spread in time; an image
   is one frame.
2. Detect faces with MTCNN on a copy whose longer side is at most `detect_max_side` (960 px):
   a face too small to find there is too small for the classifier anyway, and detection on full
   1080p costs 4x more. Boxes are scaled back and crops cut from the full-resolution frame, where
   blending artefacts live. At most `max_faces` faces per frame, largest first.
3. Crop each face with the classifier's own margin and size (`face_crop`, the same function
   training used) and score all crops in batches.
4. Frame score = the maximum over its faces: a video is fake if any face in it is (DFDC rule; a
   swapped face next to a real one must not be averaged away).
5. Video score = the aggregation rule the model's validation chose (its metadata `aggregation`,
   shared/deepfake/aggregation.py; "confident" when absent): the DFDC winner's confident mean
   (if more than 40% of the frames score above 0.8, the mean of those; else if more than 90%
   score below 0.2, the mean of those; else the mean of all), the plain mean, or the maximum.
   An image is its one score.
6. Verdict band from the probability, with an honest note: the best detector of the public
   Deepfake Detection Challenge was right on about 65% of videos it had never seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from shared.deepfake.aggregation import DESCRIPTIONS, aggregate, confident_mean
from shared.deepfake.classifier import FaceClassifier, OnnxFaceClassifier
from shared.deepfake.crops import face_crop
from shared.deepfake.video import Frame, VideoInfo, load_media
from shared.detect import MTCNN, Face
from shared.model_registry import ModelRegistry

Progress = Callable[[int, int, str], None]

VERDICTS = {
    "likely_real": "Likely real",
    "uncertain": "Uncertain",
    "likely_fake": "Likely fake",
    "no_face": "No face found",
}
NOTE = (
    "This is a probability from a model, not a proof. The best detector of the public Deepfake "
    "Detection Challenge (2020) was right on only about 65% of videos it had not seen. This model, "
    "trained on a CPU with self-blended real faces, ranks the team's 27 labelled DFDC samples with "
    "an AUC of 0.68 (0.5 is chance) and misses many real face swaps; new manipulation methods, heavy "
    "compression, small faces (under about 60 px) or poor light can fool it either way. Weigh it "
    "with other evidence: who published it, and where."
)
NO_FACE_NOTE = (
    "No face was found in the sampled frames, so there is nothing to score: this check only "
    "judges faces. Very small faces, and faces strongly turned away or covered, are not detected."
)


@dataclass(frozen=True)
class PipelineConfig:
    """Knobs of the pipeline; defaults are what the server and the CLI use."""

    frames: int = 32
    detect_max_side: int = 960
    min_face_size: int = 32  # pixels at detection scale
    max_faces: int = 4  # per frame, largest first
    top_faces: int = 4  # crops kept to show which faces drove the score
    confident_high: float = 0.8
    confident_low: float = 0.2
    fake_above: float = 0.7  # verdict bands
    real_below: float = 0.3


@dataclass
class ScoredFace:
    """One face of one sampled frame, with its score and the crop the classifier saw."""

    frame: int  # index of the frame in the stream
    time_s: float
    box: tuple[float, float, float, float]
    detector_score: float
    score: float
    crop: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "time_s": self.time_s,
            "box": [round(float(v), 1) for v in self.box],
            "detector_score": round(self.detector_score, 4),
            "score": round(self.score, 6),
        }


@dataclass
class CheckResult:
    """Everything a user sees about one file; `to_dict()` is the JSON of the CLI and the API."""

    kind: str
    media: VideoInfo
    verdict: str
    probability: float | None
    timeline: list[dict[str, Any]]
    top_faces: list[ScoredFace]
    faces_scored: int
    model: dict[str, Any]
    elapsed_s: float = 0.0
    aggregation: str = "confident"

    @property
    def frames_sampled(self) -> int:
        return len(self.timeline)

    @property
    def frames_with_faces(self) -> int:
        return sum(1 for point in self.timeline if point["score"] is not None)

    @property
    def note(self) -> str:
        if self.verdict == "no_face":
            return NO_FACE_NOTE
        return NOTE

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "verdict": self.verdict,
            "verdict_label": VERDICTS[self.verdict],
            "probability": None if self.probability is None else round(self.probability, 6),
            "note": self.note,
            "aggregation": DESCRIPTIONS[self.aggregation],
            "frames_sampled": self.frames_sampled,
            "frames_with_faces": self.frames_with_faces,
            "faces_scored": self.faces_scored,
            "media": self.media.to_dict(),
            "timeline": self.timeline,
            "top_faces": [face.to_dict() for face in self.top_faces],
            "model": self.model,
            "elapsed_s": round(self.elapsed_s, 3),
        }


__all__ = ["CheckResult", "DeepfakePipeline", "PipelineConfig", "ScoredFace", "confident_mean", "verdict_for"]


def verdict_for(probability: float | None, config: PipelineConfig) -> str:
    if probability is None:
        return "no_face"
    if probability >= config.fake_above:
        return "likely_fake"
    if probability < config.real_below:
        return "likely_real"
    return "uncertain"


class DeepfakePipeline:
    """Detector + classifier + aggregation. Thread-safe for scoring (ONNX sessions are)."""

    def __init__(self, detector: MTCNN, classifier: FaceClassifier, config: PipelineConfig | None = None):
        self.detector = detector
        self.classifier = classifier
        self.config = config or PipelineConfig()

    @classmethod
    def from_registry(
        cls,
        registry: ModelRegistry | None = None,
        config: PipelineConfig | None = None,
        classifier: FaceClassifier | None = None,
    ) -> DeepfakePipeline:
        registry = registry or ModelRegistry()
        config = config or PipelineConfig()
        detector = MTCNN.from_registry(registry, min_face_size=config.min_face_size)
        return cls(detector, classifier or OnnxFaceClassifier.from_registry(registry), config)

    def score(self, path: Path | str, progress: Progress | None = None) -> CheckResult:
        """Score one file; MediaError for files that are not usable media."""
        started = time.perf_counter()
        total = self.config.frames + 1

        def decoded(done: int, count: int) -> None:
            if progress is not None:
                progress(0, total, f"decoding: {done}/{count} frames sampled")

        if progress is not None:
            progress(0, total, "decoding")
        kind, info, frames = load_media(path, self.config.frames, decoded)
        total = len(frames) + 1
        if progress is not None:
            progress(1, total, f"{len(frames)} frame(s) decoded; finding faces")
        result = self.score_frames(kind, info, frames, progress, offset=1, total=total)
        result.elapsed_s = time.perf_counter() - started
        return result

    def score_frames(
        self,
        kind: str,
        info: VideoInfo,
        frames: list[Frame],
        progress: Progress | None = None,
        offset: int = 0,
        total: int | None = None,
    ) -> CheckResult:
        total = total or len(frames)
        size, margin = self.classifier.input_size, self.classifier.margin
        per_frame: list[tuple[Frame, list[Face]]] = []
        crops: list[np.ndarray] = []
        for number, frame in enumerate(frames, start=1):
            faces = self.detect(frame.image)
            per_frame.append((frame, faces))
            crops.extend(face_crop(frame.image, tuple(face.box), margin, size) for face in faces)
            if progress is not None:
                progress(offset + number, total, f"frame {number}/{len(frames)}: {len(faces)} face(s)")
        scores = (
            np.asarray(self.classifier.predict(np.stack(crops)), dtype=np.float64)
            if crops
            else np.zeros(0, dtype=np.float64)
        )
        if not np.all(np.isfinite(scores)) or np.any((scores < 0) | (scores > 1)):
            raise ValueError(f"the classifier {self.classifier.name} returned scores outside [0, 1]")
        timeline, scored, cursor = [], [], 0
        for frame, faces in per_frame:
            frame_scores = scores[cursor : cursor + len(faces)]
            for k, face in enumerate(faces):
                scored.append(
                    ScoredFace(
                        frame.index,
                        frame.time_s,
                        tuple(float(v) for v in face.box),  # type: ignore[arg-type]
                        face.score,
                        float(frame_scores[k]),
                        crops[cursor + k],
                    )
                )
            cursor += len(faces)
            timeline.append(
                {
                    "frame": frame.index,
                    "time_s": frame.time_s,
                    "faces": len(faces),
                    "score": round(float(frame_scores.max()), 6) if len(faces) else None,
                }
            )
        frame_scores = np.array([p["score"] for p in timeline if p["score"] is not None], dtype=np.float64)
        rule = getattr(self.classifier, "aggregation", "confident")
        probability = (
            aggregate(frame_scores, rule, self.config.confident_high, self.config.confident_low)
            if frame_scores.size
            else None
        )
        top = sorted(scored, key=lambda face: (-face.score, face.frame))[: self.config.top_faces]
        describe = getattr(self.classifier, "describe", None)
        model = (
            describe()
            if callable(describe)
            else {"name": self.classifier.name, "version": self.classifier.version}
        )
        return CheckResult(
            kind=kind,
            media=info,
            verdict=verdict_for(probability, self.config),
            probability=probability,
            timeline=timeline,
            top_faces=top,
            faces_scored=len(scored),
            model=model,
            aggregation=rule,
        )

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces of a full-resolution RGB frame, found on a downscaled copy, largest first."""
        height, width = image.shape[:2]
        scale = min(1.0, self.config.detect_max_side / max(height, width))
        small = (
            image
            if scale == 1.0
            else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        )
        faces = self.detector.detect(small)
        if scale != 1.0:
            faces = [
                Face(box=face.box / scale, score=face.score, landmarks=face.landmarks / scale)
                for face in faces
            ]
        faces = [face for face in faces if face.width > 1 and face.height > 1]
        return sorted(faces, key=lambda face: -face.size)[: self.config.max_faces]
