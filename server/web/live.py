"""How often live pages poll (the home dashboards, devices list and page, album, deepfake history):
`LIVE_REFRESH_SECONDS` (default 5, at least 1). The attendance roster keeps its own
ATTENDANCE_REFRESH_SECONDS; all of them poll through the one helper, static/live.js."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_REFRESH_SECONDS = 5


def refresh_seconds(config: Mapping[str, Any]) -> int:
    value = config.get("LIVE_REFRESH_SECONDS", DEFAULT_REFRESH_SECONDS)
    try:
        return max(1, round(float(value)))
    except (TypeError, ValueError):
        raise ValueError(f"LIVE_REFRESH_SECONDS must be a number, got {value!r}") from None
