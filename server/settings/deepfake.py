"""Deepfake-check settings (`VISAGE_DEEPFAKE_FRAMES=16`, the VISAGE_CONFIG file, or `create_app({...})`).

Why these numbers:
* A phone video of a minute is 50 to 150 MB; 200 MB per file covers clips worth checking, and the
  decoder refuses videos over 10 minutes anyway (shared.deepfake.video).
* 32 frames per video is what DFDC solutions sampled; scoring takes a few seconds a video on a CPU,
  so one request of at most 20 files is a minute or two of queued work, not an hour.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from server.settings.base import AreaSettings, keyed

MiB = 1024 * 1024


class DeepfakeSettings(AreaSettings):
    AREA: ClassVar[str] = "deepfake"
    model_config = keyed("DEEPFAKE_")

    max_file_bytes: int = Field(200 * MiB, ge=1, description="Largest video or photo to check.")
    max_upload_bytes: int = Field(512 * MiB, ge=1, description="Largest request (all its files).")
    max_files_per_upload: int = Field(20, ge=1, description="Files in one request.")
    frames: int = Field(32, ge=1, description="Frames sampled per video.")
    models_dir: str | None = Field(
        None, description="Models folder; empty: `models/` (or `VISAGE_MODELS_DIR`)."
    )
    model_path: str | None = Field(
        None, description="The detector's ONNX file; empty: `deepfake_sbi` from the models folder."
    )
    history_page: int = Field(50, ge=1, description="Checks per page of the history.")
