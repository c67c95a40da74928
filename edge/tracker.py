"""Multi-face IoU tracker: which detection in this frame is the same face as in the last one.

Each track predicts its next box with a constant-velocity model (the box moves by its smoothed
per-frame displacement; enough for people walking into a classroom at camera frame rates, and
far cheaper than a Kalman filter). Detections are assigned to predictions by IoU: optimally with
the Hungarian method when scipy is installed, otherwise greedily by descending IoU (the same result
whenever faces do not overlap, which is the usual case). Unmatched detections start tracks;
tracks unseen for more than `max_age` frames are dropped. A track is `confirmed` after
`min_hits` detections, so a one-frame false detection never produces a sighting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

try:  # optional: exact assignment; greedy is used without it
    from scipy.optimize import linear_sum_assignment
except ImportError:  # pragma: no cover - depends on the environment
    linear_sum_assignment = None


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes (x1, y1, x2, y2): shape (len(a), len(b))."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def assign(scores: np.ndarray, minimum: float) -> list[tuple[int, int]]:
    """(row, column) pairs maximising total IoU, each pair at least `minimum`."""
    if scores.size == 0:
        return []
    if linear_sum_assignment is not None:
        rows, cols = linear_sum_assignment(-scores)
        pairs = zip(rows.tolist(), cols.tolist(), strict=True)
    else:
        pairs = greedy_pairs(scores)
    return [(r, c) for r, c in pairs if scores[r, c] >= minimum]


def greedy_pairs(scores: np.ndarray) -> list[tuple[int, int]]:
    order = np.dstack(np.unravel_index(np.argsort(-scores, axis=None), scores.shape))[0]
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs = []
    for r, c in order.tolist():
        if r not in used_rows and c not in used_cols:
            used_rows.add(r)
            used_cols.add(c)
            pairs.append((r, c))
    return pairs


@dataclass
class Track:
    track_id: int
    box: np.ndarray
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    hits: int = 1
    misses: int = 0  # frames since the last matched detection
    first_frame: int = 0
    last_frame: int = 0

    def predicted(self) -> np.ndarray:
        return self.box + self.velocity * (self.misses + 1)


class IouTracker:
    """`update(boxes)` once per frame; returns the track of each detection, in order."""

    def __init__(
        self, iou_threshold: float = 0.3, max_age: int = 15, min_hits: int = 2, smoothing: float = 0.5
    ):
        self.iou_threshold = iou_threshold
        self.max_age = max_age
        self.min_hits = min_hits
        self.smoothing = smoothing
        self.tracks: dict[int, Track] = {}
        self.frame_index = -1
        self._next_id = 1
        self.removed: list[int] = []  # ids dropped by the last update

    def confirmed(self, track: Track) -> bool:
        return track.hits >= self.min_hits

    def update(self, boxes: Sequence[np.ndarray]) -> list[Track]:
        self.frame_index += 1
        detections = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        live = list(self.tracks.values())
        predictions = np.array([t.predicted() for t in live]).reshape(-1, 4)
        pairs = assign(iou_matrix(predictions, detections), self.iou_threshold)
        result: list[Track | None] = [None] * len(detections)
        matched_tracks = set()
        for row, col in pairs:
            track = live[row]
            step = (detections[col] - track.box) / (track.misses + 1)
            track.velocity = self.smoothing * track.velocity + (1 - self.smoothing) * step
            track.box = detections[col].copy()
            track.hits += 1
            track.misses = 0
            track.last_frame = self.frame_index
            matched_tracks.add(track.track_id)
            result[col] = track
        self.removed = []
        for track in live:
            if track.track_id not in matched_tracks:
                track.misses += 1
                if track.misses > self.max_age:
                    del self.tracks[track.track_id]
                    self.removed.append(track.track_id)
        for col, track in enumerate(result):
            if track is None:
                new = Track(
                    self._next_id,
                    detections[col].copy(),
                    first_frame=self.frame_index,
                    last_frame=self.frame_index,
                )
                self._next_id += 1
                self.tracks[new.track_id] = new
                result[col] = new
        return [t for t in result if t is not None]
