"""Per-track identity decisions: few embeddings per face, several views per decision.

Why per track: a face stays in view for many frames; embedding it every frame costs the most
compute of the pipeline and adds little. A track is embedded on first sight, then again every
`embed_every` frames or sooner when its face is clearly better (larger/sharper) than any view so
far, up to `max_attempts`. Each attempt is scored against every student (cosine, best over the
student's embeddings); the track's score per student is the mean of its attempts weighted by
quality x face size, so one blurred or turned frame cannot decide. After `min_attempts`:
best >= match threshold and ahead of the second student by `margin` -> that student;
best < unknown threshold -> unknown (None); in between -> undecided, keep trying; still undecided
after `max_attempts` -> reported unknown (the server never credits a student on doubt).

An unknown track is not given up while the tracker follows it: every `retry_every` frames it gets one
more view, and the track's score is taken again over its latest `max_views` views. Why: the first
views of a face decide on a few seconds of one pose (a head turned to the board, a hand at the chin),
and a student the camera met that way stayed unknown for the whole lecture. A retry can only turn an
unknown track into a student, with the same rule (match threshold and margin) on more views, never
the other way. When it does, the track's earlier unknown reports are sent again under the student
(same capture times): the tracker followed one face throughout, so the decision covers the whole
track, and the student's presence starts when the track did, not when the decision came.

Once a student is decided, the track stops being embedded and is reported again every `repeat_s`
seconds of capture time while it persists, so the server sees continued presence. That is the presence
heartbeat: the agent passes every track the tracker still follows (also one whose face was not
found in this frame), so a student who turns away stays *in the room* on the server's live roster,
which says *out* after `ATTENDANCE_OUT_AFTER_SECONDS` (90 s: three missed beats of 30 s;
server/attendance/presence.py). It stops when the tracker drops the track.

The track's best view is the attempt with the highest weight (quality x face size: sharp and
large). Every event of an *unknown* track carries that view's crop and embedding (the instructor
must see the face to decide who it was; the server clusters unknown faces by the embedding); a
recognised track's events carry no embedding, and its crop only when the crop mode is "all"
(privacy: docs/attendance.md). Each event carries them so that any one that reaches the server
(a lecture boundary, an outbox eviction, a retention pass) still shows the face.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from shared.embed import require_embedder
from shared.messages import Gallery, SightingEvent, encode_embedding
from shared.quality import Quality
from shared.similarity import l2_normalize


@dataclass(frozen=True)
class RecognizerSettings:
    match_threshold: float | None = None  # None: the gallery's threshold
    unknown_threshold: float | None = None  # None: match threshold - unknown_gap
    unknown_gap: float | None = None  # None: the gallery's embedder's (shared.embed, `unknown_gap`)
    margin: float | None = None  # None: the gallery's embedder's lead over the second student
    min_attempts: int = 3
    max_attempts: int = 8
    embed_every: int = 5
    improve_ratio: float = 1.25
    repeat_s: float = 30.0
    retry_every: int = 25  # frames between two more views of an unknown track (0: never look again)
    max_views: int = 32  # the latest views a track's score is taken over (bounds memory and work)


def quality_value(quality: Quality) -> float:
    """One number in [0, 1] from the quality verdict: size, detector score, sharpness and pose."""
    size = min(quality.face_px / 120.0, 1.0)
    sharp = min(quality.sharpness / 100.0, 1.0)
    turn = max(abs(quality.pose.yaw), abs(quality.pose.pitch), abs(quality.pose.roll))
    pose = max(0.0, 1.0 - turn / 90.0)
    value = (size * sharp * pose * max(quality.score, 0.0)) ** 0.25
    return round(float(value if quality.passed else value * 0.5), 4)


def _embedder_spec(model: str) -> dict[str, object]:
    """The embedder's settings for a gallery's model; an unknown one gets dlib-like defaults."""
    try:
        return require_embedder(model)
    except ValueError:
        return {}


class GalleryIndex:
    """The gallery as one normalised matrix plus which student owns each row."""

    def __init__(self, gallery: Gallery):
        self.sha256 = gallery.sha256
        self.version = gallery.version  # a new threshold comes as a new version with the same sha256
        self.threshold = float(gallery.threshold)
        # A course's calibrated unknown threshold (None: threshold - unknown_gap).
        unknown = gallery.unknown_threshold
        self.unknown_threshold = None if unknown is None else float(unknown)
        spec = _embedder_spec(gallery.model)
        self.unknown_gap = float(spec.get("unknown_gap", 0.04))
        self.margin = float(spec.get("margin", 0.01))
        self.student_ids = [s.student_id for s in gallery.students if len(s.embeddings)]
        rows = [np.asarray(s.embeddings, np.float32) for s in gallery.students if len(s.embeddings)]
        self.matrix = l2_normalize(np.concatenate(rows)) if rows else np.zeros((0, 1), np.float32)
        self.owner = np.concatenate([np.full(len(r), i) for i, r in enumerate(rows)]) if rows else np.zeros(0)

    def scores(self, embedding: np.ndarray) -> np.ndarray:
        """Best cosine per student (gallery order) for one embedding."""
        if not self.student_ids:
            return np.zeros(0)
        sims = self.matrix @ l2_normalize(np.asarray(embedding, np.float32))
        best = np.full(len(self.student_ids), -1.0)
        np.maximum.at(best, self.owner.astype(int), sims)
        return best


@dataclass
class _TrackState:
    embeddings: list[np.ndarray] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    qualities: list[float] = field(default_factory=list)
    last_attempt_frame: int = -(10**9)
    best_size_quality: float = 0.0
    decided: bool = False
    student_id: int | None = None
    score: float = 0.0
    last_report: datetime | None = None
    unknown_reports: list[datetime] = field(default_factory=list)  # sent again if a retry names a student
    fresh_views: int = 0  # views added since the last decision
    best_weight: float = 0.0  # the best view's quality x size: its crop and embedding are kept
    best_embedding: np.ndarray | None = None
    crop: Callable[[], bytes | None] | None = None  # encodes the best view's crop (on first use)
    thumbnail: bytes | None = None
    encoded: bool = False


class Recognizer:
    """`wants()` -> the agent embeds -> `add()`; `step()` once per frame returns the events."""

    def __init__(
        self,
        gallery: Callable[[], Gallery | None],
        settings: RecognizerSettings | None = None,
        crops: Callable[[], str] = lambda: "unknown",
        model: Callable[[], str | None] | None = None,
    ):
        """`crops`: the crop mode now (shared.messages.CROP_MODES; a command may change it while
        running); `model`: the embedder id the embeddings come from (default: the gallery's)."""
        self.gallery = gallery
        self.settings = settings or RecognizerSettings()
        self.crops = crops
        self.model = model or (lambda: getattr(self.gallery(), "model", None))
        self.tracks: dict[int, _TrackState] = {}
        self.embeddings_used = 0
        self._index: GalleryIndex | None = None

    def wants(self, track_id: int, frame_index: int, size_quality: float) -> bool:
        """Embed this track's face now? `size_quality` is a cheap pre-embedding goodness (e.g. px x score)."""
        state = self.tracks.setdefault(track_id, _TrackState())
        s = self.settings
        if state.decided:  # a student is final; an unknown track is looked at again now and then
            unknown = state.student_id is None and s.retry_every > 0
            return unknown and frame_index - state.last_attempt_frame >= s.retry_every
        if len(state.embeddings) >= s.max_attempts:
            return False
        if not state.embeddings:
            return True
        since = frame_index - state.last_attempt_frame
        improved = size_quality > state.best_size_quality * s.improve_ratio and since >= 2
        return since >= s.embed_every or improved

    def add(
        self,
        track_id: int,
        frame_index: int,
        embedding: np.ndarray,
        quality: Quality,
        size_quality: float,
        thumbnail: Callable[[], bytes | None] | None = None,
    ) -> None:
        state = self.tracks.setdefault(track_id, _TrackState())
        value = quality_value(quality)
        size = min(quality.face_px, 160.0) / 160.0
        weight = max(value * size, 1e-3)
        state.embeddings.append(np.asarray(embedding, np.float32))
        state.weights.append(weight)
        state.qualities.append(value)
        state.last_attempt_frame = frame_index
        if weight >= state.best_weight:  # the best view so far: its crop and embedding are kept
            state.best_weight, state.best_embedding = weight, state.embeddings[-1]
            state.crop, state.thumbnail, state.encoded = thumbnail, None, False
        state.best_size_quality = max(state.best_size_quality, size_quality)
        state.fresh_views += 1
        if len(state.embeddings) > max(self.settings.max_views, self.settings.max_attempts):
            del state.embeddings[0], state.weights[0], state.qualities[0]  # the oldest view
        self.embeddings_used += 1

    def step(
        self, confirmed: Iterable[int], removed: Iterable[int], captured_at: datetime
    ) -> list[SightingEvent]:
        """Decide confirmed tracks that have enough views, repeat decided ones, forget removed ones."""
        for track_id in removed:
            self.tracks.pop(track_id, None)
        events = []
        for track_id in confirmed:
            state = self.tracks.get(track_id)
            if state is None or not state.embeddings:
                continue
            if not state.decided:
                self._decide(state)
                if not state.decided:
                    continue
            elif state.student_id is None and state.fresh_views:
                self._retry(state)
                if state.student_id is not None:  # the earlier unknown reports, now under the student
                    events.extend(self._event(track_id, state, at) for at in state.unknown_reports)
                    state.unknown_reports.clear()
                    state.last_report = None  # and this frame's report now
            due = state.last_report is None or (
                (captured_at - state.last_report).total_seconds() >= self.settings.repeat_s
            )
            if due:
                state.last_report = captured_at
                events.append(self._event(track_id, state, captured_at))
                if state.student_id is None:
                    state.unknown_reports.append(captured_at)
        return events

    def decision(self, track_id: int) -> tuple[bool, int | None, float]:
        """(decided, student_id, score) of a track, for tests and logs."""
        state = self.tracks.get(track_id, _TrackState())
        return state.decided, state.student_id, state.score

    # ------------------------------------------------------------ internals

    def _current_index(self) -> GalleryIndex | None:
        gallery = self.gallery()
        if gallery is None:
            return None
        current = self._index
        if current is None or (current.sha256, current.version) != (gallery.sha256, gallery.version):
            self._index = GalleryIndex(gallery)
        return self._index

    def _decide(self, state: _TrackState) -> None:
        s = self.settings
        attempts = len(state.embeddings)
        if attempts < s.min_attempts:
            return
        state.fresh_views = 0
        index = self._current_index()
        if index is None or not index.student_ids:
            state.decided, state.student_id, state.score = True, None, 0.0
            return
        student, best, unknown = self._score(state, index)
        if student is not None:
            state.decided, state.student_id = True, student
        elif best < unknown or attempts >= s.max_attempts:
            state.decided, state.student_id = True, None

    def _retry(self, state: _TrackState) -> None:
        """An unknown track's new views: the same match rule over its latest views (never back to unknown)."""
        state.fresh_views = 0
        index = self._current_index()
        if index is not None and index.student_ids:
            state.student_id = self._score(state, index)[0]

    def _score(self, state: _TrackState, index: GalleryIndex) -> tuple[int | None, float, float]:
        """(the student the views match or None, their best combined score, the unknown threshold)."""
        s = self.settings
        match = s.match_threshold if s.match_threshold is not None else index.threshold
        gap = s.unknown_gap if s.unknown_gap is not None else index.unknown_gap
        margin = s.margin if s.margin is not None else index.margin
        if s.unknown_threshold is not None:
            unknown = s.unknown_threshold
        elif s.unknown_gap is None and index.unknown_threshold is not None:
            unknown = min(index.unknown_threshold, match)  # the course's calibrated one, never above a match
        else:
            unknown = match - gap
        weights = np.asarray(state.weights)
        per_student = np.stack([index.scores(e) for e in state.embeddings])
        combined = weights @ per_student / weights.sum()
        order = np.argsort(-combined)
        best = float(combined[order[0]])
        second = float(combined[order[1]]) if len(order) > 1 else -1.0
        state.score = round(best, 4)
        matched = best >= match and best - second >= margin
        return (index.student_ids[int(order[0])] if matched else None), best, unknown

    def _event(self, track_id: int, state: _TrackState, captured_at: datetime) -> SightingEvent:
        unknown = state.student_id is None
        mode = self.crops()
        model = self.model() if unknown and state.best_embedding is not None else None
        return SightingEvent(
            event_id=uuid.uuid4().hex,
            track_id=track_id,
            captured_at=captured_at,
            score=float(np.clip(state.score, -1.0, 1.0)),
            student_id=state.student_id,
            quality=round(max(state.qualities), 4),
            thumbnail_jpeg=self._crop(state) if mode == "all" or (mode == "unknown" and unknown) else None,
            embedding=encode_embedding(state.best_embedding) if model else None,
            embedding_model=model,
        )

    @staticmethod
    def _crop(state: _TrackState) -> bytes | None:
        """The best view's JPEG, encoded once (only tracks whose crop is sent pay for it)."""
        if not state.encoded and state.crop is not None:
            state.thumbnail, state.encoded, state.crop = state.crop(), True, None  # the chip is freed
        return state.thumbnail
