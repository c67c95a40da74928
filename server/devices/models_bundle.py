"""The model bundle the server offers its devices: the exported models folder, as one versioned unit.

Settings: `MODELS_DIR` (default: shared.model_registry.default_models_dir(), the folder `visage models
export` writes), `DEVICE_MODELS` (model names to offer, default all of its manifest) and the galleries'
`GALLERY_MODEL` (the bundle's embedder: devices must embed with what their galleries are made of).

Building the manifest hashes every file (~0.2 s for 60 MB), so the result is cached until the folder
changes: a signature of the manifest's and each file's size and modification time is compared on
every use (a few stat calls). A file that does not match its manifest entry is never offered; the
endpoints answer 503 until the export is fixed.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask

from server.faces.model import gallery_model
from server.settings import settings_of
from shared.bundle import BundleError, build_manifest, encode_manifest, manifest_sha256
from shared.model_registry import MANIFEST_NAME, default_models_dir


class BundleUnavailable(RuntimeError):
    """The server has no valid model set to offer (not exported, or a file does not match)."""


@dataclass(frozen=True)
class ServedBundle:
    manifest: dict[str, Any]
    raw: bytes  # the canonical manifest bytes devices receive (and the announcement's sha256 covers)
    sha256: str
    directory: Path
    signature: tuple[Any, ...]
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def embedder(self) -> str:
        return str(self.manifest["embedder"])


_cache: dict[tuple[Any, ...], ServedBundle] = {}
_lock = threading.Lock()


def bundle_settings(app: Flask) -> tuple[Path, str, tuple[str, ...] | None]:
    """(models folder, embedder id, model names or None for all) from the app's settings."""
    devices = settings_of(app).devices
    models_dir = Path(devices.models_dir or default_models_dir())
    try:
        embedder = gallery_model(app)
    except ValueError as exc:
        raise BundleUnavailable(f"GALLERY_MODEL: {exc}") from None
    names = devices.device_models
    return models_dir, embedder, tuple(sorted(names)) if names else None


def _signature(models_dir: Path) -> tuple[Any, ...]:
    """Sizes and modification times of the manifest and every file it lists (cheap to compare)."""
    manifest = models_dir / MANIFEST_NAME
    try:
        stat = manifest.stat()
        entries = json.loads(manifest.read_bytes()).get("models", {})
    except (OSError, ValueError, AttributeError):
        return ("missing",)
    parts: list[Any] = [stat.st_size, stat.st_mtime_ns]
    for entry in sorted(str(e.get("file")) for e in entries.values() if isinstance(e, dict)):
        try:
            file_stat = (models_dir / entry).stat()
            parts.append((entry, file_stat.st_size, file_stat.st_mtime_ns))
        except OSError:
            parts.append((entry, None))
    return tuple(parts)


def current_bundle(app: Flask) -> ServedBundle:
    """The bundle to offer now; BundleUnavailable with a sentence when there is none."""
    models_dir, embedder, names = bundle_settings(app)
    key = (str(models_dir), embedder, names)
    signature = _signature(models_dir)
    cached = _cache.get(key)
    if cached is not None and cached.signature == signature:
        return cached
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached.signature == signature:
            return cached
        try:
            manifest = build_manifest(models_dir, embedder, names, verify=True)
        except BundleError as exc:
            raise BundleUnavailable(str(exc)) from None
        raw = encode_manifest(manifest)
        bundle = ServedBundle(
            manifest=manifest,
            raw=raw,
            sha256=manifest_sha256(raw),
            directory=models_dir,
            signature=signature,
            files={entry["name"]: entry for entry in manifest["files"]},
        )
        _cache[key] = bundle
        return bundle
