"""Health figures of one device, gathered cheaply on the hot path and summarised into a Telemetry message.

The agent calls `frame()` once per processed frame and `stage()` per pipeline stage; `snapshot()`
turns the last `window_s` seconds into rolling rates and averages, so an operator sees the device's
present state, not its lifetime average.
"""

from __future__ import annotations

import glob
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from shared.messages import Telemetry


def model_versions(manifest_path: str | Path) -> dict[str, str]:
    """{model name: first 12 hex of its sha256} from models/manifest.json; {} when it is absent."""
    try:
        manifest = json.loads(Path(manifest_path).read_text())
    except (OSError, ValueError):
        return {}
    models = manifest.get("models", {}) if isinstance(manifest, dict) else {}
    return {
        name: str(entry["sha256"])[:12]
        for name, entry in sorted(models.items())
        if isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
    }


def cpu_temperature_c(pattern: str = "/sys/class/thermal/thermal_zone*/temp") -> float | None:
    """The hottest thermal zone in degrees C (Jetson and most ARM boards expose these), or None."""
    readings = []
    for path in glob.glob(pattern):
        try:
            value = float(Path(path).read_text().strip()) / 1000.0
        except (OSError, ValueError):
            continue
        if -50 <= value <= 150:  # the message contract's range; drop sensors that report garbage
            readings.append(value)
    return max(readings) if readings else None


class TelemetryCollector:
    """Rolling counters for the agent loop; thread-safe so the publisher thread can snapshot."""

    def __init__(
        self,
        device_id: str,
        outbox_stats: Callable[[], tuple[int, int]] = lambda: (0, 0),
        gallery_version: Callable[[], int | None] = lambda: None,
        manifest_path: str | Path = "models/manifest.json",
        providers: Callable[[], dict[str, list[str]]] = dict,
        window_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.device_id = device_id
        self.outbox_stats = outbox_stats
        self.gallery_version = gallery_version
        self.window_s = window_s
        self.clock = clock
        self.models = model_versions(manifest_path)
        self.providers = providers
        self._started = clock()
        self._frames: deque[tuple[float, int]] = deque()  # (time, faces in that frame)
        self._stages: dict[str, deque[tuple[float, float]]] = {}
        self._lock = threading.Lock()

    def frame(self, faces: int = 0) -> None:
        with self._lock:
            self._frames.append((self.clock(), faces))
            self._trim(self._frames)

    def stage(self, name: str, milliseconds: float) -> None:
        with self._lock:
            samples = self._stages.setdefault(name, deque())
            samples.append((self.clock(), milliseconds))
            self._trim(samples)

    def snapshot(self) -> Telemetry:
        with self._lock:
            now = self.clock()
            self._trim(self._frames)
            span = min(self.window_s, max(now - self._started, 1e-6))
            fps = len(self._frames) / span
            faces = sum(n for _, n in self._frames) / span
            stage_ms = {}
            for name, samples in self._stages.items():
                self._trim(samples)
                if samples:
                    stage_ms[name] = sum(ms for _, ms in samples) / len(samples)
            uptime = now - self._started
        depth, capacity = self.outbox_stats()
        return Telemetry(
            device_id=self.device_id,
            at=datetime.now(timezone.utc),
            fps=min(fps, 1000.0),
            faces_per_second=min(faces, 1e5),
            outbox_depth=depth,
            outbox_capacity=capacity,
            stage_ms=stage_ms,
            gallery_version=self.gallery_version(),
            models=self.models,
            providers={model: tuple(names) for model, names in self.providers().items()},
            cpu_temperature_c=cpu_temperature_c(),
            uptime_s=uptime,
        )

    def _trim(self, samples: deque) -> None:
        limit = self.clock() - self.window_s
        while samples and samples[0][0] < limit:
            samples.popleft()
