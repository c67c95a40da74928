"""How long biometric and operational data is kept (server/retention.py, `visage server retention`).

Periods are days; empty or 0 keeps the data for ever. Each rule in server/retention.py is registered
under one of these keys; a test checks that the rules and the fields are the same set."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from server.settings.base import AreaSettings, keyed


class RetentionSettings(AreaSettings):
    AREA: ClassVar[str] = "retention"
    model_config = keyed("RETENTION_")

    sighting_thumbnail_days: int | None = Field(
        30, ge=0, description="Face crops and unknown faces' embeddings on sightings (the sighting stays)."
    )
    unknown_crops_days: int | None = Field(
        7,
        ge=0,
        description="Crops and embeddings of unknown faces, counted from their session's confirmation.",
    )
    sightings_days: int | None = Field(None, ge=0, description="Sightings themselves (attendance evidence).")
    telemetry_days: int | None = Field(90, ge=0, description="Device telemetry reports.")
    rejected_messages_days: int | None = Field(
        30, ge=0, description="Refused MQTT messages (their first KiB may hold a face thumbnail)."
    )
    jobs_days: int | None = Field(90, ge=0, description="Finished background jobs (status, result, error).")
    album_searches_days: int | None = Field(7, ge=0, description="Album key-photo searches.")
    deepfake_checks_days: int | None = Field(
        30, ge=0, description="Deepfake checks: the upload, crops and verdict."
    )
    batch: int = Field(1000, ge=1, description="Rows deleted per committed batch.")

    @field_validator("*", mode="before")
    @classmethod
    def _empty_keeps(cls, value: object) -> object:
        return None if value in ("", False) else value

    def days(self, key: str) -> int | None:
        """The period under config key `key`; None (keep for ever) for empty and 0."""
        name = next(name for name, alias in self.keys().items() if alias == key)
        return getattr(self, name) or None
