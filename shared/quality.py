"""Is this face good enough to enrol or to trust? One verdict with the reasons.

Four cheap signals, all from what detection already gives us:
- size: the shorter side of the detector box, in pixels (small faces embed poorly);
- detector score: MTCNN's O-Net face probability;
- blur: variance of the Laplacian (Pech-Pacheco et al. 2000; the seed project's measure),
  computed on the aligned chip so that it does not depend on how large the face is;
- pose: yaw, pitch and roll estimated from the five landmarks (frontal faces embed best).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from shared.align import DLIB_CHIP_TEMPLATE

if TYPE_CHECKING:
    from shared.detect import Face


@dataclass(frozen=True)
class QualityThresholds:
    """Limits for a usable face. Defaults suit recognition; enrolment uses `strict()`."""

    min_face_px: float = 40.0
    min_score: float = 0.90
    min_sharpness: float = 40.0
    max_yaw_deg: float = 45.0
    max_pitch_deg: float = 35.0
    max_roll_deg: float = 35.0

    @classmethod
    def strict(cls) -> QualityThresholds:
        """Enrolment photos become everyone's reference: ask for more."""
        return cls(min_face_px=80.0, min_score=0.95, min_sharpness=60.0, max_yaw_deg=30.0, max_pitch_deg=25.0)


@dataclass
class Pose:
    yaw: float
    pitch: float
    roll: float


@dataclass
class Quality:
    face_px: float
    score: float
    sharpness: float
    pose: Pose
    passed: bool
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def laplacian_variance(image: np.ndarray) -> float:
    """Variance of the Laplacian of the grayscale image: low means blurred."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def _pose_ratios(points: np.ndarray) -> tuple[float, float, float]:
    """(roll degrees, yaw ratio, pitch ratio) of 5 landmarks: nose offset between eyes, nose height."""
    left_eye, right_eye = points[0], points[1]
    dx, dy = right_eye - left_eye
    roll = math.degrees(math.atan2(dy, dx))
    cos_r, sin_r = math.cos(-math.radians(roll)), math.sin(-math.radians(roll))
    rotation = np.array([[cos_r, -sin_r], [sin_r, cos_r]])
    p = (points - (left_eye + right_eye) / 2) @ rotation.T
    eye_span = max(p[1, 0] - p[0, 0], 1e-6)
    mouth_y = max((p[3, 1] + p[4, 1]) / 2, 1e-6)
    return roll, float(p[2, 0] / (eye_span / 2)), float(p[2, 1] / mouth_y)


_, _FRONTAL_YAW_RATIO, _FRONTAL_PITCH_RATIO = _pose_ratios(DLIB_CHIP_TEMPLATE.astype(np.float64))


def estimate_pose(landmarks: np.ndarray) -> Pose:
    """Approximate head pose in degrees from 5 points (eyes, nose, mouth corners).

    Roll is the eye-line angle. After undoing roll, yaw follows from where the nose sits
    between the eyes and pitch from where it sits between the eye line and the mouth line,
    both relative to the mean frontal face (the alignment template). These are geometric
    approximations, good to ~10 degrees, which is all a quality gate needs.
    """
    points = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    roll, yaw_ratio, pitch_ratio = _pose_ratios(points)
    yaw = math.degrees(math.asin(np.clip(yaw_ratio - _FRONTAL_YAW_RATIO, -1.0, 1.0)))
    pitch_scale = 1.0 - _FRONTAL_PITCH_RATIO if pitch_ratio > _FRONTAL_PITCH_RATIO else _FRONTAL_PITCH_RATIO
    pitch = math.degrees(math.asin(np.clip((pitch_ratio - _FRONTAL_PITCH_RATIO) / pitch_scale, -1.0, 1.0)))
    return Pose(yaw=round(yaw, 1), pitch=round(pitch, 1), roll=round(roll, 1))


def assess(face: Face, chip: np.ndarray, thresholds: QualityThresholds | None = None) -> Quality:
    """Judge one detected face; `chip` is its aligned crop (sharpness is measured there)."""
    limits = thresholds or QualityThresholds()
    face_px = float(min(face.box[2] - face.box[0], face.box[3] - face.box[1]))
    sharpness = laplacian_variance(chip)
    pose = estimate_pose(face.landmarks)
    reasons: list[str] = []
    if face_px < limits.min_face_px:
        reasons.append(f"face too small ({face_px:.0f} px < {limits.min_face_px:.0f} px)")
    if face.score < limits.min_score:
        reasons.append(f"low detector confidence ({face.score:.2f} < {limits.min_score:.2f})")
    if sharpness < limits.min_sharpness:
        reasons.append(f"blurred (sharpness {sharpness:.0f} < {limits.min_sharpness:.0f})")
    if abs(pose.yaw) > limits.max_yaw_deg:
        reasons.append(f"face turned sideways (yaw {pose.yaw:.0f} degrees)")
    if abs(pose.pitch) > limits.max_pitch_deg:
        reasons.append(f"face tilted up or down (pitch {pose.pitch:.0f} degrees)")
    if abs(pose.roll) > limits.max_roll_deg:
        reasons.append(f"head tilted (roll {pose.roll:.0f} degrees)")
    return Quality(
        face_px=round(face_px, 1),
        score=round(float(face.score), 4),
        sharpness=round(sharpness, 1),
        pose=pose,
        passed=not reasons,
        reasons=reasons,
    )


def image_blur(image: np.ndarray, long_side: int = 1024) -> float:
    """Whole-photo sharpness at a fixed working size (the album's 'blurred photo' flag)."""
    height, width = image.shape[:2]
    scale = long_side / max(height, width)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))  # never a 0-pixel side
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return laplacian_variance(image)
