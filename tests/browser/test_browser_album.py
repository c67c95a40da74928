"""The memory album in a real headless Chromium (Playwright): sign in, upload a zip and a single photo
(a progress bar per file), wait for the background analysis, search with a key photo and see exactly
the right photos with the matching face outlined, then name that person.

The app runs on a real HTTP server with the in-process job runner (one worker thread) and the real
face core; photos are LFW's (../shared/data). Without Chromium or the data the test skips with a
message, except under CI=true, where it fails."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from tests.browser.conftest import album_served, sign_in, watch_problems
from tests.conftest import data_path

TONY = [f"Tony_Blair_{n:04d}.jpg" for n in range(1, 5)]
COLIN = [f"Colin_Powell_{n:04d}.jpg" for n in range(1, 5)]


@pytest.fixture
def live(tmp_path, analyzer) -> Iterator[SimpleNamespace]:
    """The app on a fresh SQLite database, its job runner started, served on a free localhost port."""
    with album_served(tmp_path, analyzer) as site:
        yield site


def lfw_path(name: str):
    person = name.rsplit("_", 1)[0]
    return data_path("lfw_subset_10x10", person, name)


def test_upload_zip_search_by_key_photo_and_name_a_person_in_chromium(browser, live, tmp_path):
    from playwright.sync_api import expect

    archive = tmp_path / "family.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for name in TONY + COLIN:
            bundle.write(lfw_path(name), f"holiday/{name}")
    single = lfw_path("Hugo_Chavez_0001.jpg")

    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    problems = watch_problems(page)
    page.set_default_timeout(15_000)

    # Sign in through the form, landing on the album.
    page.goto(f"{live.base}/album")
    sign_in(page, "ana@family.example")
    expect(page.locator("h1")).to_have_text("My photos")

    # Upload a zip and a single photo: one row per file with a progress bar, then the analysis.
    page.set_input_files("#album-files", [str(archive), str(single)])
    page.click("#album-upload button[type=submit]")
    rows = page.locator("#upload-progress tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#upload-progress tr[data-file='family.zip']")).to_have_attribute("data-result", "ok")
    expect(page.locator("#upload-progress tr[data-file='family.zip'] td.status")).to_have_text(
        "8 stored, 0 duplicate(s), 0 refused"
    )
    expect(page.locator("#upload-progress tr[data-file='Hugo_Chavez_0001.jpg'] td.status")).to_have_text(
        "stored"
    )
    assert page.locator("#upload-progress progress").first.get_attribute("value") == "1"
    expect(page.locator("#index-status")).to_have_attribute("data-state", "done", timeout=180_000)
    # The page reloads with the analysed photos.
    expect(page.locator("#photo-grid li")).to_have_count(9)
    expect(page.locator("#photo-grid li[data-status='indexed']")).to_have_count(9)

    # Search with a key photo of Tony Blair that is not in the album.
    page.click("text=Search by key photo")
    page.set_input_files("#key", str(lfw_path("Tony_Blair_0007.jpg")))
    page.click("#key-form button[type=submit]")
    results = page.locator("#search-results li")
    expect(results.first).to_be_visible()
    found = sorted(results.nth(i).get_attribute("data-filename") for i in range(results.count()))
    # Only Tony's photos; at the default cut at least three of the four (dlib at 0.93 found three:
    # Tony_Blair_0004 scores between 0.92 and 0.93 against this key, see docs/album.md "Search cut").
    assert set(found) <= set(TONY) and len(found) >= 3, found
    expect(page.locator("#search-results rect.face-box.match")).to_have_count(len(found))
    page.screenshot(path=str(tmp_path / "album-search.png"), full_page=True)

    # Open the best match, go to its person, and name them.
    results.first.locator("a").click()
    page.locator(".face-list a").first.click()
    expect(page.locator("li[data-face]")).to_have_count(len(TONY))
    page.fill("#person-name", "Tony")
    page.click("form.card button[type=submit]")
    expect(page.locator("h1")).to_have_text("Tony")
    page.click("text=People")
    expect(page.locator("#people .person-name", has_text="Tony")).to_have_count(1)
    expect(page.locator("#people li")).to_have_count(2)  # Tony and Colin; Hugo's one photo is no person yet

    assert problems == []
    context.close()
