"""How often live pages poll (the home dashboards, devices list and page, album, deepfake history):
`LIVE_REFRESH_SECONDS` (default 5, at least 1). The attendance roster keeps its own
ATTENDANCE_REFRESH_SECONDS; all of them poll through the one helper, static/live.js."""

from __future__ import annotations

from server.settings import current_settings


def refresh_seconds() -> int:
    """The current app's LIVE_REFRESH_SECONDS (checked when the app started)."""
    return current_settings().server.live_refresh_seconds
