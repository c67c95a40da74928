"""The pages at a phone's width (390 px) and a desktop's (1280 px) in a real headless Chromium (issue 18):
no page scrolls sideways (wide tables scroll inside their own box), the controls each page is for are
visible and can be clicked, and a full-page screenshot of each is saved under the test's tmp_path.

One seeded world serves every case: attendance_seed's classroom with unknown_faces_seed's real LFW
faces for the instructor, an administrator for the devices page, and an album user who uploads four
LFW photos through the web form (indexed by the real face core). Without Chromium the tests skip
with a message, except under CI=true, where they fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.browser.conftest import add_user, make_app, serving, sign_in, watch_problems
from tests.conftest import data_path
from tests.server.attendance_seed import build_world
from tests.server.unknown_faces_seed import add_unknown_faces, embed_photos

WIDTHS = (390, 1280)
ALBUM = [f"Tony_Blair_{n:04d}.jpg" for n in (1, 2, 3)] + ["Hugo_Chavez_0001.jpg"]
INSTRUCTOR, ADMIN, ALBUM_USER = "olga@school.example", "root@school.example", "ana@family.example"


def lfw_path(name: str) -> Path:
    return data_path("lfw_subset_10x10", name.rsplit("_", 1)[0], name)


@pytest.fixture(scope="module")
def live(browser, tmp_path_factory, analyzer) -> Iterator[SimpleNamespace]:
    """The app with every page's data, served on a free port; the album photos already indexed."""
    from playwright.sync_api import expect
    from sqlalchemy import select

    from server import jobs
    from server.db import get_db
    from server.db.models import AlbumPerson, AlbumPhoto
    from server.faces.analyzer import EXTENSION_KEY

    tmp_path = tmp_path_factory.mktemp("phone")
    app = make_app(tmp_path, ATTENDANCE_REFRESH_SECONDS=60, JOBS_START=False, JOBS_THREADS=1,
                   JOBS_POLL_SECONDS=0.5)  # fmt: skip
    app.extensions[EXTENSION_KEY] = analyzer
    database = get_db(app)
    with database.session() as db:
        owner = add_user(db, app, INSTRUCTOR, "Olga Owner", "instructor")
        other = add_user(db, app, "oscar@school.example", "Oscar Other", "instructor")
        add_user(db, app, ADMIN, "Rita Root", "admin")
        add_user(db, app, ALBUM_USER, "Ana Album", "album_user")
        world = build_world(db, owner, other)
        world.tracks = add_unknown_faces(db, world, embed_photos(analyzer))
    jobs.start(app, force=True)
    try:
        with serving(app) as base:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{base}/album")
            sign_in(page, ALBUM_USER)
            page.set_input_files("#album-files", [str(lfw_path(name)) for name in ALBUM])
            page.click("#album-upload button[type=submit]")
            expect(page.locator("#index-status")).to_have_attribute("data-state", "done", timeout=180_000)
            context.close()
            with database.session() as db:
                world.photo = db.scalars(select(AlbumPhoto.id).order_by(AlbumPhoto.id)).first()
                world.person = db.scalars(select(AlbumPerson.id).order_by(AlbumPerson.id)).first()
            yield SimpleNamespace(base=base, world=world)
    finally:
        jobs.stop(app)
        database.dispose()


