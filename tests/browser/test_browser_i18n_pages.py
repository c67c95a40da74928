"""The attendance, album, deepfake and device pages in Korean and English (issue 18) in a real headless
Chromium at a phone's width (390 px) and a desktop's (1280 px): the browser's language picks the page's
(`lang` and the text), no page scrolls sideways, nothing the scripts write after a refresh falls back to
English on a Korean page, and no script error or CSP refusal. A full-page screenshot of each case is
saved under the test's tmp_path.

One seeded world serves every case: attendance_seed's classroom with unknown_faces_seed's real LFW
faces (unknown faces to review), an administrator for the devices, an album user with no photo yet.
Without Chromium the tests skip with a message, except under CI=true, where they fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from tests.browser.conftest import add_user, make_app, serving, sign_in, watch_problems
from tests.server.attendance_seed import build_world
from tests.server.unknown_faces_seed import add_unknown_faces, embed_photos

WIDTHS = (390, 1280)
INSTRUCTOR, ADMIN, ALBUM_USER = "olga@school.example", "root@school.example", "ana@family.example"
BROWSER_LANGUAGE = {"ko": "ko-KR", "en": "en-US"}

# page -> (user, path, English text, Korean text of the same element, a selector the page's script rewrites)
PAGES = {
    "session": (INSTRUCTOR, "/attendance/sessions/{session}", "Manual roll call", "호명 출석",
                "#refresh-state"),
    "sessions": (INSTRUCTOR, "/attendance?date=2026-03-02", "Your courses", "내 과목", None),
    "face-search": (INSTRUCTOR, "/attendance/unknown-faces/search", "Search unknown faces by a photo",
                    "사진으로 미확인 얼굴 검색", None),
    "album": (ALBUM_USER, "/album", "Add photos", "사진 추가", None),
    "album-people": (ALBUM_USER, "/album/people", "No people yet", "아직 인물이 없습니다", None),
    "album-search": (ALBUM_USER, "/album/search", "Search by key photo", "기준 사진으로 검색", None),
    "deepfake": (ALBUM_USER, "/deepfake", "Check files", "파일 검사", None),
    "devices": (ADMIN, "/devices", "Latency per stage (ms)", "단계별 지연 시간 (ms)",
                "#device-refresh-state"),
    "device": (ADMIN, "/devices/cam-r101", "Resync gallery", "갤러리 다시 동기화", "#device-refresh-state"),
}  # fmt: skip


@pytest.fixture(scope="module")
def site(browser, tmp_path_factory, analyzer) -> Iterator[SimpleNamespace]:
    from server.db import get_db

    tmp_path = tmp_path_factory.mktemp("i18n")
    app = make_app(tmp_path, ATTENDANCE_REFRESH_SECONDS=1, LIVE_REFRESH_SECONDS=1)
    database = get_db(app)
    with database.session() as db:
        owner = add_user(db, app, INSTRUCTOR, "Olga Owner", "instructor")
        other = add_user(db, app, "oscar@school.example", "Oscar Other", "instructor")
        add_user(db, app, ADMIN, "Rita Root", "admin")
        add_user(db, app, ALBUM_USER, "Ana Album", "album_user")
        world = build_world(db, owner, other)
        add_unknown_faces(db, world, embed_photos(analyzer))
    try:
        with serving(app) as base:
            yield SimpleNamespace(base=base, world=world)
    finally:
        database.dispose()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("language", ("ko", "en"))
@pytest.mark.parametrize("name", PAGES)
def test_page_in_each_language_and_width(browser, site, tmp_path, name, language, width):
    from playwright.sync_api import expect

    user, path, english, korean, live = PAGES[name]
    context = browser.new_context(viewport={"width": width, "height": 900}, locale=BROWSER_LANGUAGE[language])
    page = context.new_page()
    problems = watch_problems(page)
    page.set_default_timeout(15_000)
    page.goto(site.base + path.format(session=site.world.session))
    sign_in(page, user)
    page.wait_for_load_state("networkidle")
    expect(page.locator("html")).to_have_attribute("lang", language)
    body = page.locator("main")
    expect(body).to_contain_text(korean if language == "ko" else english)
    if live:  # a refresh happened: what the script wrote is in the page's language too
        expect(page.locator(live)).to_contain_text("갱신" if language == "ko" else "Updated", timeout=10_000)
    text = body.inner_text()
    if language == "ko":
        assert english not in text, f"{name}: English left on the Korean page"
    else:
        hangul = [ch for ch in text if "\uac00" <= ch <= "\ud7a3"]
        assert korean not in text and not hangul, f"{name}: Korean on the English page"
    page.screenshot(path=str(tmp_path / f"{name}-{language}-{width}.png"), full_page=True)
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{name} in {language} at {width} px is {scroll} px wide"
    assert problems == []
    context.close()


def test_korean_session_page_after_a_refresh_keeps_korean_statuses_and_counts(browser, site):
    """The roster the script rebuilds every second shows the same Korean badges as the server's."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
    page = context.new_page()
    problems = watch_problems(page)
    page.set_default_timeout(15_000)
    page.goto(f"{site.base}/attendance/sessions/{site.world.session}")
    sign_in(page, INSTRUCTOR)
    rendered = page.locator("#counts").inner_text()
    expect(page.locator("#refresh-state")).to_contain_text("갱신", timeout=10_000)
    assert page.locator("#counts").inner_text() == rendered and "출석" in rendered
    expect(page.locator("#unknown-pending")).to_contain_text("검토 대기")
    expect(page.locator(f"#roster-rows tr[data-student='{site.world.s2}'] .js-correct")).to_have_text("정정")
    assert problems == []
    context.close()
