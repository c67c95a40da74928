"""Issue 18, the last English refusals: shared/'s decoding errors (read back by
server/uploads/media_texts.py), the zip and students-CSV refusals and the account rules speak Korean
when asked and keep their exact English otherwise. No database: Flask-Babel on the catalogues."""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import Callable

import pytest
from flask import Flask, request
from flask_babel import Babel
from PIL import Image

from server.auth import tokens
from server.auth.accounts import AccountError, check_password, parse_role
from server.enrolment.roster_csv import CsvError, parse_students_csv
from server.uploads.archive import ArchiveError, PhotoArchive
from server.uploads.media_texts import TEMPLATES, _pattern, media_sentence, media_text
from server.uploads.reasons import reason_text
from shared.deepfake.video import sniff_bytes
from shared.media import MediaError, ShapeLimits, decode_image

HANGUL = re.compile("[\uac00-\ud7a3]")


@pytest.fixture
def babel_app() -> Flask:
    app = Flask("server")
    Babel(app, locale_selector=lambda: request.accept_languages.best_match(["en", "ko"]) or "en")
    return app


def in_language(app: Flask, language: str | None, action: Callable[[], str]) -> str:
    headers = {"Accept-Language": language} if language else {}
    with app.test_request_context(headers=headers):
        return action()


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, "PNG")
    return buffer.getvalue()


