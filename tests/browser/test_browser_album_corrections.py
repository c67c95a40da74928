"""The album's corrections in a real headless Chromium (issue 18): the library in pages, a waiting
face put into a new person, a face moved into an existing person, a feature photo chosen, a false
face deleted, a refused form whose error page leads back to it, a non-image key photo refused on the
search form itself, and the site icon loading on every page. Real face core, LFW photos."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from tests.browser.conftest import album_served, sign_in, watch_problems
from tests.conftest import data_path

FILES = [f"{p}_{n:04d}.jpg" for p in ("Tony_Blair", "Colin_Powell") for n in (1, 2, 3)] + [
    "Hugo_Chavez_0001.jpg"
]


@pytest.fixture
def live(tmp_path, analyzer) -> Iterator[SimpleNamespace]:
    """The app on a fresh SQLite database, its job runner started, served on a free localhost port."""
    with album_served(tmp_path, analyzer) as site:
        yield site


def lfw_path(name: str):
    return data_path("lfw_subset_10x10", name.rsplit("_", 1)[0], name)


def open_photo(page, base: str, filename: str) -> None:
    page.goto(f"{base}/album?per_page=100")
    page.locator(f"#photo-grid li[data-filename='{filename}'] a").click()


def test_pages_move_feature_delete_and_errors_that_lead_back_in_chromium(browser, live, tmp_path):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    problems = watch_problems(page, http_errors=False)
    page.on("dialog", lambda dialog: dialog.accept())
    page.set_default_timeout(15_000)

    page.goto(f"{live.base}/album")
    sign_in(page, "ana@family.example")
    page.set_input_files("#album-files", [str(lfw_path(name)) for name in FILES])
    page.click("#album-upload button[type=submit]")
    expect(page.locator("#index-status")).to_have_attribute("data-state", "done", timeout=180_000)
    expect(page.locator("#photo-grid li[data-status='indexed']")).to_have_count(len(FILES))

    # The library in pages of three, the same pages as the API.
    page.goto(f"{live.base}/album?per_page=3")
    seen = []
    for number in (1, 2, 3):
        expect(page.locator(".pager-position").first).to_have_text(f"Page {number} of 3")
        ids = [
            int(i)
            for i in page.locator("#photo-grid li").evaluate_all("els => els.map(e => e.dataset.photo)")
        ]
        api = page.request.get(f"{live.base}/api/v1/album/photos?page={number}&per_page=3").json()
        assert ids == [p["id"] for p in api["photos"]]
        seen += ids
        if number < 3:
            page.locator(".pager-older").first.click()
    assert len(seen) == len(FILES) == len(set(seen))
    page.locator(".pager-newer").first.click()
    expect(page.locator(".pager-position").first).to_have_text("Page 2 of 3")

    # Hugo's one face waits for a person: put it into a new one, named.
    page.goto(f"{live.base}/album/people")
    expect(page.locator("#waiting-faces li")).to_have_count(1)
    page.locator("#waiting-faces li a").click()
    face = page.locator(".face-list li").first
    expect(face).to_contain_text("not grouped yet")
    face.locator(".move-face select").select_option("new")
    face.locator(".move-face input[name=name]").fill("Hugo")
    face.locator(".move-face button").click()
    expect(page.locator(".flash-info")).to_have_text("Moved the face to Hugo.")
    expect(page.locator(".face-list li a", has_text="Hugo")).to_have_count(1)

    # A Tony face moved into the existing person Hugo (a user may put any face anywhere).
    open_photo(page, live.base, "Tony_Blair_0003.jpg")
    tony_face = page.locator(".face-list li").first
    tony_face_id = tony_face.get_attribute("data-face")
    tony_face.locator(".move-face select").select_option(label="Hugo")
    tony_face.locator(".move-face button").click()
    expect(page.locator(".flash-info")).to_have_text("Moved the face to Hugo.")
    page.locator(".face-list li a", has_text="Hugo").click()
    expect(page.locator("h1")).to_have_text("Hugo")
    expect(page.locator("li[data-face]")).to_have_count(2)

    # Choose that face as Hugo's feature photo: marked here, shown on the people page.
    page.locator(f"li[data-face='{tony_face_id}'] button", has_text="Use as feature photo").click()
    expect(page.locator(".flash-info")).to_have_text("Feature photo chosen.")
    expect(page.locator(f"li[data-face='{tony_face_id}'] .badge.feature")).to_have_text("feature photo")
    page.goto(f"{live.base}/album/people")
    hugo_card = page.locator("#people li", has_text="Hugo")
    assert hugo_card.locator("img").get_attribute("src").endswith(f"/faces/{tony_face_id}/crop")

    # A false face deleted (Colin's, say): the face goes, the photo stays.
    open_photo(page, live.base, "Colin_Powell_0002.jpg")
    expect(page.locator(".face-list li")).to_have_count(1)
    page.screenshot(path=str(tmp_path / "album-photo-faces.png"), full_page=True)
    page.locator(".delete-face button").click()
    expect(page.locator(".flash-info")).to_have_text("Deleted that face; the photo stays.")
    expect(page.locator(".face-list li")).to_have_count(0)
    expect(page.locator("h1")).to_contain_text("Colin_Powell_0002.jpg")
    page.screenshot(path=str(tmp_path / "album-face-deleted.png"), full_page=True)

    # A stale form (its face deleted meanwhile in another tab): the error page leads back to it.
    open_photo(page, live.base, "Colin_Powell_0003.jpg")
    stale_url = page.url
    stale = page.locator(".face-list li").first.get_attribute("data-face")
    csrf = page.locator("meta[name=csrf-token]").get_attribute("content")
    deleted = page.request.delete(f"{live.base}/api/v1/album/faces/{stale}", headers={"X-CSRFToken": csrf})
    assert deleted.status == 200
    page.locator(".face-list li .move-face button").first.click()
    expect(page.locator("h1")).to_have_text("404 · Not Found")
    expect(page.locator("main")).to_contain_text(f"You have no face with id {stale}.")
    page.click("#error-back")
    assert page.url == stale_url
    expect(page.locator(".face-list li")).to_have_count(0)

    # A key photo that is not an image: the search form again, with the reason.
    not_image = tmp_path / "notes.jpg"
    not_image.write_bytes(b"shopping list: milk, eggs")
    page.goto(f"{live.base}/album/search")
    page.set_input_files("#key", str(not_image))
    page.click("#key-form button[type=submit]")
    expect(page.locator(".flash-error")).to_contain_text("not an image")
    expect(page.locator("#key-form")).to_be_visible()
    page.screenshot(path=str(tmp_path / "album-search-refused.png"), full_page=True)

    # The site icon: every page links one that loads (Chromium fetches it outside the page's own
    # requests, so each link is fetched here), and /favicon.ico answers too.
    for path in (
        "/album",
        "/album/people",
        "/album/search",
        stale_url.replace(live.base, ""),
        "/album/photos/999999",
    ):
        page.goto(live.base + path)
        hrefs = page.locator("link[rel=icon]").evaluate_all("els => els.map(e => e.href)")
        assert hrefs, path
        for href in [*hrefs, f"{live.base}/favicon.ico"]:
            icon = page.request.get(href)
            assert icon.status == 200 and icon.headers["content-type"].startswith("image/"), (path, href)
    assert problems == []
    context.close()
