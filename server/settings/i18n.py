"""Language and time zone of the pages (server/i18n.py, docs/i18n.md)."""

from __future__ import annotations

from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from server.settings.base import AreaSettings, keyed


class I18nSettings(AreaSettings):
    AREA: ClassVar[str] = "i18n"
    model_config = keyed("")

    default_locale: str = Field(
        "en", description="The pages' language when neither the user's setting nor Accept-Language picks one."
    )
    display_timezone: str = Field(
        "Asia/Seoul", description='IANA time zone every page shows times in; "today" is its calendar day.'
    )
    attendance_timezone: str | None = Field(
        None, description="Older name of DISPLAY_TIMEZONE; wins when set."
    )

    @field_validator("display_timezone", "attendance_timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError("is not a known IANA time zone") from None
        return value
