"""The edge agent loop: capture -> detect -> track -> (align, quality, embed when asked) -> outbox.

Only faces the recognizer asks for are aligned and embedded (a few per track, see
`edge.recognizer`); every other detection costs just the detector and the tracker. Events go to the
SQLite outbox first (durable), then the publisher is woken to send them; with `mqtt=False` they
stay in the outbox (tests, offline runs). Each stage's time goes to the telemetry collector.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from edge.capture import FrameSource
from edge.commands import CommandExecutor, agent_handlers
from edge.config import EdgeConfig
from edge.gallery import GalleryStore
from edge.models_sync import ModelUpdater
from edge.outbox import Outbox
from edge.recognizer import Recognizer
from edge.schedule import DetectionSchedule
from edge.telemetry import TelemetryCollector, model_versions
from edge.tracker import IouTracker
from shared.analysis import FaceAnalyzer
from shared.detectors import quality_thresholds
from shared.embed import embedder_id
from shared.messages import Telemetry
from shared.model_registry import MANIFEST_NAME, ModelRegistry
from shared.quality import assess

log = logging.getLogger(__name__)


@dataclass
class RunStats:
    frames: int = 0
    faces: int = 0
    embeddings: int = 0
    events: int = 0
    full_detections: int = 0  # frames detected over the whole picture (edge.schedule)
    regional_detections: int = 0  # frames re-detected only around live tracks
    first_capture: datetime | None = None
    last_capture: datetime | None = None


def thumbnail_jpeg(chip: np.ndarray) -> bytes | None:
    """A small JPEG of the aligned chip (under the 16 KiB the message allows), or None."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(chip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    return bytes(data) if ok and len(data) <= 16 * 1024 else None


