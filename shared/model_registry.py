"""The models/ folder and its manifest: the one place that finds and verifies a model.

`models/manifest.json` is written by `scripts/export_onnx.py`. Each entry records the
file's sha256; a session is only ever opened on a file whose hash matches, so a
half-written or tampered model is refused with a sentence, never half-used.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import onnxruntime as ort

from shared.runtime import RuntimeOptions, create_session, providers_in_use

MANIFEST_NAME = "manifest.json"
EXPORT_HINT = "run `visage models export` (or `python scripts/export_onnx.py`) to build it"


class ModelError(RuntimeError):
    """A model is missing, unlisted or does not match its manifest."""


def default_models_dir() -> Path:
    """`$VISAGE_MODELS_DIR`, else `models/` at the repository root."""
    env = os.environ.get("VISAGE_MODELS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "models"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(models_dir: Path) -> dict[str, Any]:
    path = models_dir / MANIFEST_NAME
    if not path.is_file():
        return {"format": 1, "models": {}}
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    data.setdefault("models", {})
    return data


def write_manifest(models_dir: Path, manifest: dict[str, Any]) -> None:
    """Write atomically so a crash never leaves a truncated manifest."""
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = models_dir / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(models_dir / MANIFEST_NAME)


class ModelRegistry:
    """Loads models by manifest name, verifying sha256 once per file, caching sessions."""

    def __init__(self, models_dir: Path | str | None = None, options: RuntimeOptions | None = None):
        self.models_dir = Path(models_dir) if models_dir else default_models_dir()
        self.options = options or RuntimeOptions()
        self._sessions: dict[str, ort.InferenceSession] = {}
        self._lock = threading.Lock()

    @property
    def manifest(self) -> dict[str, Any]:
        return read_manifest(self.models_dir)

    def has(self, name: str) -> bool:
        return name in self.manifest["models"] and (self.models_dir / self.entry(name)["file"]).is_file()

    def entry(self, name: str) -> dict[str, Any]:
        models = self.manifest["models"]
        if name not in models:
            raise ModelError(f"Model '{name}' is not in {self.models_dir / MANIFEST_NAME}; {EXPORT_HINT}.")
        return models[name]

    def path(self, name: str, verify: bool = True) -> Path:
        entry = self.entry(name)
        path = self.models_dir / entry["file"]
        if not path.is_file():
            raise ModelError(f"Model file {path} is missing; {EXPORT_HINT}.")
        if verify:
            actual = sha256_file(path)
            if actual != entry["sha256"]:
                raise ModelError(
                    f"Model file {path} does not match its manifest (sha256 {actual[:12]}..., "
                    f"expected {entry['sha256'][:12]}...); {EXPORT_HINT}."
                )
        return path

    def session(self, name: str) -> ort.InferenceSession:
        with self._lock:
            if name not in self._sessions:
                self._sessions[name] = create_session(self.path(name), self.options)
            return self._sessions[name]

    def providers_in_use(self) -> dict[str, list[str]]:
        """{model: the execution providers its open session runs on, preferred first}."""
        with self._lock:
            return {name: providers_in_use(session) for name, session in sorted(self._sessions.items())}
