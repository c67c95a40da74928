"""Edge agent settings from one TOML or JSON file (`visage edge run --config FILE`).

Example (TOML):

    device_id = "room-101"
    source = "rtsp://camera.local/stream"   # or 0 (USB index) or a video file
    start_time = "2026-03-02T09:00:00Z"     # files only: capture time of the first frame
    outbox_path = "/var/lib/visage/outbox.sqlite"
    gallery_path = "/var/lib/visage/gallery.json"
    models_dir = "/var/lib/visage/models"   # pulled model bundles; default: shared.model_registry's models/
    crops = "unknown"                       # best face crop of unknown tracks only (default); "all", "off"
    drain_s = 10                            # files: wait this long at the end to deliver the outbox
    min_face_size = 40
    detector = "mtcnn"                      # or "yunet": faster, see docs/face-core.md

    [broker]
    host = "mqtt.example.org"
    port = 8883
    tls = true
    username = "room-101"
    password = "..."

    [recognizer]
    margin = 0.025                          # default: the embedder's (shared/embed.py)
    repeat_s = 30                           # presence heartbeat: a followed, recognised track is
                                            # re-reported this often (capture time); the server's
                                            # live roster says "out" after ATTENDANCE_OUT_AFTER_SECONDS
                                            # (90 = 3 missed heartbeats): keep repeat_s <= a third of it

    [server]                                # where the model bundle comes from (edge/models_sync.py)
    url = "https://visage.example.org"
    token = "vsd_..."                       # `visage server device-token room-101` prints it once
    ca_certs = "/etc/visage/ca.crt"         # default: the system's CAs
    timeout_s = 30

    [detection]                             # edge/schedule.py
    full_every = 5                          # full-frame detection every 5th frame, tracks in between
    max_face_size = 160                     # px: the largest face this camera sees (default: any)

    [runtime]                               # onnxruntime (shared/runtime.py)
    providers = ["tensorrt", "cuda", "cpu"] # default "auto": those of the three the build offers
    tensorrt_fp16 = false
    tensorrt_workspace_mb = 1024            # engines cached under state_dir/trt-engines
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # JetPack 6 ships Python 3.10: the same parser, from its backport
    import tomli as tomllib

from edge.models_sync import ServerSettings
from edge.mqtt import MqttSettings
from edge.recognizer import RecognizerSettings
from edge.schedule import DetectionSettings
from shared.detectors import DETECTORS
from shared.messages import CROP_MODES, DEVICE_ID_PATTERN, parse_time
from shared.model_registry import default_models_dir
from shared.runtime import CudaOptions, ProviderError, RuntimeOptions, TensorrtOptions, resolve_providers


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or holds a wrong value."""


@dataclass
class RuntimeSettings:
    """The `[runtime]` table: execution providers and their options, handed to every model session."""

    providers: str | list[str] = "auto"  # "auto", or names such as ["tensorrt", "cuda", "cpu"]
    intra_op_threads: int = 0  # 0: onnxruntime's default (one per core)
    tensorrt_fp16: bool = False
    tensorrt_workspace_mb: int = 1024
    tensorrt_engine_cache: bool = True  # engines kept in state_dir/trt-engines (minutes to build)
    cuda_device_id: int = 0

    def provider_names(self) -> tuple[str, ...]:
        if isinstance(self.providers, str):
            return tuple(self.providers.split(","))
        return tuple(str(name) for name in self.providers)

    def options(self, state_dir: Path) -> RuntimeOptions:
        return RuntimeOptions(
            providers=self.provider_names(),
            intra_op_threads=self.intra_op_threads,
            tensorrt=TensorrtOptions(
                engine_cache_dir=str(state_dir / "trt-engines") if self.tensorrt_engine_cache else None,
                fp16=self.tensorrt_fp16,
                workspace_mb=self.tensorrt_workspace_mb,
            ),
            cuda=CudaOptions(device_id=self.cuda_device_id),
        )


@dataclass
class EdgeConfig:
    device_id: str
    source: str = "0"
    start_time: datetime | None = None
    realtime: bool = False
    frame_interval_s: float | None = None  # files: simulated capture seconds per frame (simulate/)
    start_frame: int = 0  # files: resume a video here (a restarted simulation)
    ledger: bool = False  # keep every event id in the outbox's ledger table (simulator loss checks)
    outbox_path: str = "edge-outbox.sqlite"
    gallery_path: str = "edge-gallery.json"
    # Which tracks' best face crop rides in their events (shared.messages.CROP_MODES): "unknown" (the
    # instructor must see an unknown face to decide who it was), "all" (recognised students' too:
    # off by default for privacy) or "off". The older `thumbnails = true/false` means "all"/"unknown".
    crops: str = "unknown"
    drain_s: float = 10.0  # a file that ended: wait this long for the outbox to be delivered
    min_face_size: int = 40
    embedder: str = "sface"
    detector: str = "mtcnn"  # or "yunet" (shared.detectors; docs/face-core.md, "Detectors")
    manifest_path: str = "models/manifest.json"
    max_age: int = 15
    min_hits: int = 2
    broker: MqttSettings = field(default_factory=MqttSettings)
    recognizer: RecognizerSettings = field(default_factory=RecognizerSettings)
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    detection: DetectionSettings = field(default_factory=DetectionSettings)
    state_dir: str | None = None  # the device's own files (TensorRT engines); default: the outbox's folder
    models_dir: str | None = None  # where pulled bundles live (edge.models_sync); None: default_models_dir()
    server: ServerSettings = field(default_factory=ServerSettings)

    @property
    def models_path(self) -> Path:
        return Path(self.models_dir) if self.models_dir else default_models_dir()

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir) if self.state_dir else Path(self.outbox_path).resolve().parent

    def runtime_options(self) -> RuntimeOptions:
        return self.runtime.options(self.state_path)


