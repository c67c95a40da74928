"""The shape every uploaded picture must have (server/uploads/policy.py). Their environment variables
VISAGE_IMAGE_MIN_SIDE / VISAGE_IMAGE_MAX_ASPECT are the ones `shared.media` reads too, so the
deepfake job (shared code, no app) applies the same limits as the upload did; the defaults here are
`shared.media`'s."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from server.settings.base import AreaSettings, keyed


class UploadSettings(AreaSettings):
    AREA: ClassVar[str] = "uploads"
    model_config = keyed("IMAGE_")

    min_side: int = Field(32, ge=1, description="Shorter side in pixels below which a picture is refused.")
    max_aspect: float = Field(
        20.0, ge=1, description="Longer side over shorter side above which a picture is refused."
    )
