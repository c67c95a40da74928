"""Self-Blended Images (Shiohara & Yamasaki, CVPR 2022): training fakes made from real faces.

A face is blended with a slightly altered copy of itself. The result carries the traces every
face swap leaves (a blending boundary, colour and sharpness mismatch, slight misalignment)
without the identity change, so a classifier trained on (real, self-blended) pairs learns the
traces rather than one generator's fingerprint, and it needs real faces only.

Landmarks: with the paper's **68 points** (dlib, extracted at training time and stored with each
face) the mask is the convex hull of those points, so it follows the real jaw line and brows.
Given MTCNN's five points only (a fallback), it is the convex hull of a *face outline
approximated from the five points*: an affine face frame (eye-to-eye and eye-to-mouth vectors)
carries a fixed outline (eyebrows, cheeks, jaw, chin) onto the face, clipped to the detector box.
Either mask is then deformed (elastic warp, erode/dilate, blur) as the paper does. See
docs/deepfake.md. numpy + OpenCV only, so it runs wherever the scoring code runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# The outline in the face frame: u along (right eye - left eye) from the eye midpoint, v along
# (mouth midpoint - eye midpoint). Eyes are at (+-0.5, 0), mouth corners near (+-0.4, 1).
# Brow line above the eyes, cheeks at eye width x ~1.9, jaw curving to the chin at v ~ 1.5.
_OUTLINE_UV = np.array(
    [
        [-0.95, -0.35],
        [-0.55, -0.55],
        [0.0, -0.58],
        [0.55, -0.55],
        [0.95, -0.35],
        [1.0, 0.2],
        [0.95, 0.7],
        [0.8, 1.1],
        [0.55, 1.4],
        [0.0, 1.55],
        [-0.55, 1.4],
        [-0.8, 1.1],
        [-0.95, 0.7],
        [-1.0, 0.2],
    ],
    dtype=np.float32,
)


@dataclass(frozen=True)
class SBIConfig:
    """Ranges of the random choices (defaults follow the paper's spirit, scaled to small crops)."""

    hull_scale: tuple[float, float] = (0.85, 1.1)  # random shrink/grow of the outline
    shift: float = 0.03  # source/mask translation, fraction of the crop side
    scale: tuple[float, float] = (0.95, 1.05)  # source/mask scale
    elastic_alpha: float = 0.04  # elastic displacement, fraction of the crop side
    elastic_sigma: float = 0.08  # smoothness of the displacement field, fraction of side
    blend_ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
    hue_shift: float = 8.0  # OpenCV hue units (0..180)
    sat_shift: float = 20.0
    val_shift: float = 20.0
    contrast: tuple[float, float] = (0.85, 1.15)
    jpeg_quality: tuple[int, int] = (50, 95)


def face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(origin, u axis, v axis) of the affine face frame spanned by MTCNN's five points."""
    pts = np.asarray(landmarks, dtype=np.float32).reshape(5, 2)
    eyes = (pts[0] + pts[1]) / 2.0
    mouth = (pts[3] + pts[4]) / 2.0
    return eyes, pts[1] - pts[0], mouth - eyes


def face_outline(landmarks: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """The approximate face outline (14 x 2 points, image coordinates) from five landmarks."""
    origin, u, v = face_frame(landmarks)
    uv = _OUTLINE_UV.copy()
    centre = np.array([0.0, 0.5], dtype=np.float32)
    uv = centre + (uv - centre) * scale
    return origin + uv[:, :1] * u + uv[:, 1:] * v


def hull_mask(
    shape: tuple[int, int], landmarks: np.ndarray, box: np.ndarray, scale: float = 1.0
) -> np.ndarray:
    """Float32 {0,1} mask: convex hull of the outline, clipped to the face box."""
    height, width = shape
    outline = face_outline(landmarks, scale)
    hull = cv2.convexHull(np.round(outline).astype(np.int32))
    mask = np.zeros((height, width), dtype=np.float32)
    cv2.fillConvexPoly(mask, hull, 1.0)
    x1, y1, x2, y2 = np.round(np.asarray(box, dtype=np.float32)).astype(int)
    clip = np.zeros_like(mask)
    clip[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = 1.0
    return mask * clip


def landmark_mask(shape: tuple[int, int], landmarks68: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Float32 {0,1} mask: convex hull of the 68 landmarks, grown or shrunk about their centre."""
    height, width = shape
    points = np.asarray(landmarks68, dtype=np.float32).reshape(-1, 2)
    centre = points.mean(axis=0)
    points = centre + (points - centre) * scale
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    mask = np.zeros((height, width), dtype=np.float32)
    cv2.fillConvexPoly(mask, hull, 1.0)
    return mask


def _elastic(mask: np.ndarray, rng: np.random.Generator, alpha: float, sigma: float) -> np.ndarray:
    """Deform the mask with a smooth random displacement field (Simard et al. 2003)."""
    height, width = mask.shape
    side = max(height, width)
    ksigma = max(sigma * side, 1.0)
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, mask.shape).astype(np.float32), (0, 0), ksigma)
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, mask.shape).astype(np.float32), (0, 0), ksigma)
    peak = max(float(np.abs(dx).max()), float(np.abs(dy).max()), 1e-6)
    dx *= alpha * side / peak
    dy *= alpha * side / peak
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(mask, grid_x + dx, grid_y + dy, cv2.INTER_LINEAR, borderValue=0.0)


def _blur_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Soften the edge: erode or dilate a little, then Gaussian blur with a random kernel."""
    side = max(mask.shape)
    k = int(rng.integers(1, max(side // 40, 2) + 1)) * 2 + 1
    if rng.random() < 0.5:
        mask = cv2.erode(mask, np.ones((k, k), np.uint8))
    else:
        mask = cv2.dilate(mask, np.ones((k, k), np.uint8))
    blur = int(rng.integers(max(side // 40, 1), max(side // 16, 2) + 1)) * 2 + 1
    mask = cv2.GaussianBlur(mask, (blur, blur), 0)
    peak = float(mask.max())
    return mask / peak if peak > 0 else mask


def _colour_jitter(image: np.ndarray, rng: np.random.Generator, cfg: SBIConfig) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-cfg.hue_shift, cfg.hue_shift)) % 180.0
    hsv[..., 1] = np.clip(hsv[..., 1] + rng.uniform(-cfg.sat_shift, cfg.sat_shift), 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] + rng.uniform(-cfg.val_shift, cfg.val_shift), 0, 255)
    out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    mean = out.mean()
    out = (out - mean) * rng.uniform(*cfg.contrast) + mean
    return np.clip(out, 0, 255).astype(np.uint8)


def _frequency_jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur, downscale or sharpen: the sharpness mismatch a swapped face usually has (the paper's
    frequency transforms: Downscale 0.25-0.5 or Sharpen)."""
    choice = rng.random()
    if choice < 1 / 3:
        height, width = image.shape[:2]
        factor = rng.uniform(0.25, 0.5)
        small = cv2.resize(
            image, (max(int(width * factor), 1), max(int(height * factor), 1)), interpolation=cv2.INTER_AREA
        )
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    sigma = rng.uniform(0.5, 1.5)
    blurred = cv2.GaussianBlur(image, (0, 0), sigma)
    if choice < 0.5:
        return blurred
    amount = rng.uniform(0.3, 1.0)
    sharp = image.astype(np.float32) * (1 + amount) - blurred.astype(np.float32) * amount
    return np.clip(sharp, 0, 255).astype(np.uint8)


def _random_affine(size: tuple[int, int], rng: np.random.Generator, cfg: SBIConfig) -> np.ndarray:
    height, width = size
    side = max(height, width)
    scale = rng.uniform(*cfg.scale)
    tx, ty = rng.uniform(-cfg.shift, cfg.shift, 2) * side
    cx, cy = width / 2.0, height / 2.0
    return np.array([[scale, 0, (1 - scale) * cx + tx], [0, scale, (1 - scale) * cy + ty]], dtype=np.float32)


def self_blend(
    image: np.ndarray,
    landmarks: np.ndarray,
    box: np.ndarray,
    rng: np.random.Generator,
    cfg: SBIConfig = SBIConfig(),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(real, fake, mask) from one real face crop (uint8 RGB), its landmarks (68 dlib points, or
    MTCNN's 5 as a fallback) and box.

    The fake equals the real exactly wherever mask == 0: only the blended region changes.
    """
    real = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = real.shape[:2]
    points = np.asarray(landmarks, dtype=np.float32).reshape(-1, 2)
    if len(points) == 68:
        mask = landmark_mask((height, width), points, rng.uniform(*cfg.hull_scale))
    else:
        mask = hull_mask((height, width), points, box, rng.uniform(*cfg.hull_scale))
    source, target = real.copy(), real.copy()
    if rng.random() < 0.5:  # the jittered copy is the source (pasted face) or the target
        source = _frequency_jitter(_colour_jitter(source, rng, cfg), rng)
    else:
        target = _frequency_jitter(_colour_jitter(target, rng, cfg), rng)
    affine = _random_affine((height, width), rng, cfg)
    source = cv2.warpAffine(source, affine, (width, height), borderMode=cv2.BORDER_REFLECT)
    mask = cv2.warpAffine(mask, affine, (width, height), flags=cv2.INTER_LINEAR, borderValue=0.0)
    mask = _elastic(mask, rng, cfg.elastic_alpha, cfg.elastic_sigma)
    mask = _blur_mask(mask, rng) * float(rng.choice(cfg.blend_ratios))
    m = mask[..., None]
    blended = source.astype(np.float32) * m + target.astype(np.float32) * (1.0 - m)
    fake = np.where(m > 0, np.clip(np.round(blended), 0, 255), real).astype(np.uint8)
    return real, fake, mask.astype(np.float32)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def augment_pair(
    real: np.ndarray, fake: np.ndarray, rng: np.random.Generator, cfg: SBIConfig = SBIConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """Shared augmentation: the same flip, brightness/contrast and JPEG quality for both images,
    so the only systematic difference left between them is the blend."""
    if rng.random() < 0.5:
        real, fake = real[:, ::-1], fake[:, ::-1]
    gain = rng.uniform(0.8, 1.2)
    bias = rng.uniform(-20, 20)
    quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
    out = []
    for image in (real, fake):
        image = np.clip(image.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
        if rng.random() < 0.8:
            image = jpeg(np.ascontiguousarray(image), quality)
        out.append(np.ascontiguousarray(image))
    return out[0], out[1]
