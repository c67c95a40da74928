"""The instructor's review in a real headless Chromium (Playwright): sign in through the form, open a
session, watch the roster refresh by itself, correct a status with a reason, find it in the audit
log, export the CSV and check its rows.

Chromium, the live server and the sign-in form come from tests/browser/conftest.py; without Chromium
the test skips with a message, except under CI=true, where it fails.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.browser.conftest import add_user, make_app, serving, sign_in, watch_problems
from tests.server.attendance_seed import START, build_world, series

SCREENSHOT = Path("/tmp/visage-attendance-review.png")


@pytest.fixture
def live(tmp_path) -> Iterator[SimpleNamespace]:
    """The app on a fresh SQLite database, served by a real HTTP server on a free localhost port."""
    from server.db import get_db

    app = make_app(tmp_path, ATTENDANCE_REFRESH_SECONDS=1)
    database = get_db(app)
    with database.session() as db:
        owner = add_user(db, app, "olga@school.example", "Olga Owner", "instructor")
        other = add_user(db, app, "oscar@school.example", "Oscar Other", "instructor")
        world = build_world(db, owner, other)
    try:
        with serving(app) as base:
            yield SimpleNamespace(base=base, world=world, database=database)
    finally:
        database.dispose()


def test_review_override_audit_and_export_in_chromium(browser, live):
    from playwright.sync_api import expect

    from server.db.models import Sighting

    w = live.world
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    problems = watch_problems(page)
    page.set_default_timeout(10_000)

    # Sign in through the form.
    page.goto(f"{live.base}/attendance")
    expect(page).to_have_url(f"{live.base}/login?next=/attendance")
    sign_in(page, "olga@school.example")
    expect(page.locator("h1")).to_contain_text("Sessions on")

    # The day of the lecture, then its review page.
    page.goto(f"{live.base}/attendance?date=2026-03-02")
    page.click(f"a[href='/attendance/sessions/{w.session}']")
    expect(page.locator("h1")).to_have_text("CS101 · Introduction to Computing")

    def status(student_id: int):
        return page.locator(f"#roster-rows tr[data-student='{student_id}'] td.status .badge")

    expect(status(w.s1)).to_have_text("present")
    expect(status(w.s2)).to_have_text("late")
    expect(status(w.s3)).to_have_text("left early")
    expect(status(w.s4)).to_have_text("absent")
    expect(page.locator(f"#roster-rows tr[data-student='{w.s1}'] img")).to_be_visible()

    # The roster refreshes by itself: Dan's camera sightings arrive while the page is open.
    with live.database.session() as db:
        db.add_all(
            Sighting(
                event_id=f"late-{i}",
                device_id=w.device,
                session_id=w.session,
                student_id=w.s4,
                track_id="t4",
                captured_at=t,
                score=0.9,
            )
            for i, t in enumerate(series("09:00", "11:00"))
        )
        db.commit()
    expect(status(w.s4)).to_have_text("present")
    expect(page.locator("#refresh-state")).to_contain_text("Updated")

    # Correct Ben's status with a reason ("Correct" on his row fills the form).
    page.click(f"#roster-rows tr[data-student='{w.s2}'] .js-correct")
    expect(page.locator("#override-student")).to_have_value(str(w.s2))
    page.select_option("#override-status", "excused")
    page.fill("#override-reason", "Train cancelled, ticket shown")
    page.click("#override-form button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("Ben Okafor: excused for the session")
    expect(status(w.s2)).to_have_text("excused ✎")

    audit = page.locator("#audit-log tbody tr").first
    expect(audit).to_contain_text("Olga Owner")
    expect(audit).to_contain_text("Ben Okafor (2026002) · session")
    expect(audit).to_contain_text("late → excused")
    expect(audit).to_contain_text("Train cancelled, ticket shown")

    # The status survives the next live refresh (the override is stored, not just shown).
    page.wait_for_timeout(1500)
    expect(status(w.s2)).to_have_text("excused ✎")

    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # Export the session's CSV and read it back.
    with page.expect_download() as info:
        page.click("#export-session")
    download = info.value
    assert download.suggested_filename == "attendance-CS101-20260302-0900.csv"
    raw = Path(download.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    got = {r["student_number"]: (r["status"], r["source"], r["note"]) for r in rows}
    assert got == {
        "2026001": ("present", "engine", ""),
        "2026002": ("excused", "manual", "Train cancelled, ticket shown"),
        "2026003": ("left_early", "engine", ""),
        "2026004": ("present", "engine", ""),
    }
    dan = next(r for r in rows if r["student_number"] == "2026004")
    assert (dan["first_seen"], dan["sightings"]) == ((START).strftime("%Y-%m-%dT%H:%M:%SZ"), "61")
    assert next(r for r in rows if r["student_number"] == "2026003")["last_seen"] == (
        (START + timedelta(minutes=80)).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    assert problems == [], f"the browser reported errors: {problems}"
    context.close()
