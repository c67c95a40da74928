"""The attendance, album, deepfake and device pages in Korean and English (issue 18), through the
Flask test client: the language follows Accept-Language, plural forms are right in both languages
(Korean has one form, English two), the words the pages' scripts write come translated in the page,
and the deepfake texts repeated from shared/ still read as the originals."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from server.db.models import Device, DeviceHealth
from tests.server.attendance_seed import seeded_world
from tests.server.conftest import PASSWORD, csrf_token_from

KO = {"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.5"}


def roll_call(client, world, present: list[int], headers: dict[str, str]) -> str:
    """Post the roll call form with `present` ticked; the page it redirects to, in `headers`' language."""
    session_url = f"/attendance/sessions/{world.session}"
    token = csrf_token_from(client.get(session_url, headers=headers).get_data(as_text=True))
    response = client.post(
        f"{session_url}/rollcall", data={"csrf_token": token, "present": present}, headers=headers
    )
    assert response.status_code == 303
    return client.get(response.headers["Location"], headers=headers).get_data(as_text=True)


def signed_in_world(client, db, make_user, login):
    world = seeded_world(make_user, db)
    assert login(client, "owner@school.example", PASSWORD).status_code == 302
    return world


def test_roll_call_message_has_the_plural_of_each_language(client, db, make_user, login):
    """One flash message, three answers: Korean's single form for 2 and for 1, English's plural for 2
    and singular for 1 (Ada and Ben are counted by the cameras, Cho and Dan are not)."""
    w = signed_in_world(client, db, make_user, login)
    # Cho unticked (left early -> absent) and Dan ticked (absent -> present): two changes
    html = roll_call(client, w, [w.s1, w.s2, w.s4], KO)
    assert '<html lang="ko">' in html
    assert "호명 출석을 저장했습니다. 학생 2명의 상태가 바뀌었습니다." in html
    assert "students changed" not in html
    # Dan unticked again (manual present -> absent): one change
    html = roll_call(client, w, [w.s1, w.s2], KO)
    assert "호명 출석을 저장했습니다. 학생 1명의 상태가 바뀌었습니다." in html
    # Dan ticked again, in English: one change, singular
    html = roll_call(client, w, [w.s1, w.s2, w.s4], {})
    assert '<html lang="en">' in html and "Roll call saved: 1 student changed." in html


def test_session_page_in_korean_with_its_script_words(client, db, make_user, login):
    w = signed_in_world(client, db, make_user, login)
    html = client.get(f"/attendance/sessions/{w.session}", headers=KO).get_data(as_text=True)
    for korean in ("수강생 명단", "출석 상태 정정", "호명 출석", "미확인 얼굴", "변경 기록", "출석 확정"):
        assert korean in html, korean
    assert "Roster" not in html and "Save roll call" not in html
    words = page_words(html)
    assert words["status:late"] == "지각" and words["Correct"] == "정정"
    assert words["Updated {time}; refreshes every {seconds} s."] == "{time} 갱신, {seconds}초마다 새로 고침."
    english = page_words(client.get(f"/attendance/sessions/{w.session}").get_data(as_text=True))
    assert all(english[key] == key for key in english if ":" not in key)  # English keys are the text
    assert english["status:left_early"] == "left early"


def page_words(html: str) -> dict:
    """The JSON the page hands its scripts (templates/page_text.html)."""
    match = re.search(r"<div id=\"page-text\"[^>]* data-words='([^']*)'", html)
    assert match, "no page-text block"
    return json.loads(match.group(1).replace("&#39;", "'").replace("&amp;", "&"))


def test_device_pages_show_times_in_the_deployment_zone_without_utc(app, client, db, make_user, login):
    """Last seen 00:05 UTC is 09:05 in Seoul, in each language's one format; no "UTC" anywhere."""
    app.config["DISPLAY_TIMEZONE"] = "Asia/Seoul"
    make_user("admin", email="root@school.example", display_name="Rita Root")
    device = Device(device_id="cam-9", name="Camera 9")
    db.add(device)
    db.flush()
    seen = datetime(2026, 3, 2, 0, 5, tzinfo=UTC)
    db.add(DeviceHealth(device_id=device.id, status="online", last_seen_at=seen))
    db.commit()
    assert login(client, "root@school.example", PASSWORD).status_code == 302
    listing = client.get("/devices", headers=KO).get_data(as_text=True)
    assert "2026년 3월 2일 (월) 09:05" in listing and "UTC" not in listing and "장치" in listing
    detail = client.get("/devices/cam-9").get_data(as_text=True)
    assert "Mon, Mar 2, 2026 09:05" in detail and " UTC" not in detail
    assert 'data-zone="Asia/Seoul"' in detail and 'data-datetime="E, MMM d, y HH:mm"' in detail


def test_deepfake_texts_still_read_as_the_pipelines_english(app):
    """server/deepfake/texts.py repeats shared/deepfake/pipeline.py's sentences for the catalogue: in
    English each copy must equal its original, or the page would show a stale text."""
    from server.deepfake import texts
    from shared.deepfake.pipeline import VERDICTS

    with app.test_request_context("/"):
        assert {key: str(text) for key, text in texts.VERDICT_LABELS.items()} == VERDICTS
        assert all(str(text) == original for original, text in texts.NOTES.items())
    with app.test_request_context("/", headers=KO):
        assert texts.verdict_label("likely_fake") == "조작 가능성 높음"
        assert all(str(text) != original for original, text in texts.NOTES.items())


def test_day_list_shows_each_sessions_real_periods(client, db, make_user, login):
    """The day list's Periods column: the session's own periods (a 50-minute lecture with hourly
    periods is "1 period of 50 min"), in each language."""
    from server.db.models import LectureSession

    w = signed_in_world(client, db, make_user, login)
    lecture = db.get(LectureSession, w.session)
    lecture.ends_at = lecture.starts_at + timedelta(minutes=50)
    db.commit()
    day = f"/attendance?date={lecture.starts_at:%Y-%m-%d}"
    assert "1 period of 50 min" in client.get(day).get_data(as_text=True)
    assert "교시" in client.get(day, headers=KO).get_data(as_text=True)