class EdgeAgent:
    def __init__(self, config: EdgeConfig, analyzer: FaceAnalyzer | None = None, mqtt: bool = True):
        self.config = config
        # The model set: fetched from the server on first start, replaced when it announces another.
        self.models = ModelUpdater(config.models_path, config.server, self._load_models, config.embedder)
        if analyzer is None:
            self.models.ensure()
        embedder = config.embedder if analyzer is not None else self.models.embedder()
        self.analyzer = analyzer or self._load_models(self.models.directory, embedder)
        self.analyzer.prepare()
        for model, providers in self.analyzer.registry.providers_in_use().items():
            log.info("model %s runs on %s", model, ", ".join(providers))
        self.thresholds = quality_thresholds(config.detector, min_face_px=float(config.min_face_size))
        self.outbox = Outbox(config.outbox_path, ledger=config.ledger)
        self.gallery = GalleryStore(config.gallery_path, config.device_id, model=embedder_id(embedder))
        self.tracker = IouTracker(max_age=config.max_age, min_hits=config.min_hits)
        self.schedule = DetectionSchedule(config.detection)
        # The crop mode is read at every event: the set_crops command changes it while running.
        self.recognizer = Recognizer(
            lambda: self.gallery.current,
            config.recognizer,
            crops=lambda: self.config.crops,
            model=lambda: self.gallery.model,
        )
        self.telemetry = TelemetryCollector(
            config.device_id,
            outbox_stats=lambda: (self.outbox.depth(), self.outbox.inflight()),
            gallery_version=self.gallery.version,
            manifest_path=self._manifest_path(),
            providers=self.analyzer.registry.providers_in_use,
        )
        self.publisher = None
        # Server commands (edge.commands); an ack is sent at once in a telemetry message.
        self.commands = CommandExecutor(agent_handlers(self), on_ack=lambda _ack: self._telemetry_now())
        self._capture: FrameSource | None = None
        self._restart = threading.Event()
        if mqtt:
            from edge.mqtt import DevicePublisher

            self.publisher = DevicePublisher(
                config.device_id,
                self.outbox,
                config.broker,
                on_gallery=self.gallery.offer,
                on_command=self.commands,
                telemetry=self.telemetry_report,
                gallery_version=self.gallery.version,
                on_models=self.models.offer,
            )

    def _load_models(self, directory: Path, embedder: str) -> FaceAnalyzer:
        """An analyzer with its sessions open on the model set in `directory` (at start, and for a new
        bundle on the updater's thread, so the frame loop never waits for the models to load)."""
        return FaceAnalyzer(
            ModelRegistry(directory, options=self.config.runtime_options()),
            embedder=embedder,
            min_face_size=self.config.min_face_size,
            detector=self.config.detector,
            max_face_size=self.config.detection.max_face_size,
        ).prepare()

    def _manifest_path(self) -> Path | str:
        """The manifest telemetry reports: the model set in use when `models_dir` is set."""
        return self.models.directory / MANIFEST_NAME if self.config.models_dir else self.config.manifest_path

    def _take_models(self) -> None:
        """Switch to a newly installed model set between two frames. Another embedder drops the gallery
        and the tracks' embeddings: its vectors cannot be compared with theirs."""
        ready = self.models.take()
        if ready is None:
            return
        self.analyzer = ready.loaded
        self.telemetry.models = model_versions(ready.directory / MANIFEST_NAME)
        self.telemetry.providers = self.analyzer.registry.providers_in_use
        model = embedder_id(ready.embedder)
        if model != self.gallery.model:
            self.gallery.set_model(model)
            self.recognizer.tracks.clear()
            if self.publisher is not None:
                self.publisher.resync_gallery()  # the broker hands over the retained gallery again
        log.info("now running model bundle %s (embedder %s)", ready.version, model)

    def telemetry_report(self) -> Telemetry:
        """The collector's figures plus the latest command acknowledgements."""
        return dataclasses.replace(
            self.telemetry.snapshot(),
            acks=self.commands.acks(),
            models_bundle=self.models.version,
            models_error=self.models.last_error,
            capture_error=self._capture.last_error if self._capture is not None else None,
            crops=self.config.crops,
        )

    def _telemetry_now(self) -> None:
        if self.publisher is not None:
            self.publisher.telemetry_now()

    def restart_capture(self) -> bool:
        """Ask the run loop to reopen a live source (the `restart_capture` command); False for a file."""
        capture = self._capture
        if capture is None or not capture.live:
            return False
        self._restart.set()
        capture.stop()
        return True

    def run(self, source: str | None = None, max_frames: int | None = None) -> RunStats:
        def open_source() -> FrameSource:
            return FrameSource(
                source if source is not None else self.config.source,
                start_time=self.config.start_time,
                realtime=self.config.realtime,
                frame_interval_s=self.config.frame_interval_s,
                start_frame=self.config.start_frame,
            )

        capture = self._capture = open_source()
        stats = RunStats()
        if self.publisher is not None:
            self.publisher.start()
        try:
            while True:
                for frame, captured_at in capture.frames():
                    self.process(frame, captured_at, stats)
                    if max_frames is not None and stats.frames >= max_frames:
                        break
                if not self._restart.is_set() or (max_frames is not None and stats.frames >= max_frames):
                    break
                self._restart.clear()  # the restart_capture command stopped the source: reopen it
                log.info("reopening the capture source (restart_capture)")
                capture = self._capture = open_source()
            if (
                self.publisher is not None
                and not capture.live
                and not self.publisher.drain(self.config.drain_s)
            ):
                log.warning(
                    "%d events not yet delivered stay in the outbox for the next run", self.outbox.depth()
                )
        finally:
            capture.stop()
            if self.publisher is not None:
                self.publisher.stop()
            self.models.close()
            self.outbox.close()
        return stats

    def process(self, frame: np.ndarray, captured_at: datetime, stats: RunStats) -> None:
        self._take_models()
        stats.frames += 1
        stats.first_capture = stats.first_capture or captured_at
        stats.last_capture = captured_at
        started = time.perf_counter()
        found, kind = self.schedule.detect(self.analyzer.detector, frame, self.tracker)
        faces = [f for f in found if min(f.width, f.height) >= self.config.min_face_size]
        if kind == "full":
            stats.full_detections += 1
        else:
            stats.regional_detections += 1
        self._stage("detect" if kind == "full" else "redetect", started)
        stats.faces += len(faces)

        started = time.perf_counter()
        tracks = self.tracker.update([f.box for f in faces])
        frame_index = self.tracker.frame_index
        wanted = [
            (face, track)
            for face, track in zip(faces, tracks, strict=True)
            if self.recognizer.wants(track.track_id, frame_index, min(face.width, face.height) * face.score)
        ]
        self._stage("track", started)

        if wanted:
            started = time.perf_counter()
            chips = self.analyzer.align(frame, [face for face, _ in wanted])
            self._stage("align", started)
            started = time.perf_counter()
            embeddings = self.analyzer.embed(frame, [face for face, _ in wanted], chips)
            self._stage("embed", started)
            for (face, track), chip, embedding in zip(wanted, chips, embeddings, strict=True):
                self.recognizer.add(
                    track.track_id,
                    frame_index,
                    embedding,
                    assess(face, chip, self.thresholds),
                    min(face.width, face.height) * face.score,
                    thumbnail=(lambda c=chip: thumbnail_jpeg(c)) if self.config.crops != "off" else None,
                )

        confirmed = [t.track_id for t in self.tracker.tracks.values() if self.tracker.confirmed(t)]
        events = self.recognizer.step(confirmed, self.tracker.removed, captured_at)
        if events:
            started = time.perf_counter()
            stats.events += self.outbox.add(events, evict_unknown=True)
            self._stage("outbox", started)
            if self.publisher is not None:
                self.publisher.wake()
        stats.embeddings = self.recognizer.embeddings_used
        self.telemetry.frame(len(faces))

    def _stage(self, name: str, started: float) -> None:
        self.telemetry.stage(name, (time.perf_counter() - started) * 1000.0)
