"""Korean and English (issue 18): the catalogue is complete and compiled, the language comes from
the user's setting, else Accept-Language, else DEFAULT_LOCALE; dates are Babel's in the deployment's
zone (Asia/Seoul by default); plural forms are right in both languages; API errors speak Korean to
a client that asks for it and English to one that does not."""

from __future__ import annotations

import contextlib
import io
import re
import runpy
import secrets
from datetime import date, datetime, timedelta, timezone
from gettext import GNUTranslations
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from werkzeug.exceptions import default_exceptions
from werkzeug.http import HTTP_STATUS_CODES

from tests.server.conftest import PASSWORD, csrf_token_from

ROOT = Path(__file__).resolve().parents[2]
KO_PO = ROOT / "server" / "translations" / "ko" / "LC_MESSAGES" / "messages.po"
KO_MO = KO_PO.with_suffix(".mo")
HANGUL = re.compile("[\uac00-\ud7a3]")


def ko_catalog():
    with KO_PO.open("rb") as handle:
        return read_po(handle, locale="ko")


def msgid_of(message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


# ----------------------------------------------------------------------------- the catalogue


def test_every_korean_msgid_is_translated_and_none_is_fuzzy():
    problems = []
    for message in ko_catalog():
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            problems.append(f"untranslated: {msgid_of(message)!r}")
        elif message.fuzzy:
            problems.append(f"fuzzy: {msgid_of(message)!r}")
    assert problems == [], "\n".join(problems[:40])


def test_every_marked_string_of_the_sources_is_in_the_korean_catalogue(tmp_path, monkeypatch):
    """Extract from the sources now (as `scripts/i18n.py extract` does) and compare: a string marked
    in a template or a view but never extracted into the catalogue would stay English."""
    from babel.messages.frontend import CommandLineInterface

    tool = runpy.run_path(str(ROOT / "scripts" / "i18n.py"))
    monkeypatch.chdir(ROOT)
    pot = tmp_path / "messages.pot"
    keywords = [arg for keyword in tool["KEYWORDS"] for arg in ("-k", keyword)]
    with contextlib.redirect_stderr(io.StringIO()):
        CommandLineInterface().run(
            ["pybabel", "-q", "extract", "-F", str(tool["MAPPING"]), *keywords, "-o", str(pot), "server"]
        )
    with pot.open("rb") as handle:
        extracted = {msgid_of(m) for m in read_po(handle) if m.id}
    catalogued = {msgid_of(m) for m in ko_catalog() if m.id}
    missing = sorted(extracted - catalogued)
    assert missing == [], f"run scripts/i18n.py extract and translate: {missing[:20]}"
    assert len(extracted) > 300  # the pages really are marked


def test_the_compiled_mo_holds_exactly_the_po(tmp_path):
    """The server reads the .mo: it must say what the .po says (compile after every merge)."""
    with KO_MO.open("rb") as handle:
        compiled = GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
    expected: dict[object, str] = {}
    for message in ko_catalog():
        if not message.id or message.fuzzy:
            continue
        prefix = f"{message.context}\x04" if message.context else ""  # how gettext keys a msgctxt
        if isinstance(message.id, tuple):
            for index, text in enumerate(message.string):
                expected[(prefix + message.id[0], index)] = text
        else:
            expected[prefix + message.id] = message.string
    compiled = {key: value for key, value in compiled.items() if key != ""}  # the header
    stale = sorted(str(key) for key in set(expected) ^ set(compiled))
    differ = sorted(str(key) for key in set(expected) & set(compiled) if expected[key] != compiled[key])
    assert stale == [] and differ == [], f"run scripts/i18n.py compile: {(stale + differ)[:10]}"


def test_placeholders_survive_translation():
    """A Korean msgstr that lost or renamed a %(name)s (or a {name} for the scripts) breaks the page."""
    pattern = re.compile(r"%\(\w+\)[sd]|\{\w+\}")
    broken = []
    for message in ko_catalog():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set(pattern.findall(ids[-1])) | set(pattern.findall(ids[0]))
        for text in message.string if isinstance(message.string, tuple) else (message.string,):
            found = set(pattern.findall(text))
            # %(num)d may be left out of a Korean form only when the English singular leaves it out too
            if found != wanted and not (found | {"%(num)d"} == wanted and "%(num)d" not in ids[0]):
                broken.append(f"{msgid_of(message)!r}: {sorted(wanted)} != {sorted(found)}")
    assert broken == [], "\n".join(broken[:20])


def test_http_error_texts_are_werkzeugs():
    """server/i18n.py copies Werkzeug's texts for the catalogue; they must be the ones it sends."""
    from server.i18n import HTTP_TEXTS

    werkzeug_texts = set(HTTP_STATUS_CODES.values()) | {
        str(cls.description) for cls in default_exceptions.values() if cls.description
    }
    assert set(HTTP_TEXTS) <= werkzeug_texts


# ----------------------------------------------------------------------------- choosing the language


def test_accept_language_picks_korean_and_english_is_the_default(client):
    korean = client.get("/login", headers={"Accept-Language": "ko-KR,ko;q=0.9,en-US;q=0.8"})
    html = korean.get_data(as_text=True)
    assert '<html lang="ko">' in html and "로그인" in html and "Sign in" not in html
    english = client.get("/login")  # no Accept-Language: DEFAULT_LOCALE
    html = english.get_data(as_text=True)
    assert '<html lang="en">' in html and "Sign in" in html and not HANGUL.search(html)
    other = client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"})  # no catalogue: default
    assert '<html lang="en">' in other.get_data(as_text=True)


def test_default_locale_setting_applies_when_the_browser_names_nothing_we_have(app, client):
    app.config["DEFAULT_LOCALE"] = "ko"
    assert '<html lang="ko">' in client.get("/login").get_data(as_text=True)
    french = client.get("/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="ko">' in french
    assert '<html lang="en">' in client.get("/login", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )


def test_the_users_setting_beats_accept_language_and_empty_follows_the_browser(client, db, make_user, login):
    from server.db.models import AuditLog, User

    user = make_user("instructor", email="mina@example.org")
    db.commit()
    login(client, "mina@example.org", PASSWORD)
    page = client.get("/account/language", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "Follow the browser" in page.get_data(as_text=True)

    saved = client.post(
        "/account/language",
        data={"language": "ko", "csrf_token": csrf_token_from(page.get_data(as_text=True))},
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    html = saved.get_data(as_text=True)
    assert '<html lang="ko">' in html and "언어를 저장했습니다." in html  # this answer already in Korean
    db.expire_all()
    assert db.get(User, user.id).language == "ko"
    assert db.query(AuditLog).filter_by(action="user.language").count() == 1
    home = client.get("/", headers={"Accept-Language": "en-US,en"}).get_data(as_text=True)
    assert '<html lang="ko">' in home and "오늘의 수업" in home  # the setting wins over the browser

    back = client.post(
        "/account/language",
        data={"language": "", "csrf_token": csrf_token_from(html)},
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    assert '<html lang="en">' in back.get_data(as_text=True)
    db.expire_all()
    assert db.get(User, user.id).language is None  # NULL: follow the browser
    assert '<html lang="ko">' in client.get("/", headers={"Accept-Language": "ko"}).get_data(as_text=True)


def test_an_unknown_language_is_refused_with_a_message(client, db, make_user, login):
    make_user("student", email="sora@example.org")
    db.commit()
    login(client, "sora@example.org", PASSWORD)
    page = client.get("/account/language").get_data(as_text=True)
    refused = client.post("/account/language", data={"language": "xx", "csrf_token": csrf_token_from(page)})
    assert refused.status_code == 400 and "Not a valid choice" in refused.get_data(as_text=True)


def test_users_language_column_is_migrated_and_nullable(app, db):
    from sqlalchemy import inspect

    columns = {c["name"]: c for c in inspect(db.get_bind()).get_columns("users")}
    assert "language" in columns and columns["language"]["nullable"] is True


# ----------------------------------------------------------------------------- dates and plurals


@pytest.fixture
def seoul_app(tmp_path):
    """An app with the shipped defaults for language and zone (the test app fixture pins UTC)."""
    from server.app import create_app
    from server.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'visage.db'}"
    upgrade(url)
    return create_app(
        {"INSTANCE_PATH": str(tmp_path / "i"), "DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(8)}
    )


def test_dates_are_babels_in_asia_seoul_by_default(seoul_app):
    from server import i18n

    moment = datetime(2026, 3, 2, 16, 5, 7, tzinfo=timezone.utc)  # 01:05 on Tuesday 3 March in Seoul
    assert i18n.zone_name(seoul_app.config) == "Asia/Seoul"
    with seoul_app.test_request_context(headers={"Accept-Language": "ko"}):
        assert i18n.format_datetime(moment) == "2026년 3월 3일 (화) 01:05"
        assert i18n.format_date(moment, "short") == "3월 3일 (화)"
        assert i18n.format_time(moment, "seconds") == "01:05:07"
        assert i18n.format_date(date(2026, 3, 2)) == "2026년 3월 2일 (월)"  # a day is not moved
        assert i18n.iso(moment) == "2026-03-02T16:05:07Z"
    with seoul_app.test_request_context():
        assert i18n.format_datetime(moment) == "Tue, Mar 3, 2026 01:05"
        assert i18n.format_datetime(moment.isoformat().replace("+00:00", "Z"), "short") == "Tue, Mar 3 01:05"
        assert i18n.format_datetime(None) == ""
        with pytest.raises(ValueError, match="one of"):
            i18n.format_date(moment, "medium")


def test_a_wrong_zone_or_language_stops_the_app(tmp_path):
    from server.app import create_app

    for key, value in (("DISPLAY_TIMEZONE", "Mars/Olympus"), ("DEFAULT_LOCALE", "fr")):
        with pytest.raises(ValueError, match=key):
            create_app({"INSTANCE_PATH": str(tmp_path / key), "SECRET_KEY": "k", key: value})


@pytest.mark.parametrize(
    ("language", "one", "three"),
    [
        ("en", "1 period of 50 min", "3 periods of 60 min, the last 30 min"),
        ("ko", "1교시, 교시당 50분", "3교시, 교시당 60분 (마지막 교시 30분)"),
    ],
)
def test_period_summary_counts_real_periods_in_both_languages(seoul_app, language, one, three):
    from server.i18n import period_summary

    with seoul_app.test_request_context(headers={"Accept-Language": language}):
        assert period_summary([timedelta(minutes=50)]) == one  # a 50-minute lecture, 60-minute periods
        assert period_summary([60, 60, 30]) == three
        two = period_summary([60, 60])
        assert two == ("2 periods of 60 min" if language == "en" else "2교시, 교시당 60분")


def test_the_course_page_shows_the_lectures_real_period_length(client, db, make_user, login):
    """Issue 18: "1 period(s) of 60 min" was shown for a 50-minute lecture."""
    from server.db.models import Classroom, Course, LectureSession

    teacher = make_user("instructor", email="lee@example.org")
    course = Course(code="KO101", title="한국어", instructor=teacher)
    start = datetime(2031, 3, 3, 0, tzinfo=timezone.utc)
    room = Classroom(name="R1")
    db.add_all([course, room])
    db.flush()
    db.add(
        LectureSession(course=course, classroom=room, starts_at=start, ends_at=start + timedelta(minutes=50))
    )
    db.commit()
    login(client, "lee@example.org", PASSWORD)
    english = client.get(f"/courses/{course.id}").get_data(as_text=True)
    assert "1 period of 50 min" in english and "60 min" not in english
    korean = client.get(f"/courses/{course.id}", headers={"Accept-Language": "ko"}).get_data(as_text=True)
    assert "1교시, 교시당 50분" in korean and "월) 00:00" in korean  # Mon 3 March 2031, test zone UTC


@pytest.mark.parametrize(
    ("count", "english"), [(1, "1 student added to the roster."), (2, "2 students added")]
)
def test_plural_flash_messages_in_both_languages(client, db, make_user, login, count, english):
    from server.db.models import Course, Student

    make_user("admin", email="park@example.org")  # sees every student (an instructor only their own)
    course = Course(code="PL101", title="Plurals")
    db.add_all([course, *(Student(student_number=f"P{i}", name=f"Student {i}") for i in range(count))])
    db.commit()
    login(client, "park@example.org", PASSWORD)
    page = client.get(f"/courses/{course.id}").get_data(as_text=True)
    numbers = " ".join(f"P{i}" for i in range(count))
    for language, expected in (("en", english), ("ko", f"학생 {count}명을 수강생 명단에 추가했습니다.")):
        if language == "ko":
            db.get(Course, course.id).students.clear()
            db.commit()
        posted = client.post(
            f"/courses/{course.id}/roster/add",
            data={"student_numbers": numbers, "csrf_token": csrf_token_from(page)},
            headers={"Accept-Language": language},
        )
        assert posted.status_code == 302, re.findall(r"flash[^>]*>([^<]*)<", posted.get_data(as_text=True))
        shown = client.get(f"/courses/{course.id}", headers={"Accept-Language": language}).get_data(
            as_text=True
        )
        assert expected in shown, re.findall(r"flash[^>]*>([^<]*)<", shown)


# ----------------------------------------------------------------------------- API errors


def test_api_errors_speak_korean_when_asked_and_english_otherwise(client, db, make_user, make_token):
    user = make_user("instructor", email="api@example.org")
    token = make_token(user)
    bearer = {"Authorization": f"Bearer {token}"}
    korean = client.get("/api/v1/no-such-thing", headers={**bearer, "Accept-Language": "ko"})
    assert korean.status_code == 404 and korean.is_json
    assert korean.get_json()["error"].startswith("요청한 URL을 서버에서 찾을 수 없습니다")
    english = client.get("/api/v1/no-such-thing", headers=bearer)
    assert english.get_json()["error"].startswith("The requested URL was not found on the server.")

    # a message of the API's own (a service error, extracted by scripts/i18n.py's keywords)
    body = {"title": "x"}
    refused = client.post("/api/v1/courses", json=body, headers={**bearer, "Accept-Language": "ko"})
    assert refused.status_code in (400, 403) and HANGUL.search(refused.get_json()["error"])
    plain = client.post("/api/v1/courses", json=body, headers=bearer)
    assert plain.status_code == refused.status_code and not HANGUL.search(plain.get_json()["error"])


def test_pydantic_refusals_and_values_in_messages_speak_korean(client, db, make_user, make_token):
    """A body pydantic refuses, and a message with a value in it (no f-string: gettext with %(id)s)."""
    bearer = {"Authorization": f"Bearer {make_token(make_user('admin', email='ko-admin@example.org'))}"}
    body = {"title": "Intro"}  # no code
    korean = client.post("/api/v1/courses", json=body, headers={**bearer, "Accept-Language": "ko"})
    assert korean.status_code == 400 and korean.get_json()["error"] == "'code'은(는) 필수입니다"
    english = client.post("/api/v1/courses", json=body, headers=bearer)
    assert english.get_json()["error"] == "'code' is required"
    missing = client.patch(
        "/api/v1/classrooms/999999", json={"name": "x"}, headers={**bearer, "Accept-Language": "ko"}
    )
    assert missing.status_code == 404 and missing.get_json()["error"] == "ID가 999999인 강의실이 없습니다"
    plain = client.patch("/api/v1/classrooms/999999", json={"name": "x"}, headers=bearer)
    assert plain.get_json()["error"] == "no classroom with id 999999"


def test_sign_in_errors_of_the_api_are_translated_too(client):
    """Constants marked with N_ (server/errors.py, server/auth/manager.py) are translated when sent."""
    anonymous = client.get("/api/v1/me", headers={"Accept-Language": "ko"})
    assert anonymous.status_code == 401 and anonymous.get_json()["error"].startswith("인증이 필요합니다")
    bad = client.get("/api/v1/me", headers={"Authorization": "Bearer vsg_nope", "Accept-Language": "ko-KR"})
    assert bad.status_code == 401 and "API 토큰" in bad.get_json()["error"]
    english = client.get("/api/v1/me")
    assert english.get_json()["error"].startswith("authentication required")


def test_upload_refusals_built_from_values_speak_korean(client, db, make_user, make_token):
    """The album's 'no photo was stored (...)' with shared/media.py's reason read back into Korean
    (server/uploads/media_texts.py), and a zip the server cannot open; English unchanged."""
    bearer = {"Authorization": f"Bearer {make_token(make_user('album_user', email='ko-album@example.org'))}"}

    def send(field: str, name: str, language: str | None = None):
        headers = {**bearer, **({"Accept-Language": language} if language else {})}
        data = {field: [(io.BytesIO(b"not a picture at all"), name)]}
        return client.post("/api/v1/album/photos", data=data, headers=headers)

    korean = send("photos", "junk.jpg", "ko")
    assert korean.status_code == 422
    assert korean.get_json()["error"] == (
        "저장된 사진이 없습니다 (junk.jpg: 이미지가 아니거나 받지 않는 형식입니다 "
        "(JPEG, PNG, WebP, BMP 또는 TIFF를 쓰세요))"
    )
    english = send("photos", "junk.jpg")
    assert english.get_json()["error"] == (
        "no photo was stored (junk.jpg: not an image, or a format that is not accepted "
        "(use JPEG, PNG, WebP, BMP or TIFF))"
    )
    assert english.get_json()["files"] == korean.get_json()["files"]  # the report's data stays as it is
    zipped = send("zip", "photos.zip", "ko")
    assert zipped.status_code == 400
    assert zipped.get_json()["error"].startswith("사진 파일이 읽을 수 있는 zip 압축 파일이 아닙니다 (")
    assert (
        send("zip", "photos.zip")
        .get_json()["error"]
        .startswith("the photos file is not a readable zip archive (")
    )
