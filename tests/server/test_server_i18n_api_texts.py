"""Issue 18 leftovers: the sentences the server builds from values (pydantic's refusals of a
request body, the size of an upload over its limit, the photo-quality reasons of shared/quality.py)
speak Korean when asked and keep their exact English otherwise."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, time
from enum import Enum
from typing import Literal

import numpy as np
import pytest
from flask import Flask, request
from flask_babel import Babel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.api import pydantic_texts
from server.api.shapes import error_text
from server.school.schemas import LectureSessionCreate
from server.uploads.policy import MiB, over_limit, over_limit_english
from server.uploads.reasons import TEMPLATES as REASON_TEMPLATES
from server.uploads.reasons import _pattern, reason_text
from shared.detect import Face
from shared.quality import QualityThresholds, assess

HANGUL = re.compile("[\uac00-\ud7a3]")


@pytest.fixture
def babel_app() -> Flask:
    """Flask-Babel on the server's catalogues (server/translations), no database needed."""
    app = Flask("server")
    Babel(app, locale_selector=lambda: request.accept_languages.best_match(["en", "ko"]) or "en")
    return app


@pytest.fixture
def korean(babel_app: Flask) -> Iterator[None]:
    with babel_app.test_request_context(headers={"Accept-Language": "ko"}):
        yield


@pytest.fixture
def english(babel_app: Flask) -> Iterator[None]:
    with babel_app.test_request_context():
        yield


class Colour(str, Enum):
    red = "red"
    blue = "blue"


class Inner(BaseModel):
    x: int


class Every(BaseModel):
    """One field per pydantic problem that server/api/pydantic_texts.py translates."""

    model_config = ConfigDict(strict=True, extra="forbid")
    i: int = 0
    s: str = ""
    b: bool = False
    f: float = 0
    d: dict[str, int] = {}
    a: list[int] = []
    m: Inner | None = None
    text: str = Field("x", min_length=1, max_length=3)
    items: list[int] = Field([1], min_length=1, max_length=2)
    ge: int = Field(1, ge=1, le=5)
    gt: int = Field(1, gt=0, lt=9)
    e: Colour = Colour.red
    lit: Literal["x", "y"] = "x"
    dt: datetime | None = None
    day: date | None = None
    at: time | None = None


BAD = [
    '{"i": "1"}',
    '{"s": 1}',
    '{"b": 1}',
    '{"f": "1"}',
    '{"d": 1}',
    '{"a": 1}',
    '{"m": 1}',
    '{"text": "abcd"}',
    '{"text": ""}',
    '{"items": [1, 2, 3]}',
    '{"items": []}',
    '{"ge": 0}',
    '{"ge": 9}',
    '{"gt": 0}',
    '{"gt": 9}',
    '{"e": "green"}',
    '{"lit": "z"}',
    '{"dt": "x"}',
    '{"dt": 5}',
    '{"day": "x"}',
    '{"day": 5}',
    '{"at": "x"}',
    '{"at": 5}',
]


def problem(body: str) -> dict:
    with pytest.raises(ValidationError) as caught:
        Every.model_validate_json(body)
    return caught.value.errors(include_url=False)[0]


def test_every_template_is_pydantics_english_word_for_word(english):
    seen = set()
    for body in BAD:
        first = problem(body)
        said = pydantic_texts.problem_text(first)
        assert said == pydantic_texts.lower_first(first["msg"])  # English: exactly pydantic's
        if first["type"] in pydantic_texts.TEMPLATES:
            values = {k: str(v) for k, v in (first.get("ctx") or {}).items()}
            assert said in [t % values for t in pydantic_texts.TEMPLATES[first["type"]]], body
            seen.add(first["type"])
    assert seen == set(pydantic_texts.TEMPLATES)  # every template checked against pydantic


def test_pydantics_sentences_speak_korean(korean):
    for body in BAD:
        first = problem(body)
        said = pydantic_texts.problem_text(first)
        if first["type"] in pydantic_texts.TEMPLATES:
            assert HANGUL.search(said), (body, said)
    # an unknown problem type keeps pydantic's English
    assert pydantic_texts.problem_text({"type": "no_such", "msg": "Odd thing"}) == "odd thing"


def test_a_refused_body_names_the_field_in_korean(korean):
    with pytest.raises(ValidationError) as caught:
        LectureSessionCreate.model_validate_json('{"classroom_id": 1, "weekly": 5}')
    assert error_text(caught.value, LectureSessionCreate) == "'weekly': 객체여야 합니다"
    with pytest.raises(ValidationError) as caught:
        LectureSessionCreate.model_validate_json('{"classroom_id": 1, "weekly": {"weekday": "mon"}}')
    assert error_text(caught.value, LectureSessionCreate) == "'weekly.start_time'은(는) 필수입니다"


