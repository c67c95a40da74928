"""Frames from a camera, an RTSP stream or a video file, paced so the agent never falls behind.

Why two pacing modes: a live source produces frames whether we read them or not, so a grabber
thread keeps only the newest frame and the loop always works on the present (old frames are
dropped, never queued). A file has no "present": by default it is read as fast as the agent
processes it (`realtime=False`: every frame, deterministic, what tests and simulations want);
with `realtime=True` frames whose timestamp is already behind the wall clock are skipped with
`grab()` (no decode), as if the file were a camera.

Capture times: a live frame is stamped with the UTC time it was grabbed; a file frame with
`start_time + frame_index / fps`, so a simulated lecture has the same times on every run.
`frame_interval_s` replaces `1 / fps` for files: a simulated clock, so a video composed in
compressed time (e.g. one frame per 10 s of lecture, see `simulate/`) is stamped with the
lecture's own time rather than the container's frame rate.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

LIVE_PREFIXES = ("rtsp://", "rtsps://", "http://", "https://", "udp://", "tcp://")


class CaptureError(RuntimeError):
    """The source cannot be opened at all (a missing file, an unknown device index)."""


def parse_source(source: str | int) -> str | int:
    """A USB camera index (digits) becomes an int; URLs and paths stay strings."""
    if isinstance(source, int):
        return source
    text = str(source).strip()
    return int(text) if text.isdigit() else text


def redacted(source: str | int) -> str:
    """The source as logs and telemetry may show it: a URL's password replaced by ***."""
    text = str(source)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    userinfo, at, host = rest.partition("@")
    if not at or "/" in userinfo:
        return text
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in userinfo else text


def is_live(source: str | int) -> bool:
    return isinstance(source, int) or str(source).lower().startswith(LIVE_PREFIXES)


class FrameSource:
    """Iterate `frames()` for (frame_rgb, capture_time_utc); `stop()` ends it from another thread."""

    def __init__(
        self,
        source: str | int,
        start_time: datetime | None = None,
        realtime: bool = False,
        frame_interval_s: float | None = None,
        start_frame: int = 0,
        reconnect_min_s: float = 1.0,
        reconnect_max_s: float = 30.0,
        opener: Callable[[str | int], cv2.VideoCapture] = cv2.VideoCapture,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.source = parse_source(source)
        self.live = is_live(self.source)
        if not self.live and not Path(str(self.source)).is_file():
            raise CaptureError(f"Video file {self.source} does not exist.")
        self.start_time = start_time or datetime(2000, 1, 1, tzinfo=timezone.utc)
        if self.start_time.tzinfo is None:
            self.start_time = self.start_time.replace(tzinfo=timezone.utc)
        self.realtime = realtime
        if frame_interval_s is not None and not frame_interval_s > 0:
            raise CaptureError(f"frame_interval_s must be positive, got {frame_interval_s}.")
        self.frame_interval_s = frame_interval_s
        self.start_frame = max(0, int(start_frame))  # files: frames skipped at the start (a resume)
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.opener = opener
        self.sleep = sleep
        self.dropped = 0
        self.reconnects = 0
        # Why a live source gives no frames right now (None while frames flow): sent in telemetry, so
        # a camera that never opens is visible on the devices page while the agent keeps retrying.
        self.last_error: str | None = None
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def frames(self) -> Iterator[tuple[np.ndarray, datetime]]:
        return self._live_frames() if self.live else self._file_frames()

    # ------------------------------------------------------------ files

    def _file_frames(self) -> Iterator[tuple[np.ndarray, datetime]]:
        capture = self.opener(self.source)
        if not capture.isOpened():
            raise CaptureError(f"OpenCV cannot open the video file {self.source}.")
        fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        fps = fps if 1.0 <= fps <= 1000.0 else 25.0  # some containers report 0 or nonsense
        index = 0
        while index < self.start_frame and capture.grab():
            index += 1
        began = time.monotonic() - index / fps
        try:
            while not self._stop.is_set():
                offset = index / fps
                if self.realtime and time.monotonic() - began > offset + 1.0 / fps:
                    if not capture.grab():  # behind the clock: skip without decoding
                        return
                    self.dropped += 1
                    index += 1
                    continue
                ok, frame = capture.read()
                if not ok:
                    return
                if self.realtime:
                    ahead = offset - (time.monotonic() - began)
                    if ahead > 0:
                        self.sleep(ahead)
                stamp = offset if self.frame_interval_s is None else index * self.frame_interval_s
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), self.start_time + timedelta(seconds=stamp)
                index += 1
        finally:
            capture.release()

    # ------------------------------------------------------------ live sources

    def _live_frames(self) -> Iterator[tuple[np.ndarray, datetime]]:
        latest: list[tuple[np.ndarray, datetime] | None] = [None]
        ready = threading.Condition()
        thread = threading.Thread(target=self._grab_loop, args=(latest, ready), daemon=True, name="capture")
        thread.start()
        try:
            while not self._stop.is_set():
                with ready:
                    while latest[0] is None and not self._stop.is_set():
                        ready.wait(0.5)
                    item, latest[0] = latest[0], None
                if item is not None:
                    frame, moment = item
                    yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), moment
        finally:
            self._stop.set()
            thread.join(5.0)

    def _grab_loop(self, latest: list, ready: threading.Condition) -> None:
        """Read continuously, keep only the newest frame; reopen with exponential backoff on failure."""
        delay = self.reconnect_min_s
        while not self._stop.is_set():
            capture = self.opener(self.source)
            if not capture.isOpened():
                self.last_error = (
                    f"cannot open the camera {redacted(self.source)}; retrying every {delay:.0f} s"
                )
                log.warning("cannot open %s; retrying in %.0f s", redacted(self.source), delay)
                capture.release()
                self.sleep(delay)
                delay = min(delay * 2, self.reconnect_max_s)
                continue
            while not self._stop.is_set():
                ok, frame = capture.read()
                if not ok:
                    self.last_error = (
                        f"the camera {redacted(self.source)} stopped sending frames; reconnecting"
                    )
                    log.warning("stream %s dropped; reconnecting", redacted(self.source))
                    self.reconnects += 1
                    break
                delay = self.reconnect_min_s  # a frame arrived: the next failure starts the backoff again
                self.last_error = None
                with ready:
                    if latest[0] is not None:
                        self.dropped += 1
                    latest[0] = (frame, datetime.now(timezone.utc))
                    ready.notify()
            capture.release()
            if not self._stop.is_set():
                self.sleep(delay)
                delay = min(delay * 2, self.reconnect_max_s)
