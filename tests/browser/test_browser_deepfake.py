"""The deepfake check in a real headless Chromium (Playwright): sign in, pick two files at once, watch
each file's own upload and scoring progress (one is refused, one is scored by the in-process job
runner), open the result page and see the verdict, the SVG timeline and the face crop, with no
script error or CSP refusal on the way.

Chromium and the live server come from tests/browser/conftest.py; without Chromium the test skips with a
message, except under CI=true, where it fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.browser.conftest import PASSWORD, make_app, serving, sign_in, watch_problems
from tests.conftest import data_path

SCREENSHOT = Path("/tmp/visage-deepfake-result.png")


@pytest.fixture
def live(tmp_path, registry) -> Iterator[SimpleNamespace]:
    """The app on a fresh SQLite database with its job runner threads, served on a free port."""
    from server.auth.accounts import create_user
    from server.auth.passwords import passwords
    from server.db import get_db
    from server.jobs import stop

    app = make_app(
        tmp_path,
        JOBS_START=True,
        JOBS_THREADS=1,
        JOBS_POLL_SECONDS=0.5,
        DEEPFAKE_FRAMES=3,
        DEEPFAKE_MODELS_DIR=str(registry.models_dir),
    )
    database = get_db(app)
    with database.session() as db:
        create_user(db, passwords(app), email="dana@example.org", display_name="Dana", role="album_user",
                    password=PASSWORD)  # fmt: skip
    try:
        with serving(app) as base:
            yield SimpleNamespace(base=base)
    finally:
        stop(app)
        database.dispose()


def test_upload_two_files_with_progress_and_open_the_result(browser, live, tmp_path):
    from playwright.sync_api import expect

    photo = data_path("deepfake_dfdc_ffpp_samples", "dfdc_notebook_samples", "mqzvfufzoq_fr0.jpg")
    text = tmp_path / "minutes.mp4"
    text.write_text("Minutes of the meeting, not a video.\n" * 20)

    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    problems = watch_problems(page, http_errors=False)  # the refused file answers 4xx on purpose
    page.set_default_timeout(60_000)

    page.goto(f"{live.base}/deepfake")
    sign_in(page, "dana@example.org")
    expect(page.locator("h1")).to_have_text("Deepfake check")

    page.set_input_files("#deepfake-files", [str(photo), str(text)])
    page.click("#deepfake-upload button[type=submit]")
    items = page.locator("#deepfake-progress li")
    expect(items).to_have_count(2)
    refused = items.filter(has_text="minutes.mp4")
    expect(refused).to_contain_text("refused: minutes.mp4: not an image or a video")
    scored = page.locator("#deepfake-progress li[data-check-id]")
    expect(scored).to_have_attribute("data-status", "done")
    expect(scored.locator("progress")).to_have_attribute("value", "100")
    expect(scored).to_contain_text("fake")

    scored.locator("a").click()
    expect(page.locator("h1")).to_have_text("mqzvfufzoq_fr0.jpg")
    expect(page.locator(".check-verdict")).to_have_text(re.compile("^(Likely real|Uncertain|Likely fake)$"))
    expect(page.locator("svg.deepfake-timeline circle.frame-score")).to_have_count(1)
    crop = page.locator(".face-crops img").first
    expect(crop).to_be_visible()
    assert page.evaluate("img => img.naturalWidth", crop.element_handle()) > 0
    page.screenshot(path=str(SCREENSHOT), full_page=True)  # for a human look; not compared
    assert problems == [], problems