def test_a_refused_body_keeps_its_english(english):
    with pytest.raises(ValidationError) as caught:
        LectureSessionCreate.model_validate_json('{"classroom_id": 1, "weekly": {"weekday": "mon"}}')
    assert error_text(caught.value, LectureSessionCreate) == "'weekly.start_time' is required"


@pytest.mark.parametrize(
    ("size", "limit", "english_text", "korean_text"),
    [
        (31 * MiB, 30 * MiB, "31.0 MiB, more than the 30.0 MiB limit", "31.0 MiB로 한도 30.0 MiB를 넘습니다"),
        (
            2048,
            2000,
            "2,048 bytes, more than the 2,000-byte limit",
            "2,048바이트로 한도 2,000바이트를 넘습니다",
        ),
    ],
)
def test_the_size_over_a_limit_in_both_languages(babel_app, size, limit, english_text, korean_text):
    with babel_app.test_request_context():
        assert over_limit(size, limit) == english_text
    with babel_app.test_request_context(headers={"Accept-Language": "ko"}):
        assert over_limit(size, limit) == korean_text
        assert over_limit_english(size, limit) == english_text  # a kept reason stays English


def every_quality_reason() -> list[str]:
    """shared/quality.py's own sentences, every one of them (thresholds no face can pass)."""
    face = Face(
        box=np.array([0.0, 0.0, 20.0, 20.0]),
        score=0.5,
        landmarks=np.array([[5.0, 5.0], [15.0, 9.0], [16.0, 8.0], [6.0, 15.0], [14.0, 16.0]]),
    )
    limits = QualityThresholds(
        min_face_px=1e6, min_score=1.0, min_sharpness=1e6, max_yaw_deg=-1, max_pitch_deg=-1, max_roll_deg=-1
    )
    quality = assess(face, np.zeros((112, 112, 3), dtype=np.uint8), limits)
    return quality.reasons


def test_the_quality_reasons_are_shareds_english_and_speak_korean(babel_app):
    reasons = every_quality_reason()
    assert len(reasons) == 6
    stored = "; ".join([*reasons, "3 faces found: use a photo of one person", "no face found"])
    stored_size = "the file is 31.0 MiB, more than the 30.0 MiB limit for a photo"
    with babel_app.test_request_context():
        assert reason_text(stored) == stored and reason_text(stored_size) == stored_size
    with babel_app.test_request_context(headers={"Accept-Language": "ko"}):
        parts = reason_text(stored).split("; ")
        assert len(parts) == 8 and all(HANGUL.search(part) for part in parts), parts
        assert "얼굴이 3개" in parts[6] and parts[7] == "얼굴을 찾지 못했습니다"
        assert reason_text(stored_size) == "사진 파일이 31.0 MiB로 한도 30.0 MiB를 넘습니다"
        assert reason_text("a reason nobody wrote") == "a reason nobody wrote"
    # each quality reason is read by exactly one template
    for reason in reasons:
        assert sum(bool(_pattern(t).match(reason)) for t in REASON_TEMPLATES) == 1, reason


def test_sentences_with_values_of_the_album_attendance_and_roster_speak_korean(babel_app):
    from server.album.schemas import AlbumMerge
    from server.attendance.clock import parse_day
    from server.enrolment.roster_csv import CsvError, parse_students_csv

    def said(language: str | None) -> list[str]:
        headers = {"Accept-Language": language} if language else {}
        with babel_app.test_request_context(headers=headers):
            out = []
            with pytest.raises(ValidationError) as caught:
                AlbumMerge.model_validate_json('{"person_ids": ["a"]}')
            out.append(error_text(caught.value, AlbumMerge))
            with pytest.raises(ValueError) as bad_day:
                parse_day("tomorrow", {})
            out.append(str(bad_day.value))
            with pytest.raises(CsvError) as bad_csv:
                parse_students_csv(b"name,email\nAda,a@x.org\n", 10)
            out.append(bad_csv.value.message)
            return out

    assert said(None) == [
        "'person_ids' must be a list of integer ids",
        "'date' must be a day as YYYY-MM-DD (got 'tomorrow')",
        "the students CSV header (line 1) lacks the column(s) student_number: its first line must name the"
        " columns student_number,name and optionally email",
    ]
    assert said("ko") == [
        "'person_ids'은(는) 정수 ID 목록이어야 합니다",
        "'date'는 YYYY-MM-DD 형식의 날짜여야 합니다 (받은 값: 'tomorrow')",
        "학생 CSV 머리글(1번째 줄)에 student_number 열이 없습니다: 첫 줄에 student_number,name 열과 필요하면"
        " email 열을 적어야 합니다",
    ]
