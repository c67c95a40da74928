"""MTCNN face detection on ONNX Runtime: numpy + opencv only, no torch at run time.

The cascade follows facenet-pytorch's `detect_face`: same pyramid sizes, thresholds, NMS order
and box conventions, so boxes and landmarks land where users of that library expect them.
Where this differs, on purpose:

* Crops whose box runs past the image edge are zero-padded (as the original MTCNN did) rather
  than clipped and stretched, so regression and landmark offsets stay in the square frame the
  nets were trained on.
* Pyramid levels come from cv2.INTER_AREA, each from a source at least twice its size (see
  `build_pyramid`); facenet-pytorch uses torch's area interpolation, which differs from cv2's by
  a grey level or two anyway.
* P-Net can run once on a mosaic of the pyramid levels (see `plan_mosaic`) instead of per level.
  P-Net is a 12x12 / stride-2 sliding window: with every level at an even offset, a level's cell
  (i, j) is exactly the mosaic cell (oy/2 + i, ox/2 + j), and only cells whose window lies wholly
  inside their own level are read. The one cell a per-level run adds at an odd edge (a window
  half outside the picture, seen through ceil-mode pooling) is dropped. Levels too big for the
  mosaic's pixel budget run alone first.
* R-Net and O-Net see every candidate in a few large batches; NMS is vectorised (see `nms`).
"""

from __future__ import annotations

import functools
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


_PAIR_CHUNK = 1 << 21  # candidate pairs materialised at once, to bound memory


def _touching_pairs(boxes: np.ndarray, extra: float):
    """Yield index pairs (i, j) of boxes that overlap in x and y, in bounded chunks.

    Sort-and-sweep on x1: box j can only overlap box i (with x1_i <= x1_j) if x1_j < x2_i, so the
    partners of each box are a contiguous run in x1 order. Cost follows the number of truly
    neighbouring boxes, not N^2.
    """
    n = len(boxes)
    by_x = np.argsort(boxes[:, 0], kind="stable")
    x1 = boxes[by_x, 0]
    ends = np.searchsorted(x1, boxes[by_x, 2] + extra, side="left")
    counts = np.maximum(ends - np.arange(n) - 1, 0)
    cum = np.concatenate([[0], np.cumsum(counts)])
    start = 0
    while start < n:
        stop = max(int(np.searchsorted(cum, cum[start] + _PAIR_CHUNK, side="right")) - 1, start + 1)
        stop = min(stop, n)
        pos = np.repeat(np.arange(start, stop), counts[start:stop])
        offset = np.arange(len(pos)) - np.repeat(cum[start:stop] - cum[start], counts[start:stop])
        first, second = by_x[pos], by_x[pos + 1 + offset]
        bottom = np.minimum(boxes[first, 3], boxes[second, 3])
        touching = bottom - np.maximum(boxes[first, 1], boxes[second, 1]) + extra > 0
        yield first[touching], second[touching]
        start = stop


def _pair_overlap(boxes: np.ndarray, a: np.ndarray, b: np.ndarray, mode: str, extra: float) -> np.ndarray:
    """Overlap of box pairs (a[k], b[k]): IoU, or intersection over the smaller area."""
    iw = np.minimum(boxes[a, 2], boxes[b, 2]) - np.maximum(boxes[a, 0], boxes[b, 0]) + extra
    ih = np.minimum(boxes[a, 3], boxes[b, 3]) - np.maximum(boxes[a, 1], boxes[b, 1]) + extra
    inter = np.maximum(iw, 0.0) * np.maximum(ih, 0.0)
    area = (boxes[:, 2] - boxes[:, 0] + extra) * (boxes[:, 3] - boxes[:, 1] + extra)
    denom = np.minimum(area[a], area[b]) if mode == "min" else area[a] + area[b] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / denom