def _section(cls: type, data: Any, name: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"[{name}] must be a table of settings.")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"Unknown setting(s) in [{name}]: {', '.join(unknown)}.")
    return cls(**data)


def parse_config(data: dict[str, Any]) -> EdgeConfig:
    data = dict(data)
    broker = _section(MqttSettings, data.pop("broker", {}), "broker")
    recognizer = _section(RecognizerSettings, data.pop("recognizer", {}), "recognizer")
    runtime = _section(RuntimeSettings, data.pop("runtime", {}), "runtime")
    detection = _section(DetectionSettings, data.pop("detection", {}), "detection")
    server = _section(ServerSettings, data.pop("server", {}), "server")
    if "source" in data:
        data["source"] = str(data["source"])
    if "thumbnails" in data:
        data["crops"] = _legacy_thumbnails(data.pop("thumbnails"), "crops" in data)
    if data.get("start_time") is not None:
        try:
            data["start_time"] = parse_time(str(data["start_time"]), "start_time")
        except ValueError as exc:
            raise ConfigError(f"start_time: {exc}") from None
    config = _section(
        EdgeConfig,
        {**data, "broker": broker, "recognizer": recognizer, "runtime": runtime, "detection": detection},
        "top level",
    )
    if not isinstance(config.device_id, str) or not DEVICE_ID_PATTERN.match(config.device_id):
        raise ConfigError("device_id must be 1-64 letters, digits, '_' or '-'.")
    if str(config.broker.protocol) not in ("5", "3.1.1"):
        raise ConfigError('[broker] protocol must be "5" or "3.1.1".')
    config.broker.protocol = str(config.broker.protocol)
    if config.crops not in CROP_MODES:
        raise ConfigError(f"crops must be one of {', '.join(CROP_MODES)}, not {config.crops!r}.")
    if config.min_face_size < 12:
        raise ConfigError("min_face_size must be at least 12 pixels.")
    if config.detector not in DETECTORS:
        raise ConfigError(f"detector must be one of {', '.join(DETECTORS)}, not {config.detector!r}.")
    _check_runtime(config.runtime)
    _check_heartbeat(config.recognizer)
    problem = config.detection.check()
    if problem:
        raise ConfigError(f"[detection] {problem}.")
    config.detection.region_zooms = tuple(config.detection.region_zooms)
    if config.detection.max_face_size is not None and config.detection.max_face_size < config.min_face_size:
        raise ConfigError("[detection] max_face_size must be at least min_face_size.")
    config.server = server
    problem = server.check()
    if problem is not None:
        raise ConfigError(problem)
    return config


def _legacy_thumbnails(value: Any, with_crops: bool) -> str:
    """The crop mode an older `thumbnails` setting means: true "all", false "unknown" (false used to
    mean "no recognised student's crop", the default; unknown faces now need theirs for review)."""
    if with_crops:
        raise ConfigError("set crops or the older thumbnails, not both.")
    if not isinstance(value, bool):
        raise ConfigError('thumbnails must be true or false (or set crops = "unknown", "all" or "off").')
    return "all" if value else "unknown"


# The heartbeat must beat well inside the server's gap tolerance (5 min) or a seated student's
# presence would break up even in the final statuses.
MAX_REPEAT_S = 300.0


def _check_heartbeat(recognizer: RecognizerSettings) -> None:
    value = recognizer.repeat_s
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_REPEAT_S:
        raise ConfigError(
            f"[recognizer] repeat_s (the presence heartbeat) must be a number of seconds above 0 and at most"
            f" {MAX_REPEAT_S:.0f}, not {value!r}."
        )


def _check_runtime(runtime: RuntimeSettings) -> None:
    names = runtime.providers
    if not isinstance(names, (str, list)) or not all(isinstance(name, str) for name in names):
        raise ConfigError('[runtime] providers must be "auto" or a list of names such as ["cuda", "cpu"].')
    try:
        resolve_providers(runtime.provider_names())
    except ProviderError as exc:
        raise ConfigError(f"[runtime] providers: {exc}") from None
    for name in ("intra_op_threads", "tensorrt_workspace_mb", "cuda_device_id"):
        value = getattr(runtime, name)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1 << 20:
            raise ConfigError(f"[runtime] {name} must be a whole number from 0 to {1 << 20}.")
    for name in ("tensorrt_fp16", "tensorrt_engine_cache"):
        if not isinstance(getattr(runtime, name), bool):
            raise ConfigError(f"[runtime] {name} must be true or false.")


def load_config(path: str | Path) -> EdgeConfig:
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"Cannot read the configuration {path}: {exc.strerror}.") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold an object of settings.")
    return parse_config(data)