def check_page(browser, live, tmp_path, width: int, user: str, path: str, name: str,
               controls: tuple[str, ...], act: Callable | None = None) -> None:  # fmt: skip
    """Open `path` as `user` at `width`; assert no page-level sideways scroll and every control
    visible, inside the viewport's width and clickable (a trial click); save a screenshot."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems = watch_problems(page)
    page.set_default_timeout(15_000)
    page.goto(f"{live.base}{path}")
    sign_in(page, user)
    page.wait_for_load_state("networkidle")
    if act:
        act(page)
        page.wait_for_load_state("networkidle")
    page.screenshot(path=str(tmp_path / f"{name}-{width}.png"), full_page=True)
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{name} at {width} px is {scroll} px wide"
    for selector in controls:
        control = page.locator(selector).first
        expect(control).to_be_visible()
        control.scroll_into_view_if_needed()
        box = control.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"{selector} sticks out: {box}"
        assert box["height"] >= (32 if width < 600 else 16), f"{selector} is too small to touch: {box}"
        control.click(trial=True)
    assert problems == []
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_session_review_roll_call_and_unknown_faces(browser, live, tmp_path, width):
    """The instructor's session page: roster (scrolls in its box), override form, roll call, the
    assign control of an unknown face; "Correct" at the far end of a roster row fills the form."""
    from playwright.sync_api import expect

    w = live.world

    def correct_ben(page):
        roster = page.locator("table.roster")
        box = roster.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
        page.click(f"#roster-rows tr[data-student='{w.s2}'] .js-correct")
        expect(page.locator("#override-student")).to_have_value(str(w.s2))

    check_page(
        browser, live, tmp_path, width, INSTRUCTOR, f"/attendance/sessions/{w.session}", "session",
        ("#roster-rows .js-correct", "#override-student", "#override-reason", "#override-form button",
         "#rollcall-form .ticks label", "#rollcall-form button[type=submit]",
         ".assign-form select", ".assign-form button", ".face-decision button.secondary"),
        correct_ben,
    )  # fmt: skip


@pytest.mark.parametrize("width", WIDTHS)
def test_unknown_face_search(browser, live, tmp_path, width):
    """The search of unknown faces by a photo, with its results table."""

    def search(page):
        page.set_input_files("#face-search-key", str(lfw_path("Colin_Powell_0001.jpg")))
        page.click("#face-search-form button[type=submit]")
        page.locator("#face-search-results").wait_for()

    check_page(browser, live, tmp_path, width, INSTRUCTOR, "/attendance/unknown-faces/search",
               "face-search", ("#face-search-key", "#face-search-form button", ".face-match a"),
               search)  # fmt: skip


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(
    ("name", "path", "controls"),
    [
        ("library", "/album", ("#album-files", "#album-upload button[type=submit]", "#photo-grid li a")),
        ("people", "/album/people", (".people-grid li a",)),
        ("search", "/album/search", ("#key", "#key-form button[type=submit]")),
    ],
)
def test_album_pages(browser, live, tmp_path, width, name, path, controls):
    check_page(browser, live, tmp_path, width, ALBUM_USER, path, f"album-{name}", controls)


@pytest.mark.parametrize("width", WIDTHS)
def test_album_photo_and_person(browser, live, tmp_path, width):
    check_page(browser, live, tmp_path, width, ALBUM_USER, f"/album/photos/{live.world.photo}",
               "album-photo", (".album-nav a", ".move-face select", ".move-face button",
                               ".delete-face button"))  # fmt: skip
    check_page(browser, live, tmp_path, width, ALBUM_USER, f"/album/people/{live.world.person}",
               "album-person", ("#person-name", ".people-grid label", ".people-grid button.secondary",
                               "#split-form .row button"))  # fmt: skip


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(
    ("name", "user", "path"),
    [
        ("home", INSTRUCTOR, "/"),
        ("sessions", INSTRUCTOR, "/attendance?date=2026-03-02"),
        ("courses", INSTRUCTOR, "/courses"),
        ("course", INSTRUCTOR, None),
        ("devices", ADMIN, "/devices"),
        ("device", ADMIN, "/devices/cam-r101"),
        ("students", INSTRUCTOR, "/students"),
        ("enrolment", INSTRUCTOR, "/enrolment"),
        ("tokens", INSTRUCTOR, "/account/tokens"),
        ("classrooms", ADMIN, "/admin/classrooms"),
        ("accounts", ADMIN, "/admin/users"),
        ("deepfake", ALBUM_USER, "/deepfake"),
    ],
)
def test_other_main_pages(browser, live, tmp_path, width, name, user, path):
    path = path or f"/courses/{live.world.course}"
    check_page(browser, live, tmp_path, width, user, path, name, ("header .brand",))
