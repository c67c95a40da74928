"""Deepfake-check settings, overridable like any server setting (`VISAGE_DEEPFAKE_FRAMES=16`, the
VISAGE_CONFIG file, or `create_app({...})`).

Why these numbers:
* A phone video of a minute is 50 to 150 MB; 200 MB per file covers clips worth checking, and the
  decoder refuses videos over 10 minutes anyway (shared.deepfake.video).
* 32 frames per video is what DFDC solutions sampled; scoring takes a few seconds a video on a CPU,
  so one request of at most 20 files is a minute or two of queued work, not an hour.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

MiB = 1024 * 1024

DEFAULTS: dict[str, Any] = {
    "DEEPFAKE_MAX_FILE_BYTES": 200 * MiB,
    "DEEPFAKE_MAX_UPLOAD_BYTES": 512 * MiB,  # one request, all its files
    "DEEPFAKE_MAX_FILES_PER_UPLOAD": 20,
    "DEEPFAKE_FRAMES": 32,
    "DEEPFAKE_MODELS_DIR": None,  # None: models/ (or $VISAGE_MODELS_DIR)
    "DEEPFAKE_MODEL_PATH": None,  # None: deepfake_sbi from the models folder
    "DEEPFAKE_HISTORY_PAGE": 50,
}


def init_app(app: Flask) -> None:
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)


def setting(key: str) -> Any:
    """The current app's value of a deepfake setting (its default when the app never set it)."""
    return current_app.config.get(key, DEFAULTS[key])
