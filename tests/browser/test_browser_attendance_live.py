"""The live roster in a real headless Chromium (Playwright): during a running session, a student
whose sightings stopped more than ATTENDANCE_OUT_AFTER_SECONDS (90 s) ago reads "out of the room
since hh:mm", on the page the server renders and after the page's own refresh (static/attendance.js
rebuilds the rows from the JSON API).

Chromium, the live server and the sign-in form come from tests/browser/conftest.py; without Chromium
the test skips with a message, except under CI=true, where it fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import add_user, make_app, open_signed_in, serving
from tests.server.live_seed import live_world, see_until

# Pages show times in the deployment's zone (DISPLAY_TIMEZONE): a zone away from UTC, as in Korea.
ZONE = ZoneInfo("Asia/Seoul")


@pytest.fixture
def live(tmp_path) -> Iterator[SimpleNamespace]:
    """A session running now on a fresh SQLite database, served on a free localhost port."""
    from server.db import get_db, utcnow

    app = make_app(tmp_path, ATTENDANCE_REFRESH_SECONDS=1, DISPLAY_TIMEZONE=ZONE.key)
    database = get_db(app)
    now = utcnow().replace(microsecond=0)
    with database.session() as db:
        owner = add_user(db, app, "olga@school.example", "Olga Owner", "instructor")
        world = live_world(db, owner, now)
    try:
        with serving(app) as base:
            yield SimpleNamespace(base=base, world=world, database=database, now=now)
    finally:
        database.dispose()


def test_roster_shows_out_of_the_room_since_in_chromium(browser, live):
    from playwright.sync_api import expect

    w = live.world
    context, page, problems = open_signed_in(
        browser, f"{live.base}/attendance/sessions/{w.running}", "olga@school.example", timeout_ms=10_000
    )
    expect(page.locator("h1")).to_have_text("LIVE1 · Live roster")

    def now_cell(student_id: int):
        return page.locator(f"#roster-rows tr[data-student='{student_id}'] td.now")

    # Rendered by the server: Cho's sightings stopped 5 minutes ago, Dan was never seen.
    expect(now_cell(w.cho)).to_have_text(f"out of the room since {w.cho_last.astimezone(ZONE):%H:%M}")
    expect(now_cell(w.dan)).to_have_text("not seen yet")
    expect(page.locator("th", has_text="Now")).to_be_visible()

    # Dan turns up in the camera's sightings (from the start until 4 minutes ago) while the page is
    # open: the roster refreshes by itself and shows him out of the room since his last sighting.
    last = live.now - timedelta(minutes=4)
    with live.database.session() as db:
        see_until(db, w, w.dan, last)
    expect(now_cell(w.dan)).to_have_text(f"out of the room since {last.astimezone(ZONE):%H:%M}")
    since = f"out of the room since {w.cho_last.astimezone(ZONE):%H:%M}"
    expect(now_cell(w.cho)).to_have_text(since)  # the script's rows
    expect(page.locator(f"#roster-rows tr[data-student='{w.cho}'] td.now .live-out")).to_be_visible()
    page.screenshot(path="/tmp/visage-attendance-live.png", full_page=True)
    assert problems == [], f"the browser reported errors: {problems}"
    context.close()
