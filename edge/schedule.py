"""When to run the full-frame detector, and when re-detecting around live tracks is enough.

With a full classroom in view, full-frame MTCNN (the P-Net pyramid over 1280x720) is ~95 % of the
agent's time, yet between two frames almost every face is where the tracker predicts it. So:

* a **full** detection every `full_every` frames, on the first frame, whenever no track is alive,
  on the frame after a regional pass lost more than `lost_fraction` of the tracks it looked for
  (many people turned away or left: the tracker lost confidence), and before any track would be
  dropped (its misses reached the tracker's `max_age`): a face hidden for a moment is searched for
  over the whole frame before its track ends, not re-found later as a new track;
* otherwise a **regional** pass: R-Net and O-Net on proposals around each live track's predicted
  box (`MTCNN.redetect`), a few milliseconds per face. A face entering the room is picked up by the
  next full pass, at most `full_every - 1` frames later.

`full_every = 1` is detection on every frame (the agent before this schedule). Detectors without a
regional pass (YuNet) always run full.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.tracker import IouTracker, iou_matrix
from shared.detect import Face


@dataclass
class DetectionSettings:
    """The `[detection]` table of the edge config."""

    full_every: int = 5  # frames per full-frame detection (1 = every frame)
    lost_fraction: float = 0.1  # a regional pass that loses more of its tracks forces a full one
    max_track_misses: int = 2  # tracks unseen for longer are not looked for regionally
    max_face_size: int | None = None  # px: the pyramid skips levels for larger faces (camera geometry)
    region_zooms: tuple[float, ...] = (1.0, 1.25)  # proposals per track: its box, and 25 % larger

    def check(self) -> str | None:
        """Why these settings are unusable, or None."""
        every = self.full_every
        if not isinstance(every, int) or isinstance(every, bool) or not 1 <= every <= 100:
            return "full_every must be a whole number from 1 to 100"
        if not isinstance(self.lost_fraction, (int, float)) or not 0.0 <= self.lost_fraction <= 1.0:
            return "lost_fraction must be between 0 and 1"
        if not isinstance(self.max_track_misses, int) or not 0 <= self.max_track_misses <= 30:
            return "max_track_misses must be a whole number from 0 to 30"
        if self.max_face_size is not None and (
            not isinstance(self.max_face_size, int) or not 12 <= self.max_face_size <= 4096
        ):
            return "max_face_size must be a whole number of pixels from 12 to 4096"
        zooms = self.region_zooms
        if (
            not isinstance(zooms, (list, tuple))
            or not 1 <= len(zooms) <= 4
            or not all(isinstance(z, (int, float)) and 0.5 <= z <= 2.0 for z in zooms)
        ):
            return "region_zooms must hold 1 to 4 factors between 0.5 and 2"
        return None


class DetectionSchedule:
    """`detect(detector, frame, tracker)` once per frame, before `tracker.update`. The detector is
    passed each time: a model bundle swap replaces it between frames."""

    def __init__(self, settings: DetectionSettings | None = None):
        self.settings = settings or DetectionSettings()
        self.full_passes = 0
        self.regional_passes = 0
        self._since_full = 0
        self._force_full = True

    def detect(self, detector: Any, frame: np.ndarray, tracker: IouTracker) -> tuple[list[Face], str]:
        """The faces of this frame and which pass found them ("full" or "regional")."""
        s = self.settings
        looked_for = [t for t in tracker.tracks.values() if t.misses <= s.max_track_misses]
        # A track the tracker drops if this frame misses it again gets a full pass first: a face is
        # never given up (and later re-found as a new, unknown track) on a regional pass alone.
        expiring = any(t.misses >= tracker.max_age for t in tracker.tracks.values())
        full = (
            not hasattr(detector, "redetect")
            or self._force_full
            or expiring
            or not looked_for
            or self._since_full + 1 >= s.full_every
        )
        if full:
            self.full_passes += 1
            self._since_full = 0
            self._force_full = False
            return detector.detect(frame), "full"
        self.regional_passes += 1
        self._since_full += 1
        predicted = np.array([t.predicted() for t in looked_for])
        faces = detector.redetect(frame, predicted, shifts=(0.0,), zooms=s.region_zooms)
        boxes = np.array([f.box for f in faces]).reshape(-1, 4)
        found = (iou_matrix(predicted, boxes).max(axis=1) >= tracker.iou_threshold) if len(faces) else 0
        lost = len(looked_for) - int(np.sum(found))
        if lost > s.lost_fraction * len(looked_for):
            self._force_full = True
        return faces, "regional"
