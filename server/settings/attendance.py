"""The institution's attendance rules (server/attendance/engine.py) and the roster page's refresh.

OUT_AFTER_SECONDS is three missed edge heartbeats of 30 s (server/attendance/presence.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic import Field

from server.settings.base import AreaSettings, keyed


class AttendanceSettings(AreaSettings):
    AREA: ClassVar[str] = "attendance"
    model_config = keyed("ATTENDANCE_")

    late_after_minutes: float = Field(
        10, ge=0, description="Arriving later than this after a period starts is late."
    )
    left_early_minutes: float = Field(
        10, ge=0, description="Leaving earlier than this before a period ends is left early."
    )
    min_presence: float = Field(
        0.5, ge=0, description="Fraction of a period (and of the session) needed to count."
    )
    gap_tolerance_minutes: float = Field(
        5, ge=0, description="Sightings this close belong to one continuous presence."
    )
    min_sightings: int = Field(3, ge=0, description="Fewer sightings in a period is absent.")
    min_confidence: float | None = Field(
        None, ge=0, description="Student sightings scoring lower are ignored; empty: none are."
    )
    dwell_seconds: float = Field(30, ge=0, description="Presence credited around each sighting.")
    window_margin_minutes: float = Field(
        10, ge=0, description="Sightings this long before/after a session still extend presence."
    )
    break_minutes: float = Field(0, ge=0, description="Break between consecutive periods.")
    out_after_seconds: float = Field(
        90, gt=0, description='Live roster: unseen longer than this while the session runs is "out".'
    )
    refresh_seconds: int = Field(5, ge=1, description="How often the session page polls its roster.")

    @property
    def out_after(self) -> timedelta:
        return timedelta(seconds=self.out_after_seconds)
