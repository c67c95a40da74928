"""The album library in a real headless Chromium keeps itself current without a reload
(static/album_live.js through the shared poll helper static/live.js): a photo uploaded elsewhere
(the API, another tab) appears in front of the first page, and when analysis finishes the counts line
and the photo's badge change. Jobs are not started, so the test decides when a photo is analysed."""

from __future__ import annotations

from types import SimpleNamespace

from tests.browser.test_browser_dashboard import open_home, running
from tests.conftest import data_path


def upload(app, token: str, name: str) -> None:
    path = data_path("lfw_subset_10x10", name.rsplit("_", 1)[0], name)
    with path.open("rb") as handle:
        response = app.test_client().post(
            "/api/v1/album/photos",
            headers={"Authorization": f"Bearer {token}"},
            data={"photos": (handle, path.name)},
            content_type="multipart/form-data",
        )
    assert response.status_code == 201, response.get_data(as_text=True)


def test_library_shows_new_photos_and_finished_analysis_live(browser, tmp_path):
    from playwright.sync_api import expect

    from server.auth.tokens import issue_token
    from server.db.models import AlbumPhoto

    def seed(db, make_user, app, now):
        user = make_user("ana@family.example", "album_user")
        _row, token = issue_token(db, user, "test", None)
        db.commit()
        upload(app, token, "Tony_Blair_0001.jpg")
        return SimpleNamespace(token=token)

    with running(tmp_path, seed) as live:
        context, page, problems = open_home(browser, live, "ana@family.example")
        page.goto(f"{live.base}/album")
        counts = page.locator("#library-counts")
        expect(counts).to_have_text("0 analysed · 1 waiting for analysis")
        expect(page.locator("#photo-grid li")).to_have_count(1)

        upload(live.app, live.world.token, "Colin_Powell_0001.jpg")  # as a script would, page open
        first = page.locator("#photo-grid li").first
        expect(first).to_have_attribute("data-filename", "Colin_Powell_0001.jpg")  # no reload
        expect(page.locator("#photo-grid li")).to_have_count(2)
        expect(counts).to_have_text("0 analysed · 2 waiting for analysis")
        expect(first.locator("img")).to_have_attribute("alt", "Colin_Powell_0001.jpg")

        with live.database.session() as db:
            photo = db.query(AlbumPhoto).filter_by(filename="Colin_Powell_0001.jpg").one()
            photo.status, photo.face_count = "indexed", 1
            db.commit()
        expect(first.locator(".badge")).to_have_text("1 face")
        expect(counts).to_have_text("1 analysed · 1 waiting for analysis")
        assert page.evaluate("(img) => img.naturalWidth", first.locator("img").element_handle()) > 0
        page.screenshot(path="/tmp/visage-album-live.png", full_page=True)
        assert problems == [], f"the browser reported errors: {problems}"
        context.close()