def no_pixels_png() -> bytes:
    """A PNG whose header says 0x5: Pillow opens it, shared/media.py refuses it."""
    header = struct.pack(">IIBBBBB", 0, 5, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    return (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )


def media_error(action: Callable[[], object]) -> str:
    with pytest.raises(MediaError) as caught:
        action()
    return str(caught.value)


SHAPE = ShapeLimits(32, 20)
# shared/ raising for real: each message must still be read by a template of media_texts.py.
RAISED: list[Callable[[], object]] = [
    lambda: decode_image(b"", name="a.jpg"),
    lambda: decode_image(b"not a picture", name="a.jpg"),
    lambda: decode_image(png(64, 64)[:60], name="a.png"),
    lambda: decode_image(png(8, 8), name="a.png", shape=SHAPE),
    lambda: decode_image(png(40, 900), name="a.png", shape=SHAPE),
    lambda: decode_image(no_pixels_png(), name="a.png"),
    lambda: sniff_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ", "a.wav"),
    lambda: sniff_bytes(b"OggS\x00\x02" + bytes(10), "a.ogg"),
    lambda: sniff_bytes(b"hello, plain text here", "a.txt"),
]


@pytest.mark.parametrize("raise_it", RAISED)
def test_shared_media_refusals_are_read_back_and_translated(babel_app, raise_it):
    message = media_error(raise_it)
    name = message.split(": ", 1)[0]
    english = in_language(babel_app, None, lambda: media_text(message, name))
    assert english == message  # the English never changes
    korean = in_language(babel_app, "ko", lambda: media_text(message, name))
    assert korean != message and HANGUL.search(korean), (message, korean)
    assert korean.startswith(f"{name}: ") and korean.endswith(".")
    # the values read out of the English are put back (sizes, pixels, Pillow's own words)
    numbers = re.findall(r"\d+", message.split(": ", 1)[1])
    assert all(number in korean for number in numbers), (message, korean)


def test_templates_are_distinct_and_an_unknown_sentence_stays_english(babel_app):
    assert len(set(TEMPLATES)) == len(TEMPLATES)
    for template in TEMPLATES:
        assert _pattern(template).match(template.replace("%(", "").replace(")s", ""))
    assert in_language(babel_app, "ko", lambda: media_sentence("something else entirely")) is None
    assert in_language(babel_app, "ko", lambda: media_text("a.jpg: something else.", "a.jpg")) == (
        "a.jpg: something else."
    )


def test_stored_reasons_of_zip_members_and_decoding_are_translated_at_display(babel_app):
    """Album and enrolment reasons stay English in the data; reason_text shows them in Korean."""
    stored = "the image is corrupt or truncated (broken data stream when reading image file)"
    korean = in_language(babel_app, "ko", lambda: reason_text(stored))
    assert korean == "이미지가 손상되었거나 잘렸습니다 (broken data stream when reading image file)"
    member = "could not be read from the zip (Bad CRC-32 for file 'a.jpg')"
    assert in_language(babel_app, "ko", lambda: reason_text(member)) == (
        "zip에서 읽을 수 없습니다 (Bad CRC-32 for file 'a.jpg')"
    )
    assert in_language(babel_app, "ko", lambda: reason_text("not a photo (.txt)")) == "사진이 아님 (.txt)"
    assert in_language(babel_app, None, lambda: reason_text(stored)) == stored


def raised_message(kind: type[Exception], action: Callable[[], object]) -> str:
    try:
        action()
    except kind as error:
        return getattr(error, "message", None) or str(error)
    raise AssertionError(f"{kind.__name__} expected")


CASES: list[tuple[type[Exception], Callable[[], object], str]] = [
    (
        ArchiveError,
        lambda: PhotoArchive(
            b"no zip", max_members=9, max_total=10**6, max_ratio=100, max_member_bytes=10**6
        ),
        "the photos file is not a readable zip archive (File is not a zip file)",
    ),
    (
        CsvError,
        lambda: parse_students_csv(b"student_number,name\nS1,\xff\xfe\n", 10),
        "the students CSV is not UTF-8 text (line 2): save it as 'CSV UTF-8' and try again",
    ),
    (
        CsvError,
        lambda: parse_students_csv(b"student_number,name,email\nS1,Ada,nope\nS2,Bob\n", 10),
        "the students CSV has 2 problem(s), nothing was imported: line 2: 'nope' is not an email address",
    ),
    (
        AccountError,
        lambda: parse_role("boss"),
        "unknown role 'boss': choose one of ",
    ),
    (AccountError, lambda: check_password("short"), "the password is too short: use at least "),
    (
        ValueError,
        lambda: tokens.create(None, None, "gallery sync", 0, None),  # type: ignore[arg-type]
        "the expiry must be a whole number of days from 1 to 3650",
    ),
]


@pytest.mark.parametrize(("kind", "action", "english"), CASES)
def test_refusals_with_values_speak_korean_and_keep_their_english(babel_app, kind, action, english):
    said = in_language(babel_app, None, lambda: raised_message(kind, action))
    assert said.startswith(english), said
    korean = in_language(babel_app, "ko", lambda: raised_message(kind, action))
    assert HANGUL.search(korean) and korean != said, korean


def test_the_import_reports_unknown_student_number_reads_in_korean(babel_app):
    """The import report shows the importer's stored English reason in the reader's language."""
    from pathlib import PurePosixPath

    from server.enrolment.importer import guessed_number

    number = guessed_number(PurePosixPath("20269999.jpg"))
    stored = (
        f"unknown student number {number!r}: not in the CSV nor on the "
        "course's roster (name files <student_number>.jpg, <student_number>_<n>.jpg or <student_number>/...)"
    )
    korean = in_language(babel_app, "ko", lambda: reason_text(stored))
    assert korean.startswith("알 수 없는 학번 '20269999'"), korean
    assert in_language(babel_app, None, lambda: reason_text(stored)) == stored
    assert in_language(babel_app, "ko", lambda: reason_text("the name on record is 'Kim': kept")) == (
        "등록된 이름은 'Kim'입니다: 그대로 유지합니다"
    )


def test_pages_have_one_reason_filter_for_stored_refusals(app):
    """The album's failed-photo tooltip and other pages read a stored English error through `| reason`."""
    stored = "the image is corrupt or truncated (broken data stream when reading image file)"

    def render() -> str:
        return app.jinja_env.from_string("{{ error | reason }}").render(error=stored)

    assert in_language(app, "ko", render).startswith("이미지가 손상되었거나 잘렸습니다")
    assert in_language(app, None, render) == stored
