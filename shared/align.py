"""Face alignment: a 5-point similarity transform onto the template the embedder expects.

dlib's ResNet was trained on chips cut by dlib's own 5-point shape predictor
(`get_face_chip`, 150 px, padding 0.25). MTCNN finds different points (eye centres,
nose tip, mouth corners), so the template below gives where *MTCNN's* points land on a
dlib chip. It was measured, not guessed: `scripts/fit_alignment.py` cuts dlib chips of
real faces, maps MTCNN's landmarks into each chip and averages them. Enrolment and
queries must use the same alignment, so everything goes through `align_face`.
"""

from __future__ import annotations

import cv2
import numpy as np

CHIP_SIZE = 150

# (x, y) on a 150x150 dlib chip: left eye, right eye, nose tip, left and right mouth corner.
DLIB_CHIP_TEMPLATE = np.array(
    [
        [48.00, 45.86],
        [102.63, 46.33],
        [74.92, 78.65],
        [50.80, 105.07],
        [100.53, 105.21],
    ],
    dtype=np.float32,
)

# The standard 112x112 five-point template of ArcFace / insightface (eye centres, nose tip, mouth
# corners: the points MTCNN finds). SFace was trained on chips cut this way, and OpenCV's
# FaceRecognizerSF.alignCrop uses the same numbers.
ARCFACE_CHIP_SIZE = 112
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, shift) src -> dst.

    Umeyama (1991) closed form; returns the 2x3 matrix cv2.warpAffine expects.
    """
    src = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    variance = (src_c**2).sum() / len(src)
    scale = (singular * np.diag(sign)).sum() / max(variance, 1e-12)
    shift = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, shift[:, None]]).astype(np.float32)


def align_face(
    image: np.ndarray,
    landmarks: np.ndarray,
    template: np.ndarray = DLIB_CHIP_TEMPLATE,
    size: int = CHIP_SIZE,
    template_size: int = CHIP_SIZE,
) -> np.ndarray:
    """Cut the aligned `size` x `size` chip for one face from an RGB image.

    `template` holds the five points on a `template_size` chip (150 for dlib's, 112 for ArcFace's);
    it is scaled to `size`.

    When the face is much larger than the chip, the image is first shrunk with area
    averaging (as dlib's chip extractor does with its pyramid), so the chip is not aliased.
    """
    template = np.asarray(template, dtype=np.float32) * (size / template_size)
    points = np.asarray(landmarks, dtype=np.float32).reshape(5, 2)
    matrix = estimate_similarity(points, template)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 0.5:
        shrink = 1.0 / (2 ** int(np.floor(np.log2(1.0 / scale))))
        height, width = image.shape[:2]
        small = cv2.resize(
            image,
            (max(1, round(width * shrink)), max(1, round(height * shrink))),
            interpolation=cv2.INTER_AREA,
        )
        ratio = np.array([small.shape[1] / width, small.shape[0] / height], dtype=np.float32)
        points = points * ratio
        image = small
        matrix = estimate_similarity(points, template)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def jitter_templates(
    count: int,
    seed: int = 0,
    template: np.ndarray = DLIB_CHIP_TEMPLATE,
    max_rotation_deg: float = 3.0,
    scale_range: tuple[float, float] = (0.99, 1.01),
    max_shift: float = 0.02,
    template_size: int = CHIP_SIZE,
) -> list[np.ndarray]:
    """`count` slightly moved copies of `template` for jitter test-time augmentation.

    dlib's `jitter_image` (what face_recognition's `num_jitters` uses) re-crops each chip with up
    to 3 degrees of rotation, a 0.97-0.99 object height and 2% shift, and averages the
    embeddings. Cutting the moved chips from the photo rather than from the first chip keeps
    the borders real. Deterministic for a seed, so enrolment gives the same template each time.
    """
    if count < 0:
        raise ValueError("The number of jitters cannot be negative.")
    rng = np.random.default_rng(seed)
    base = np.asarray(template, dtype=np.float64)
    centre = np.full(2, template_size / 2.0)
    moved = []
    for _ in range(count):
        angle = np.deg2rad(rng.uniform(-max_rotation_deg, max_rotation_deg))
        scale = rng.uniform(*scale_range)
        shift = rng.uniform(-max_shift, max_shift, size=2) * template_size
        rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        moved.append(((base - centre) @ rotation.T + centre + shift).astype(np.float32))
    return moved


def fallback_landmarks(box: np.ndarray) -> np.ndarray:
    """Landmarks for a face the detector missed but a protocol says is there (LFW).

    Places the template proportionally inside `box`, so a centred box still gives a chip.
    """
    x1, y1, x2, y2 = [float(v) for v in box]
    unit = DLIB_CHIP_TEMPLATE / CHIP_SIZE
    return np.stack([x1 + unit[:, 0] * (x2 - x1), y1 + unit[:, 1] * (y2 - y1)], axis=1).astype(np.float32)


def crop_box(image: np.ndarray, box: np.ndarray, size: int, margin: float = 0.0) -> np.ndarray:
    """Square-resize the detector box (plus `margin` pixels around it) to `size` x `size`.

    FaceNet (facenet-pytorch's InceptionResnetV1) was trained on such MTCNN box crops, not on
    landmark-aligned chips, so it is fed the same way. Out-of-image parts are black.
    """
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, y1, x2, y2 = x1 - margin / 2, y1 - margin / 2, x2 + margin / 2, y2 + margin / 2
    scale_x, scale_y = size / max(x2 - x1, 1.0), size / max(y2 - y1, 1.0)
    matrix = np.array([[scale_x, 0.0, -x1 * scale_x], [0.0, scale_y, -y1 * scale_y]], dtype=np.float32)
    if min(scale_x, scale_y) < 0.5:
        shrink = 1.0 / (2 ** int(np.floor(np.log2(1.0 / min(scale_x, scale_y)))))
        small = cv2.resize(
            image,
            (max(1, round(width * shrink)), max(1, round(height * shrink))),
            interpolation=cv2.INTER_AREA,
        )
        matrix[:, :2] /= np.array([small.shape[1] / width, small.shape[0] / height], dtype=np.float32)
        image = small
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