def nms(
    boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union", plus_one: bool = False
) -> np.ndarray:
    """Greedy NMS, indices kept in descending score order.

    mode "union" is IoU, "min" divides by the smaller area (MTCNN's last stage, which removes a
    small box nested in a larger one). plus_one uses the legacy inclusive-pixel area (w + 1).
    The overlaps above threshold are found for all pairs at once (sparse, see _touching_pairs);
    the greedy pass then only walks that sparse graph. Same result as the classic loop, including
    that a NaN overlap (two empty boxes) never suppresses, as in torchvision.
    """
    if mode not in ("union", "min"):
        raise ValueError(f"NMS mode must be 'union' or 'min', got {mode!r}.")
    n = len(boxes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    extra = 1.0 if plus_one else 0.0
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    ranked = np.asarray(boxes, dtype=np.float64)[order, :4]
    winners, losers = [], []
    for a, b in _touching_pairs(ranked, extra):
        hit = _pair_overlap(ranked, a, b, mode, extra) > threshold
        winners.append(np.minimum(a[hit], b[hit]))
        losers.append(np.maximum(a[hit], b[hit]))
    winner = np.concatenate(winners) if winners else np.zeros(0, dtype=np.int64)
    loser = np.concatenate(losers) if losers else np.zeros(0, dtype=np.int64)
    by_winner = np.argsort(winner, kind="stable")
    loser = loser[by_winner]
    bounds = np.searchsorted(winner[by_winner], np.arange(n + 1)).tolist()
    suppressed = np.zeros(n, dtype=bool)
    keep = []
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(i)
        if bounds[i + 1] > bounds[i]:
            suppressed[loser[bounds[i] : bounds[i + 1]]] = True
    return order[np.asarray(keep, dtype=np.int64)]


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


def pyramid_scales(
    image_hw: Sequence[int], min_face_size: int, factor: float, max_face_size: int | None = None
) -> list[float]:
    """Scales that map faces of min_face_size .. max_face_size (default: the image) onto P-Net's
    12 px window. A camera whose faces are never larger than max_face_size skips the levels that
    only find bigger ones; the level that covers max_face_size itself is kept."""
    scale = CELL / min_face_size
    side = min(image_hw[:2]) * scale
    smallest = CELL / max_face_size if max_face_size else 0.0
    scales = []
    while side >= CELL:
        scales.append(scale)
        if scale <= smallest:
            break
        scale *= factor
        side *= factor
    return scales


def region_proposals(boxes: np.ndarray, shifts: Sequence[float], zooms: Sequence[float]) -> np.ndarray:
    """Square R-Net proposals (N x 5, score 1) around known face boxes: each box squared, shifted by
    fractions of its side along x and y and zoomed, so a face that moved or grew since the box was
    seen is still mostly inside one of them (R-Net's regression does the rest)."""
    boxes = square(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    side = (boxes[:, 2] - boxes[:, 0])[:, None]
    cx = ((boxes[:, 0] + boxes[:, 2]) / 2)[:, None]
    cy = ((boxes[:, 1] + boxes[:, 3]) / 2)[:, None]
    out = []
    for zoom in zooms:
        half = side * zoom / 2
        for dx in shifts:
            for dy in shifts:
                x, y = cx + dx * side, cy + dy * side
                out.append(np.concatenate([x - half, y - half, x + half, y + half, np.ones_like(x)], axis=1))
    return np.concatenate(out, axis=0) if out else np.zeros((0, 5))


def level_shape(image_hw: Sequence[int], scale: float) -> tuple[int, int]:
    return int(image_hw[0] * scale + 1), int(image_hw[1] * scale + 1)


def build_pyramid(image_f: np.ndarray, scales: Sequence[float]) -> list[np.ndarray]:
    """Pyramid levels (float32 HxWx3), sized as facenet-pytorch sizes them, via cv2.INTER_AREA.

    Each level is area-resampled from the smallest level already built that is at least twice
    its size (else from the photo): a 2x2-or-wider area average of an area average stays within
    about a grey level of the direct resample (the same order as cv2-vs-torch area differences),
    and it cuts the pyramid cost 4x on large photos, where resampling the full image a dozen times
    cost as much as P-Net itself.
    """
    levels: list[np.ndarray] = []
    for scale in scales:
        lh, lw = level_shape(image_f.shape, scale)
        source = image_f
        for level in levels:
            if level.shape[0] >= 2 * lh and level.shape[1] >= 2 * lw:
                source = level
        levels.append(cv2.resize(source, (lw, lh), interpolation=cv2.INTER_AREA))
    return levels


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


@functools.lru_cache(maxsize=64)
def plan_mosaic(shapes: tuple[tuple[int, int], ...]) -> tuple[tuple[tuple[int, int], ...], tuple[int, int]]:
    """Even (y, x) offsets for each level and the mosaic (H, W); cached, as video repeats sizes.

    Even offsets keep every level on P-Net's stride-2 grid; no gap is needed because cells whose
    window crosses a level's border are discarded, not interpreted. A strip as wide as the two
    largest levels side by side packs a 0.709 pyramid about 86% full.
    """
    sizes = [(_even(h), _even(w)) for h, w in shapes]
    widest = max(w for _, w in sizes)
    best = None
    for width in sorted({widest, *(widest + w for _, w in sizes[1:3])}):
        offsets, height = _skyline(sizes, width)
        if best is None or height * width < best[1][0] * best[1][1]:
            best = (tuple(offsets), (height, width))
    return best


# ---------------------------------------------------------------- the detector


def _run_on_crops(session, image: np.ndarray, boxes: np.ndarray, size: int, chunk: int) -> list[np.ndarray]:
    """Crop and run a net `chunk` boxes at a time, so thousands of candidates never blow up memory."""
    parts = [
        session.run(None, {"crops": crop_patches(image, boxes[i : i + chunk], size)})
        for i in range(0, len(boxes), chunk)
    ]
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
    return np.concatenate([top_left, bottom_right, prob[ys, xs][:, None], reg[:, ys, xs].T], axis=1)


class MTCNN:
    """Three-stage cascade: P-Net proposes, R-Net filters, O-Net scores and finds landmarks.

    mosaic: run P-Net once over all pyramid levels (True) or once per level (False). It finds the
    same faces either way. None (default) picks the mosaic only on a GPU provider: on CPU, P-Net
    time is proportional to pixels, so the mosaic's ~14% padding cancels the saved calls (measured
    0.85-1.1x on 2 cores), while a GPU pays per launch and per new input shape.
    max_mosaic_pixels: levels run alone, largest first, until the rest packs into this many pixels
    (or the largest level's size, if bigger), which bounds P-Net's peak memory (~150 B a pixel).
    chunk: crops per R-Net / O-Net call.
    """

    def __init__(
        self,
        pnet,
        rnet,
        onet,
        min_face_size: int = 20,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        scale_factor: float = 0.709,
        *,
        max_face_size: int | None = None,
        mosaic: bool | None = None,
        max_mosaic_pixels: int = 2_000_000,
        chunk: int = 256,
    ):
        if min_face_size < CELL:
            raise ValueError(f"min_face_size must be at least {CELL} pixels, got {min_face_size}.")
        if not 0.0 < scale_factor < 1.0:
            raise ValueError(f"scale_factor must be between 0 and 1, got {scale_factor}.")
        if len(thresholds) != 3:
            raise ValueError("thresholds must hold three values: P-Net, R-Net, O-Net.")
        self.pnet, self.rnet, self.onet = pnet, rnet, onet
        if max_face_size is not None and max_face_size < min_face_size:
            raise ValueError(
                f"max_face_size ({max_face_size}) must be at least min_face_size ({min_face_size})."
            )
        self.min_face_size = int(min_face_size)
        self.max_face_size = int(max_face_size) if max_face_size else None
        self.thresholds = tuple(float(t) for t in thresholds)
        self.scale_factor = float(scale_factor)
        self.mosaic = _accelerated(pnet) if mosaic is None else bool(mosaic)
        self.max_mosaic_pixels = int(max_mosaic_pixels)
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

    def redetect(
        self,
        image_rgb: np.ndarray,
        boxes: np.ndarray,
        shifts: Sequence[float] = (-0.15, 0.0, 0.15),
        zooms: Sequence[float] = (1.0, 1.25),
    ) -> list[Face]:
        """Faces near known boxes (a tracker's predictions): R-Net and O-Net on proposals around each
        box, no P-Net pyramid. A small fraction of a full detection's cost; faces far from every box
        are not found, so a caller still runs `detect` from time to time."""
        _check_image(image_rgb)
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if len(boxes) == 0:
            return []
        image_f = image_rgb.astype(np.float32)
        return self.finish(image_f, self.refine(image_f, region_proposals(boxes, shifts, zooms)))

    # The three stages are public so the exporter can feed R-Net/O-Net parity checks real crops.

    def propose(self, image: np.ndarray) -> np.ndarray:
        """Stage 1: squared P-Net candidates (N x 5: box, score) after NMS within and across scales."""
        image_f = image.astype(np.float32, copy=False)
        scales = pyramid_scales(image_f.shape, self.min_face_size, self.scale_factor, self.max_face_size)
        if not scales:
            return np.zeros((0, 5), dtype=np.float64)
        maps = self._pnet_maps(build_pyramid(image_f, scales))
        threshold = self.thresholds[0]
        levels = [_cells_to_boxes(p, r, scale, threshold) for (p, r), scale in zip(maps, scales, strict=True)]
        groups = np.concatenate([np.full(len(c), k) for k, c in enumerate(levels)])
        cands = np.concatenate(levels, axis=0)
        cands = cands[batched_nms(cands[:, :4], cands[:, 4], groups, 0.5)]
        cands = cands[nms(cands[:, :4], cands[:, 4], 0.7)]
        return square(regress(cands[:, :5], cands[:, 5:9], plus_one=False))

    def refine(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Stage 2: R-Net on 24x24 crops; survivors regressed and squared (N x 5)."""
        if len(boxes) == 0:
            return boxes
        prob, reg = _run_on_crops(self.rnet, image, boxes, RNET_SIZE, self.chunk)
        keep = prob > self.thresholds[1]
        boxes = np.concatenate([boxes[keep, :4], prob[keep, None]], axis=1)
        reg = reg[keep]
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7)
        return square(regress(boxes[pick], reg[pick], plus_one=True))

    def finish(self, image: np.ndarray, boxes: np.ndarray) -> list[Face]:
        """Stage 3: O-Net scores, landmarks and final boxes, NMS by overlap of the smaller box."""
        if len(boxes) == 0:
            return []
        prob, reg, marks = _run_on_crops(self.onet, image, boxes, ONET_SIZE, self.chunk)
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

    def _pnet_maps(self, levels: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """P-Net (prob H'xW', reg 4xH'xW') per level: the big levels alone, the rest in one mosaic.

        The mosaic may hold at most max(max_mosaic_pixels, largest level) pixels, so batching never
        raises peak memory much above what the largest level alone needs (~150 bytes a pixel).
        """
        if not self.mosaic:
            return [self._pnet_single(level) for level in levels]
        shapes = tuple(level.shape[:2] for level in levels)
        budget = max(self.max_mosaic_pixels, shapes[0][0] * shapes[0][1])
        first = 0
        while len(shapes) - first > 1:
            _, (mh, mw) = plan_mosaic(shapes[first:])
            if mh * mw <= budget:
                break
            first += 1
        singles = [self._pnet_single(level) for level in levels[:first]]
        rest = levels[first:]
        return singles + (self._pnet_mosaic(rest) if len(rest) > 1 else [self._pnet_single(rest[0])])

    def _pnet_single(self, level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _squeeze(self.pnet.run(None, {"image": _nchw(level)}))

    def _pnet_mosaic(self, levels: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """One P-Net call over all levels packed side by side; maps cut back to each level's cells."""
        shapes = tuple(level.shape[:2] for level in levels)
        offsets, (mh, mw) = plan_mosaic(shapes)
        mosaic = np.zeros((1, 3, mh, mw), dtype=np.float32)
        for level, (oy, ox) in zip(levels, offsets, strict=True):
            mosaic[0, :, oy : oy + level.shape[0], ox : ox + level.shape[1]] = level.transpose(2, 0, 1)
        prob, reg = _squeeze(self.pnet.run(None, {"image": mosaic}))
        maps = []
        for (lh, lw), (oy, ox) in zip(shapes, offsets, strict=True):
            cy, cx = oy // STRIDE, ox // STRIDE
            ny, nx = (lh - CELL) // STRIDE + 1, (lw - CELL) // STRIDE + 1  # windows wholly inside
            maps.append((prob[cy : cy + ny, cx : cx + nx], reg[:, cy : cy + ny, cx : cx + nx]))
        return maps


def _accelerated(session) -> bool:
    """Whether a session runs on a GPU provider (anything but the CPU one)."""
    providers = session.get_providers() if hasattr(session, "get_providers") else ["CPUExecutionProvider"]
    return bool(providers) and providers[0] != "CPUExecutionProvider"


def _squeeze(outputs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    prob, reg = outputs
    return prob[0, 0], reg[0]


def _nchw(image_hwc: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image_hwc.transpose(2, 0, 1)[None])


def _check_image(image: Any) -> None:
    if not isinstance(image, np.ndarray):
        raise ValueError(f"Expected an HxWx3 uint8 RGB numpy array, got {type(image).__name__}.")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"Expected an HxWx3 uint8 RGB image, got an array of shape {image.shape} and dtype {image.dtype}."
        )
