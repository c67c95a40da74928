"""MTCNN face detection on ONNX Runtime: numpy + opencv only, no torch at run time.

The cascade follows facenet-pytorch's `detect_face` (same pyramid, thresholds, NMS order and box
conventions, so boxes and landmarks come out in the coordinates users of that library expect),
with two deliberate differences:

* crops whose box runs past the image edge are zero-padded (as the original MTCNN did) rather
  than clipped and stretched, so the regression and landmark offsets stay in the square frame the
  nets were trained on;
* all pyramid levels are packed into one mosaic image and P-Net runs once (see `plan_mosaic`).
  P-Net is a 12x12 / stride-2 sliding window: with every level at an even offset, a level's cell
  (i, j) is exactly the mosaic cell (oy/2 + i, ox/2 + j), and only cells whose window lies wholly
  inside their own level are kept. The one cell a per-level run would add at an odd edge (a
  window half outside the picture, seen through ceil-mode pooling) is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

CELL = 12  # P-Net window
STRIDE = 2  # P-Net output stride
RNET_SIZE = 24
ONET_SIZE = 48
MODEL_NAMES = ("mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet")


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face in image pixels.

    landmarks rows: left eye, right eye, nose, left mouth corner, right mouth corner, where
    left/right are as they appear in the image; columns are (x, y).
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray

    def __post_init__(self) -> None:
        box = np.array(self.box, dtype=np.float32).reshape(4)
        landmarks = np.array(self.landmarks, dtype=np.float32).reshape(5, 2)
        box.setflags(write=False)
        landmarks.setflags(write=False)
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "landmarks", landmarks)
        object.__setattr__(self, "score", float(self.score))

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def size(self) -> float:
        """The shorter side: what minimum-face-size and quality rules compare against."""
        return min(self.width, self.height)

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [float(v) for v in self.box],
            "score": self.score,
            "landmarks": [[float(x), float(y)] for x, y in self.landmarks],
        }


# ---------------------------------------------------------------- geometry and NMS


def nms(
    boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union", plus_one: bool = False
) -> np.ndarray:
    """Greedy NMS, indices kept in descending score order.

    mode "union" is IoU, "min" divides by the smaller area (MTCNN's last stage, which removes a
    small box nested in a larger one). plus_one uses the legacy inclusive-pixel area (w + 1).
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = (boxes[:, k].astype(np.float64) for k in range(4))
    extra = 1.0 if plus_one else 0.0
    areas = (x2 - x1 + extra) * (y2 - y1 + extra)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        iw = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + extra)
        ih = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + extra)
        inter = iw * ih
        denom = np.minimum(areas[i], areas[rest]) if mode == "min" else areas[i] + areas[rest] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            overlap = inter / denom
        order = rest[~(overlap > threshold)]  # NaN (empty boxes) never suppresses, as in torchvision
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, threshold: float) -> np.ndarray:
    """IoU NMS within each group in one pass: shift each group far apart so groups never overlap."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    shift = (groups.astype(np.float64) * (float(np.abs(boxes[:, :4]).max()) * 2 + 1))[:, None]
    return nms(boxes[:, :4] + shift, scores, threshold)


def regress(boxes: np.ndarray, reg: np.ndarray, plus_one: bool) -> np.ndarray:
    """Apply the nets' box offsets, which are fractions of the box width/height."""
    extra = 1.0 if plus_one else 0.0
    w = boxes[:, 2] - boxes[:, 0] + extra
    h = boxes[:, 3] - boxes[:, 1] + extra
    out = boxes.copy()
    out[:, :4] = boxes[:, :4] + reg[:, :4] * np.stack([w, h, w, h], axis=1)
    return out


