"""Image sizes for face analysis: pictures scaled down before detection, and the small JPEG of an
aligned face crop that enrolment and review keep instead of the photo (privacy: a few kB, no scene)."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image


def shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    """Scale down so the longer side is at most `max_side` (uploaded faces stay far above the minimum)."""
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def face_thumbnail(chip: np.ndarray, size: int) -> bytes:
    """A small JPEG of the aligned face crop (what the embedding was computed from)."""
    buffer = io.BytesIO()
    Image.fromarray(chip).resize((size, size), Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()
