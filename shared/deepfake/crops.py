"""The one face crop used both to train the deepfake classifier and to score media.

Blending artefacts live at the face boundary, so the crop keeps a margin of background around
the detector box; training and inference must use the same margin and size (both are stored
in the ONNX metadata), which is why there is exactly one function for it.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def crop_square(box: Sequence[float], margin: float) -> tuple[int, int, int]:
    """Integer (x0, y0, side) of the square around `box` enlarged by `margin` on each side.

    The square is centred on the box and its side is the longer box side times (1 + 2*margin),
    so a margin of 0.25 adds a quarter of the face on every side.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x2 > x1 and y2 > y1):
        raise ValueError(f"face box must have positive width and height, got {tuple(box)}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    side = max(x2 - x1, y2 - y1) * (1.0 + 2.0 * margin)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    side_i = max(round(side), 1)
    x0 = round(cx - side_i / 2.0)
    y0 = round(cy - side_i / 2.0)
    return x0, y0, side_i


def to_crop_coords(points: np.ndarray, box: Sequence[float], margin: float, size: int) -> np.ndarray:
    """Map image (x, y) points into the `face_crop(..., box, margin, size)` output frame."""
    x0, y0, side = crop_square(box, margin)
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    scale = size / side
    # cv2.resize maps pixel centres: dst = (src + 0.5) * scale - 0.5.
    return ((pts - np.array([x0, y0], dtype=np.float32) + 0.5) * scale - 0.5).astype(np.float32)


def face_crop(
    image_rgb: np.ndarray,
    box: tuple[float, float, float, float],
    margin: float,
    size: int,
) -> np.ndarray:
    """Square `size` x `size` uint8 RGB crop around `box` (x1, y1, x2, y2) enlarged by `margin`.

    Parts of the square outside the image are zero-padded (not clamped), so a face at the edge
    keeps its scale and position in the crop. Shrinking uses INTER_AREA, enlarging INTER_LINEAR.
    """
    image = np.asarray(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {image.shape}")
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    height, width = image.shape[:2]
    x0, y0, side = crop_square(box, margin)
    square = np.zeros((side, side, 3), dtype=np.uint8)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + side, width), min(y0 + side, height)
    if sx1 > sx0 and sy1 > sy0:
        square[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    if side == size:
        return square
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interpolation)


def to_input(crops: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """uint8 RGB crops [N, S, S, 3] -> the classifier's float32 input [N, 3, S, S].

    x = (crop / 255 - mean) / std per channel; mean and std come from the ONNX metadata.
    """
    batch = np.asarray(crops, dtype=np.float32)
    if batch.ndim == 3:
        batch = batch[None]
    m = np.asarray(mean, dtype=np.float32).reshape(1, 1, 1, 3)
    s = np.asarray(std, dtype=np.float32).reshape(1, 1, 1, 3)
    return np.ascontiguousarray(((batch / 255.0 - m) / s).transpose(0, 3, 1, 2), dtype=np.float32)
