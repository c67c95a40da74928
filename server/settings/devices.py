"""The model bundle classroom devices download (server/devices/models_bundle.py)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from server.settings.base import AreaSettings, keyed


class DevicesSettings(AreaSettings):
    AREA: ClassVar[str] = "devices"
    model_config = keyed("")

    models_dir: str | None = Field(
        None,
        description="The exported models folder; empty: `VISAGE_MODELS_DIR`, else the checkout's `models/`.",
    )
    device_models: list[str] | None = Field(
        None,
        description="Which of its models the bundle holds (a list, or names and commas); empty: all.",
    )

    @field_validator("device_models", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        """`VISAGE_DEVICE_MODELS=a,b` (not JSON) names models too."""
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()] or None
        return value
