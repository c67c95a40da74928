"""The face detectors Visage can run, by name: one place that knows their names, models and classes.

Both take an HxWx3 uint8 RGB image and return `shared.detect.Face`s (box, score, five landmarks in
MTCNN's order), so alignment, quality and embedding do not depend on which one found the face.
MTCNN stays the default; YuNet is the optional second one (docs/face-core.md, "Detectors").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from shared.detect import Face
    from shared.model_registry import ModelRegistry
    from shared.quality import QualityThresholds

DETECTORS: tuple[str, ...] = ("mtcnn", "yunet")
DEFAULT_DETECTOR = "mtcnn"
# The registry models each detector opens.
DETECTOR_MODELS: dict[str, tuple[str, ...]] = {
    "mtcnn": ("mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet"),
    "yunet": ("yunet",),
}

# The score each detector's faces need to pass the quality check (shared.quality's min_score, whose
# default is MTCNN's 0.90). YuNet scores run lower (sqrt of class x objectness): on 552 faces both
# found in the benchmark photos and class frames, its 0.70 passes the same share (98 %) as MTCNN's 0.90.
QUALITY_MIN_SCORE: dict[str, float] = {"mtcnn": 0.90, "yunet": 0.70}


class Detector(Protocol):
    """What FaceAnalyzer needs from a detector."""

    min_face_size: int

    def detect(self, image_rgb: np.ndarray) -> list[Face]: ...


def require_detector(name: str) -> str:
    """The name if it is a known detector; ValueError naming the valid ones otherwise."""
    if name not in DETECTORS:
        raise ValueError(f"Unknown detector '{name}': choose one of {', '.join(DETECTORS)}.")
    return name


def load_detector(registry: ModelRegistry, name: str = DEFAULT_DETECTOR, **kwargs: Any) -> Detector:
    """The detector called `name`, its models loaded from `registry` (sha256-checked)."""
    require_detector(name)
    if name == "yunet":
        from shared.yunet import YuNet

        return YuNet.from_registry(registry, **kwargs)
    from shared.detect import MTCNN

    return MTCNN.from_registry(registry, **kwargs)


def quality_thresholds(detector: str = DEFAULT_DETECTOR, **kwargs: Any) -> QualityThresholds:
    """Quality thresholds (`kwargs` as QualityThresholds takes them) with the detector's min_score."""
    from shared.quality import QualityThresholds

    return QualityThresholds(**{"min_score": QUALITY_MIN_SCORE[require_detector(detector)], **kwargs})