def square(boxes: np.ndarray) -> np.ndarray:
    """Grow each box to a square around its centre: R-Net and O-Net take square crops."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out = boxes.copy()
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def crop_patches(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Crops (N x 3 x size x size float32, 0..255) for the boxes, zero outside the image.

    Box coordinates follow MTCNN's 1-based inclusive convention: the crop of (x1, y1, x2, y2)
    covers pixel columns trunc(x1) - 1 .. trunc(x2) - 1.
    """
    out = np.zeros((len(boxes), size, size, 3), dtype=np.float32)
    h, w = image.shape[:2]
    corners = np.trunc(boxes[:, :4]).astype(np.int64)
    for k, (bx1, by1, bx2, by2) in enumerate(corners):
        x0, y0, cw, ch = bx1 - 1, by1 - 1, bx2 - bx1 + 1, by2 - by1 + 1
        if cw < 1 or ch < 1:
            continue
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + cw, w), min(y0 + ch, h)
        if sx1 <= sx0 or sy1 <= sy0:
            continue
        if (sx0, sy0, sx1, sy1) == (x0, y0, x0 + cw, y0 + ch):
            patch = image[y0 : y0 + ch, x0 : x0 + cw]
        else:
            patch = np.zeros((ch, cw, 3), dtype=np.float32)
            patch[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
        out[k] = cv2.resize(patch.astype(np.float32, copy=False), (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


# ---------------------------------------------------------------- pyramid and mosaic


def pyramid_scales(image_hw: Sequence[int], min_face_size: int, factor: float) -> list[float]:
    """Scales that map faces of min_face_size .. image size onto P-Net's 12 px window."""
    scale = CELL / min_face_size
    side = min(image_hw[:2]) * scale
    scales = []
    while side >= CELL:
        scales.append(scale)
        scale *= factor
        side *= factor
    return scales


def level_shape(image_hw: Sequence[int], scale: float) -> tuple[int, int]:
    return int(image_hw[0] * scale + 1), int(image_hw[1] * scale + 1)


def resize_level(image_f: np.ndarray, scale: float) -> np.ndarray:
    """One pyramid level (float32 HxWx3), sized as facenet-pytorch sizes it."""
    lh, lw = level_shape(image_f.shape, scale)
    return cv2.resize(image_f, (lw, lh), interpolation=cv2.INTER_AREA)


def _even(n: int) -> int:
    return n + (n & 1)


def _skyline(sizes: Sequence[tuple[int, int]], width: int) -> tuple[list[tuple[int, int]], int]:
    """Bottom-left skyline packing of (h, w) rectangles into a strip of the given width."""
    sky = [(0, width, 0)]  # segments (x, w, top)
    offsets = []
    for h, w in sizes:
        starts = {x for x, _, _ in sky} | {x + sw - w for x, sw, _ in sky}
        best = None
        for x in sorted(s for s in starts if s >= 0 and s + w <= width):
            y = max(top for sx, sw, top in sky if sx < x + w and sx + sw > x)
            if best is None or (y + h, y, x) < (best[0] + h, best[0], best[1]):
                best = (y, x)
        y, x = best
        offsets.append((y, x))
        pieces = [(x, w, y + h)]
        for sx, sw, top in sky:
            if sx < x:
                pieces.append((sx, min(sw, x - sx), top))
            if sx + sw > x + w:
                start = max(sx, x + w)
                pieces.append((start, sx + sw - start, top))
        sky = sorted(pieces)
    return offsets, max(top for _, _, top in sky)


def plan_mosaic(shapes: Sequence[tuple[int, int]]) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """Even (y, x) offsets for each level and the mosaic (H, W), picking the tightest strip width.

    Even offsets keep every level on P-Net's stride-2 grid; no gap is needed because cells whose
    window crosses a level's border are discarded, not interpreted.
    """
    sizes = [(_even(h), _even(w)) for h, w in shapes]
    widest = max(w for _, w in sizes)
    candidates = {widest} | {widest + w for _, w in sizes[1:]}
    best = None
    for width in sorted(candidates):
        offsets, height = _skyline(sizes, width)
        if best is None or height * width < best[1][0] * best[1][1]:
            best = (offsets, (height, width))
    return best


# ---------------------------------------------------------------- the detector


def _run_chunked(session, name: str, crops: np.ndarray, chunk: int) -> list[np.ndarray]:
    """Run a crop net in bounded batches so thousands of candidates never blow up memory."""
    parts = [session.run(None, {name: crops[i : i + chunk]}) for i in range(0, len(crops), chunk)]
    return [np.concatenate(col, axis=0) for col in zip(*parts, strict=True)]


def _cells_to_boxes(prob: np.ndarray, reg: np.ndarray, scale: float, threshold: float) -> np.ndarray:
    """Candidates (x1, y1, x2, y2, score, dx1, dy1, dx2, dy2) from one level's P-Net maps.

    prob is (H', W'), reg is (4, H', W'), both already cut to the level's cells.
    """
    ys, xs = np.nonzero(prob >= threshold)
    if len(ys) == 0:
        return np.zeros((0, 9), dtype=np.float64)
    cells = np.stack([xs, ys], axis=1).astype(np.float64)
    top_left = np.floor((STRIDE * cells + 1) / scale)
    bottom_right = np.floor((STRIDE * cells + CELL) / scale)
    return np.concatenate([top_left, bottom_right, prob[ys, xs][:, None], reg[:, ys, xs].T], axis=1).astype(
        np.float64
    )


class MTCNN:
    """Three-stage cascade: P-Net proposes, R-Net filters, O-Net scores and finds landmarks."""

    def __init__(
        self,
        pnet,
        rnet,
        onet,
        min_face_size: int = 20,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        scale_factor: float = 0.709,
        *,
        mosaic: bool = True,
        chunk: int = 256,
    ):
        if min_face_size < CELL:
            raise ValueError(f"min_face_size must be at least {CELL} pixels, got {min_face_size}.")
        if not 0.0 < scale_factor < 1.0:
            raise ValueError(f"scale_factor must be between 0 and 1, got {scale_factor}.")
        if len(thresholds) != 3:
            raise ValueError("thresholds must hold three values: P-Net, R-Net, O-Net.")
        self.pnet, self.rnet, self.onet = pnet, rnet, onet
        self.min_face_size = int(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.scale_factor = float(scale_factor)
        self.mosaic = mosaic
        self.chunk = int(chunk)

    @classmethod
    def from_registry(cls, registry, **kwargs) -> MTCNN:
        """Build from a ModelRegistry holding "mtcnn_pnet", "mtcnn_rnet" and "mtcnn_onet"."""
        return cls(*(registry.session(name) for name in MODEL_NAMES), **kwargs)

    def detect(self, image_rgb: np.ndarray) -> list[Face]:
        """Faces in an HxWx3 uint8 RGB image, highest score first."""
        _check_image(image_rgb)
        if min(image_rgb.shape[:2]) < CELL:
            return []
        image_f = image_rgb.astype(np.float32)
        boxes = self.propose(image_f)
        boxes = self.refine(image_f, boxes)
        return self.finish(image_f, boxes)

    # The three stages are public so the exporter can feed R-Net/O-Net parity checks real crops.

    def propose(self, image: np.ndarray) -> np.ndarray:
        """Stage 1: squared P-Net candidates (N x 5: box, score) after NMS within and across scales."""
        image_f = image.astype(np.float32, copy=False)
        scales = pyramid_scales(image_f.shape, self.min_face_size, self.scale_factor)
        if not scales:
            return np.zeros((0, 5), dtype=np.float64)
        levels = self._pnet_mosaic(image_f, scales) if self.mosaic else self._pnet_per_scale(image_f, scales)
        groups = np.concatenate([np.full(len(c), k) for k, c in enumerate(levels)])
        cands = np.concatenate(levels, axis=0)
        cands = cands[batched_nms(cands[:, :4], cands[:, 4], groups, 0.5)]
        cands = cands[nms(cands[:, :4], cands[:, 4], 0.7)]
        return square(regress(cands[:, :5], cands[:, 5:9], plus_one=False))

    def refine(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Stage 2: R-Net on 24x24 crops; survivors regressed and squared (N x 5)."""
        if len(boxes) == 0:
            return boxes
        prob, reg = _run_chunked(self.rnet, "crops", crop_patches(image, boxes, RNET_SIZE), self.chunk)
        keep = prob > self.thresholds[1]
        boxes = np.concatenate([boxes[keep, :4], prob[keep, None]], axis=1)
        reg = reg[keep]
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7)
        return square(regress(boxes[pick], reg[pick], plus_one=True))

    def finish(self, image: np.ndarray, boxes: np.ndarray) -> list[Face]:
        """Stage 3: O-Net scores, landmarks and final boxes, NMS by overlap of the smaller box."""
        if len(boxes) == 0:
            return []
        prob, reg, marks = _run_chunked(self.onet, "crops", crop_patches(image, boxes, ONET_SIZE), self.chunk)
        keep = prob > self.thresholds[2]
        boxes = np.concatenate([boxes[keep, :4], prob[keep, None]], axis=1)
        reg, marks = reg[keep], marks[keep].astype(np.float64)
        w = boxes[:, 2:3] - boxes[:, 0:1] + 1
        h = boxes[:, 3:4] - boxes[:, 1:2] + 1
        points = np.stack(
            [w * marks[:, :5] + boxes[:, 0:1] - 1, h * marks[:, 5:] + boxes[:, 1:2] - 1], axis=2
        )
        boxes = regress(boxes, reg, plus_one=True)
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7, mode="min", plus_one=True)
        return [Face(box=boxes[i, :4], score=boxes[i, 4], landmarks=points[i]) for i in pick]

    def _pnet_per_scale(self, image_f: np.ndarray, scales: Sequence[float]) -> list[np.ndarray]:
        """One P-Net call per pyramid level (the reference behaviour)."""
        out = []
        for scale in scales:
            level = resize_level(image_f, scale)
            prob, reg = self.pnet.run(None, {"image": _nchw(level)})
            out.append(_cells_to_boxes(prob[0, 0], reg[0], scale, self.thresholds[0]))
        return out

    def _pnet_mosaic(self, image_f: np.ndarray, scales: Sequence[float]) -> list[np.ndarray]:
        """All pyramid levels in one P-Net call; see the module docstring for why this is exact."""
        shapes = [level_shape(image_f.shape, s) for s in scales]
        offsets, (mh, mw) = plan_mosaic(shapes)
        mosaic = np.zeros((mh, mw, 3), dtype=np.float32)
        for scale, (lh, lw), (oy, ox) in zip(scales, shapes, offsets, strict=True):
            mosaic[oy : oy + lh, ox : ox + lw] = resize_level(image_f, scale)
        prob, reg = self.pnet.run(None, {"image": _nchw(mosaic)})
        out = []
        for scale, (lh, lw), (oy, ox) in zip(scales, shapes, offsets, strict=True):
            cy, cx = oy // STRIDE, ox // STRIDE
            ny, nx = (lh - CELL) // STRIDE + 1, (lw - CELL) // STRIDE + 1
            out.append(
                _cells_to_boxes(
                    prob[0, 0, cy : cy + ny, cx : cx + nx],
                    reg[0, :, cy : cy + ny, cx : cx + nx],
                    scale,
                    self.thresholds[0],
                )
            )
        return out


def _nchw(image_hwc: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image_hwc.transpose(2, 0, 1)[None])


def _check_image(image: Any) -> None:
    if not isinstance(image, np.ndarray):
        raise ValueError(f"Expected an HxWx3 uint8 RGB numpy array, got {type(image).__name__}.")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"Expected an HxWx3 uint8 RGB image, got an array of shape {image.shape} and dtype {image.dtype}."
        )
