"""Enrolment's pure parts, no database: the zip reader's refusals, the students CSV, zip names to
student numbers, templates and the gallery's canonical hash."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import PurePosixPath

import numpy as np
import pytest

from server.enrolment.errors import TooLarge
from server.enrolment.gallery import canonical_sha256
from server.enrolment.importer import student_number_for
from server.enrolment.roster_csv import CsvError, parse_students_csv
from server.faces.embeddings import as_json, best_similarity, combine, from_bytes, to_bytes
from server.uploads.archive import ArchiveError, PhotoArchive

LIMITS = {
    "max_members": 50,
    "max_total": 50 * 1024 * 1024,
    "max_ratio": 100,
    "max_member_bytes": 5 * 1024 * 1024,
}
JPEG_HEAD = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4  # content does not matter to the zip reader


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# --- the zip -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("../evil.jpg", "outside the archive"),
        ("photos/../../evil.jpg", "outside the archive"),
        ("..\\evil.jpg", "outside the archive"),
        ("/etc/evil.jpg", "absolute path"),
        ("C:\\Windows\\evil.jpg", "absolute path"),
    ],
)
def test_zip_with_escaping_member_is_refused_whole(name, words):
    data = make_zip({"S001.jpg": JPEG_HEAD, name: JPEG_HEAD})
    with pytest.raises(ArchiveError, match=words) as caught:
        PhotoArchive(data, **LIMITS)
    assert caught.value.status == 400


def test_zip_with_symlink_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("S001.jpg")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(ArchiveError, match="symbolic link"):
        PhotoArchive(buffer.getvalue(), **LIMITS)


def test_zip_bomb_is_refused_before_inflating():
    bomb = make_zip({"S001.jpg": b"\0" * (20 * 1024 * 1024)})
    assert len(bomb) < 100_000
    with pytest.raises(ArchiveError, match="zip bomb"):
        PhotoArchive(bomb, **LIMITS)


def test_zip_over_the_total_size_or_member_count_is_refused():
    stored = make_zip({f"S{i:03}.jpg": JPEG_HEAD for i in range(5)}, zipfile.ZIP_STORED)
    with pytest.raises(TooLarge, match="once inflated") as caught:
        PhotoArchive(stored, **{**LIMITS, "max_total": 4 * len(JPEG_HEAD)})
    assert caught.value.status == 413
    with pytest.raises(ArchiveError, match="5 entries"):
        PhotoArchive(stored, **{**LIMITS, "max_members": 4})


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04 not really", b"\xff\xd8\xff\xe0 a jpeg, not a zip"])
def test_not_a_zip_is_refused(data):
    with pytest.raises(ArchiveError, match="not a readable zip"):
        PhotoArchive(data, **LIMITS)


def test_zip_members_are_classified_and_read_in_memory():
    inner = make_zip({"S002.jpg": JPEG_HEAD})
    data = make_zip(
        {
            "S001.jpg": JPEG_HEAD,
            "class/S002/front.JPG": JPEG_HEAD,
            "__MACOSX/._S001.jpg": b"apple double",
            ".DS_Store": b"finder",
            "more.zip": inner,
            "notes.txt": b"hello",
            "big.jpg": b"\xff" * 2048,
        }
    )
    archive = PhotoArchive(data, **{**LIMITS, "max_member_bytes": 2000})
    status = {entry.name: entry.ignored or entry.error or "photo" for entry in archive.entries}
    assert status == {
        "S001.jpg": "photo",
        "class/S002/front.JPG": "photo",
        "__MACOSX/._S001.jpg": "hidden or system file",
        ".DS_Store": "hidden or system file",
        "more.zip": "nested archive (not opened)",
        "notes.txt": "not a photo (.txt)",
        "big.jpg": "the file is 2,048 bytes, more than the 2,000-byte limit for a photo",
    }
    photos = list(archive.photos())
    assert [entry.name for entry in photos] == ["S001.jpg", "class/S002/front.JPG"]
    assert archive.read(photos[0]) == JPEG_HEAD


def test_corrupt_member_fails_alone():
    data = bytearray(make_zip({"S001.jpg": JPEG_HEAD, "S002.jpg": JPEG_HEAD * 2}))
    offset = data.index(b"S002.jpg") + len("S002.jpg") + 10  # inside S002's compressed bytes
    data[offset : offset + 20] = b"\x00" * 20
    archive = PhotoArchive(bytes(data), **LIMITS)
    first, second = archive.entries
    assert archive.read(first) == JPEG_HEAD
    with pytest.raises(Exception, match="could not be read from the zip"):
        archive.read(second)


# --- the students CSV --------------------------------------------------------------------------


def test_csv_with_bom_other_order_semicolons_and_extra_columns():
    text = (
        "\ufeffName ; Student Number;email;Seat\n김민준;s-001;MinJun@Example.org;3\n\nAda Lovelace;S-002;;4\n"
    )
    parsed = parse_students_csv(text.encode("utf-8"), max_rows=10)
    assert [(s.line, s.student_number, s.name, s.email) for s in parsed.students] == [
        (2, "S-001", "김민준", "minjun@example.org"),
        (4, "S-002", "Ada Lovelace", None),
    ]
    assert parsed.ignored_columns == ["Seat"]


def test_csv_without_bom_and_quoted_commas():
    parsed = parse_students_csv(b'student_number,name\n2024001,"Hopper, Grace"\n', max_rows=10)
    assert parsed.students[0].name == "Hopper, Grace"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"student_number,email\n1,a@b.org\n", "lacks the column"),
        (b"number,name\n1,Ada\n", "lacks the column"),
        (b"student_number,name\nS1,Ada\ns1,Grace\n", "already on line 2"),
        (b"student_number,name\nS 1,Ada\n", "not valid"),
        (b"student_number,name\nS1,\n", "name must be"),
        (b"student_number,name,email\nS1,Ada,not-an-email\n", "not an email"),
        (b"student_number,name\nS1,Ada,extra\n", "3 field"),
        (b"student_number,name\nS1,Ada\xe9\n", "not UTF-8"),
        (b"", "empty"),
        (b",,,\n , ,\n", "holds no values"),
        (b"student_number,name\n", "no students"),
        (b'student_number,name\nS1,"Ada\n', "malformed"),
    ],
)
def test_malformed_csv_is_refused_whole(data, words):
    with pytest.raises(CsvError, match=words) as caught:
        parse_students_csv(data, max_rows=10)
    assert caught.value.status == 400


def test_csv_lists_every_problem_and_caps_rows():
    with pytest.raises(CsvError) as caught:
        parse_students_csv(b"student_number,name\nS1,Ada\nS1,Ada\nbad number,X\n", max_rows=10)
    assert caught.value.details["problems"] == [
        "line 3: student number S1 is already on line 2",
        "line 4: student number 'bad number' is not valid (1 to 32 letters, digits, '.', '-' or '_')",
    ]
    rows = "student_number,name\n" + "".join(f"S{i},N\n" for i in range(11))
    with pytest.raises(CsvError, match="11 rows, more than the 10"):
        parse_students_csv(rows.encode(), max_rows=10)


# --- names, templates, hashes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("S001.jpg", "S001"),
        ("s001.JPEG", "S001"),
        ("S001_2.jpg", "S001"),
        ("S001/anything.png", "S001"),
        ("export/S001/IMG_0001.jpg", "S001"),
        ("export/S001.jpg", "S001"),
        ("A_B.jpg", "A_B"),  # student numbers may contain '_': the whole name wins
        ("A_B_3.jpg", "A_B"),
        ("S002/S001.jpg", "S002"),  # the folder wins
        ("S009.jpg", None),
        ("photo.jpg", None),
    ],
)
def test_zip_names_to_student_numbers(name, expected):
    assert student_number_for(PurePosixPath(name), {"S001", "S002", "A_B"}) == expected


def test_template_is_normalised_mean_and_bytes_round_trip():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=128).astype(np.float32), rng.normal(size=128).astype(np.float32)
    template = combine([a * 3, b])  # each embedding counts once, whatever its length
    expected = a / np.linalg.norm(a) + b / np.linalg.norm(b)
    assert np.allclose(template, expected / np.linalg.norm(expected), atol=1e-6)
    assert np.array_equal(from_bytes(to_bytes(a), 128), a)
    with pytest.raises(ValueError, match="64 values"):
        from_bytes(to_bytes(a[:64]), 128)
    assert best_similarity(a, [b, a * 2]) == pytest.approx(1.0)
    assert best_similarity(a, []) is None


def test_gallery_json_floats_are_exact_float32_and_hash_survives_a_round_trip():
    vector = np.random.default_rng(1).normal(size=128).astype(np.float32)
    numbers = as_json(vector)
    assert np.array_equal(np.asarray(numbers, dtype=np.float32), vector)
    gallery = {
        "course_id": 7,
        "model": "dlib_resnet",
        "dim": 128,
        "metric": "cosine",
        "threshold": 0.92,
        "students": [{"student_id": 1, "student_number": "S1", "embeddings": [numbers], "template": numbers}],
        "version": 3,
    }
    digest = canonical_sha256(gallery)
    received = json.loads(json.dumps({**gallery, "sha256": digest}, indent=2))  # what a device parses
    assert canonical_sha256(received) == digest
    gallery["students"][0]["embeddings"][0][5] += 1e-6
    assert canonical_sha256(gallery) != digest
