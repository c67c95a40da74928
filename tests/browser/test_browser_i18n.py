"""The pages of accounts, school, enrolment, home and errors in Korean and English, in a real
headless Chromium (issue 18): a browser that asks for Korean (`Accept-Language: ko-KR`) gets Korean
pages (`<html lang="ko">`, Hangul in the text, Korean dates), one that asks for English gets English
ones, and at a laptop's 1280 px and a phone's 390 px no page scrolls sideways. A screenshot of each
page and width is saved in the test's temporary folder.

Chromium, the live server and the sign-in form come from tests/browser/conftest.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace

import pytest

from tests.browser.conftest import add_user, make_app, serving, sign_in, watch_problems

HANGUL = re.compile("[\uac00-\ud7a3]")
ADMIN, INSTRUCTOR = "root@school.example", "kim@school.example"
WIDTHS = (1280, 390)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[SimpleNamespace]:
    """An admin, an instructor with a course, a roster and a 50-minute session tomorrow, a room."""
    from server.db import get_db, utcnow
    from server.db.models import Classroom, Course, LectureSession, Student

    app = make_app(tmp_path_factory.mktemp("i18n"), JOBS_START=False)
    database = get_db(app)
    with database.session() as db:
        add_user(db, app, ADMIN, "Root Admin", "admin")
        teacher = add_user(db, app, INSTRUCTOR, "Kim Instructor", "instructor")
        room = Classroom(name="Engineering 301")
        student = Student(student_number="2026001", name="Lee Student")
        course = Course(code="CS101", title="Computer Vision", instructor=teacher, students=[student])
        start = (utcnow() + timedelta(days=1)).replace(hour=1, minute=0, second=0, microsecond=0)
        lecture = LectureSession(
            course=course, classroom=room, starts_at=start, ends_at=start + timedelta(minutes=50)
        )
        db.add_all([room, student, course, lecture])
        db.commit()
        ids = SimpleNamespace(course=course.id, student=student.id)
    try:
        with serving(app) as base:
            yield SimpleNamespace(base=base, ids=ids)
    finally:
        database.dispose()


def pages(ids: SimpleNamespace) -> list[tuple[str, str, str]]:
    """(name, account, path) of every page this test renders."""
    return [
        ("home", INSTRUCTOR, "/"),
        ("courses", INSTRUCTOR, "/courses"),
        ("course", INSTRUCTOR, f"/courses/{ids.course}"),
        ("students", INSTRUCTOR, "/students"),
        ("student", INSTRUCTOR, f"/students/{ids.student}"),
        ("enrolment", INSTRUCTOR, "/enrolment"),
        ("course-enrolment", INSTRUCTOR, f"/courses/{ids.course}/enrolment"),
        ("student-photos", INSTRUCTOR, f"/students/{ids.student}/photos"),
        ("tokens", INSTRUCTOR, "/account/tokens"),
        ("password", INSTRUCTOR, "/account/password"),
        ("language", INSTRUCTOR, "/account/language"),
        ("not-found", INSTRUCTOR, "/courses/999999"),
        ("admin-home", ADMIN, "/"),
        ("accounts", ADMIN, "/admin/users"),
        ("classrooms", ADMIN, "/admin/classrooms"),
    ]


# What each language must show on the course page: its words, and the 50-minute period as it is.
EXPECTED = {
    "ko": ("수강생 명단", "1교시, 교시당 50분", "로그아웃"),
    "en": ("Roster", "1 period of 50 min", "Sign out"),
}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("language", ["ko", "en"])
def test_pages_in_both_languages_fit_the_width(browser, site, tmp_path, language, width):
    from playwright.sync_api import expect

    for account in (INSTRUCTOR, ADMIN):
        context = browser.new_context(
            viewport={"width": width, "height": 900}, locale="ko-KR" if language == "ko" else "en-US"
        )
        page = context.new_page()
        problems = watch_problems(page, http_errors=False)
        page.set_default_timeout(15_000)
        page.goto(f"{site.base}/login")
        login_text = page.locator("main").inner_text()
        assert ("로그인" in login_text) == (language == "ko"), login_text
        sign_in(page, account)
        page.wait_for_url(f"{site.base}/")
        for name, who, path in pages(site.ids):
            if who != account:
                continue
            response = page.goto(f"{site.base}{path}")
            assert response is not None and response.status == (404 if name == "not-found" else 200), name
            page.wait_for_load_state("networkidle")
            expect(page.locator("html")).to_have_attribute("lang", language)
            text = page.locator("body").inner_text()
            if language == "ko":
                assert HANGUL.search(text), f"{name}: no Korean text"
            else:
                # the language switch names Korean in Korean ("한국어"), as language menus do
                assert not HANGUL.search(text.replace("한국어", "")), f"{name}: Korean text in English"
            page.screenshot(path=str(tmp_path / f"{name}-{language}-{width}.png"), full_page=True)
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, f"{name} in {language} at {width} px is {scroll} px wide"
            if name == "course":
                for words in EXPECTED[language]:
                    assert words in text, f"{words!r} missing from the course page"
        assert problems == []
        context.close()
