"""Bulk enrolment: a students CSV plus a zip of real photos named by student number, into a course.
What was kept and what was not is reported per row and per file; a malformed CSV or an unsafe zip
(path traversal, zip bomb) is refused as a whole and nothing is written; on SQLite and MariaDB."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from server.db.enums import FaceKind
from server.db.models import AuditLog, Course, CourseGallery, FaceTemplate, Student, course_students
from server.settings import update_settings
from tests.server.conftest import PASSWORD, csrf_token_from
from tests.server.test_server_enrolment_support import (
    bearer,
    lfw,
    make_zip,
    no_face_photo,
    seed_school,
    share_analyzer,
)

CSV = (
    "\ufeffstudent_number,name,email\n"
    "S001,Ariel Sharon,Ariel@Example.org\n"
    "s002,콜린 파월,\n"
    "S003,Donald Rumsfeld,\n"
    "S004,Nora Face,\n"
    "A-1,Ann Renamed,\n"
).encode()


@pytest.fixture
def school(app, analyzer, db, make_user, make_token):
    share_analyzer(app, analyzer)
    return seed_school(db, make_user, make_token)


def post_import(client, token, course_id, csv: bytes | None = None, archive: bytes | None = None):
    data = {}
    if csv is not None:
        data["students"] = (io.BytesIO(csv), "students.csv")
    if archive is not None:
        data["photos"] = (io.BytesIO(archive), "photos.zip")
    return client.post(
        f"/api/v1/courses/{course_id}/enrolment/import",
        data=data,
        headers=bearer(token),
        content_type="multipart/form-data",
    )


def snapshot(db) -> tuple:
    """Everything an import could write."""
    db.expire_all()
    return (
        db.scalar(select(func.count()).select_from(Student)),
        db.scalar(select(func.count()).select_from(course_students)),
        db.scalar(select(func.count()).select_from(FaceTemplate)),
        db.scalar(select(func.count()).select_from(CourseGallery)),
        db.scalar(select(func.count()).select_from(AuditLog)),
    )


def test_import_csv_and_zip_reports_every_row_and_file(client, db, school):
    rumsfeld = lfw("Donald_Rumsfeld", 1)
    archive = make_zip(
        {
            "S001.jpg": lfw("Ariel_Sharon", 1),
            "S001_2.jpg": lfw("Ariel_Sharon", 2),  # blurred
            "S002/front.jpg": lfw("Colin_Powell", 1),
            "s002/side.jpg": lfw("Colin_Powell", 2),
            "S003_1.jpg": rumsfeld,
            "S003_2.jpg": rumsfeld,  # the same file again
            "S003_3.jpg": lfw("Gerhard_Schroeder", 1),  # someone else under S003's number
            "S004.jpg": no_face_photo(),
            "9999.jpg": lfw("Gerhard_Schroeder", 1),  # nobody's student number
            "__MACOSX/._S001.jpg": b"resource fork",
            "readme.txt": b"photos of CS101",
            "old.zip": make_zip({"S001.jpg": b"never opened"}),
        }
    )
    response = post_import(client, school.ada_token, school.a101, CSV, archive)
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert report["summary"] == {
        "students_in_csv": 5,
        "students_created": 4,
        "added_to_roster": 4,
        "photos_accepted": 5,
        "photos_rejected": 4,
        "files_ignored": 3,
    }
    rows = {row["student_number"]: row for row in report["rows"]}
    assert [row["line"] for row in report["rows"]] == [2, 3, 4, 5, 6]
    assert rows["S002"]["name"] == "콜린 파월" and rows["S002"]["photos_accepted"] == 2
    assert (rows["S001"]["photos_accepted"], rows["S001"]["photos_rejected"]) == (1, 1)
    assert rows["S004"]["notes"] == ["no accepted photo yet: devices cannot recognise this student"]
    assert rows["A-1"]["student"] == "existing" and rows["A-1"]["roster"] == "already_enrolled"
    assert rows["A-1"]["notes"][0] == "the name on record is 'Ann': kept"

    files = {item["file"]: item for item in report["files"]}
    assert {name: item["status"] for name, item in files.items()} == {
        "S001.jpg": "accepted",
        "S001_2.jpg": "rejected",
        "S002/front.jpg": "accepted",
        "s002/side.jpg": "accepted",
        "S003_1.jpg": "accepted",
        "S003_2.jpg": "rejected",
        "S003_3.jpg": "accepted",
        "S004.jpg": "rejected",
        "9999.jpg": "rejected",
        "__MACOSX/._S001.jpg": "ignored",
        "readme.txt": "ignored",
        "old.zip": "ignored",
    }
    assert files["S001_2.jpg"]["reason"].startswith("blurred (sharpness")
    assert files["S003_2.jpg"]["reason"] == "this photo is already enrolled for this student"
    assert files["S004.jpg"]["reason"] == "no face found"
    assert files["S003_3.jpg"]["warnings"][0].startswith("looks unlike this student's other photos")
    assert files["S002/front.jpg"]["warnings"] == files["s002/side.jpg"]["warnings"] == []
    assert files["9999.jpg"]["reason"].startswith("unknown student number '9999': not in the CSV")
    assert files["9999.jpg"]["student_number"] is None
    assert files["old.zip"]["reason"] == "nested archive (not opened)"

    db.expire_all()
    students = {s.student_number: s for s in db.scalars(select(Student))}
    assert students["S001"].email == "ariel@example.org" and students["A-1"].name == "Ann"
    course = db.get(Course, school.a101)
    assert sorted(s.student_number for s in course.students) == ["A-1", "S001", "S002", "S003", "S004"]
    photos = db.execute(
        select(Student.student_number, func.count())
        .join(FaceTemplate, FaceTemplate.student_id == Student.id)
        .where(FaceTemplate.kind == FaceKind.PHOTO)
        .group_by(Student.student_number)
    ).all()
    assert dict(photos) == {"S001": 1, "S002": 2, "S003": 2}

    gallery = client.get(
        f"/api/v1/courses/{school.a101}/gallery", headers=bearer(school.ada_token)
    ).get_json()
    assert (gallery["version"], gallery["sha256"]) == (
        report["gallery"]["version"],
        report["gallery"]["sha256"],
    )
    entries = {s["student_number"]: s for s in gallery["students"]}
    assert [len(entries[n]["embeddings"]) for n in ("A-1", "S001", "S002", "S003", "S004")] == [0, 1, 2, 2, 0]
    assert entries["S004"]["template"] is None and len(entries["S002"]["template"]) == 128

    # The same import again keeps everything, adds nothing and analyses no enrolled photo again.
    again = post_import(client, school.ada_token, school.a101, CSV, archive).get_json()
    assert again["summary"]["students_created"] == 0 and again["summary"]["photos_accepted"] == 0
    assert again["gallery"] == report["gallery"]
    assert {item["reason"] for item in again["files"] if item["file"].startswith("S002")} == {
        "this photo is already enrolled for this student"
    }


def test_zip_with_path_traversal_is_refused_and_nothing_written(client, db, school):
    before = snapshot(db)
    archive = make_zip({"S001.jpg": lfw("Ariel_Sharon", 1), "../evil.jpg": lfw("Colin_Powell", 1)})
    response = post_import(client, school.ada_token, school.a101, CSV, archive)
    assert response.status_code == 400
    assert (
        response.get_json()["error"] == "zip member '../evil.jpg' points outside the archive ('..'): refused"
    )
    assert snapshot(db) == before


def test_a_csv_naming_another_instructors_student_is_refused_without_revealing_them(client, db, school):
    """Bob's student B-1 in Ada's CSV: the import must not put Ben on Ada's roster (and then let her
    enrol or read his photos), nor show his name or email on record; nothing is written."""
    before = snapshot(db)
    csv = b"student_number,name,email\nS001,Ariel Sharon,\nB-1,Someone Else,x@example.org\n"
    archive = make_zip({"B-1.jpg": lfw("Colin_Powell", 1)})
    response = post_import(client, school.ada_token, school.a101, csv, archive)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert "B-1" in error and "outside your courses" in error and "nothing was imported" in error
    assert "Ben" not in response.get_data(as_text=True)
    assert snapshot(db) == before
    # Bob importing his own student is fine (he sees Ben)
    ok = post_import(client, school.bob_token, school.b101, b"student_number,name\nB-1,Ben\n")
    assert ok.status_code == 200, ok.get_json()


def test_zip_bomb_is_refused_and_nothing_written(client, db, school):
    before = snapshot(db)
    bomb = make_zip({"S001.jpg": b"\0" * (64 * 1024 * 1024)})
    assert len(bomb) < 200_000
    response = post_import(client, school.ada_token, school.a101, CSV, bomb)
    assert response.status_code == 400 and "zip bomb" in response.get_json()["error"]
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("csv", "words", "problems"),
    [
        (b"student_number,email\nS001,a@example.org\n", "lacks the column(s) name", ["missing column name"]),
        (
            b"student_number,name\nS001,Ada\nS002,Ben\ns001,Ada again\n",
            "1 problem(s), nothing was imported",
            ["line 4: student number S001 is already on line 2"],
        ),
    ],
)
def test_malformed_csv_is_refused_and_nothing_written(client, db, school, csv, words, problems):
    before = snapshot(db)
    response = post_import(client, school.ada_token, school.a101, csv)
    assert response.status_code == 400
    body = response.get_json()
    assert words in body["error"] and body["problems"] == problems
    assert snapshot(db) == before


def test_import_needs_something_and_respects_its_size_limit(app, client, db, school):
    nothing = post_import(client, school.ada_token, school.a101)
    assert nothing.status_code == 400 and "send a students CSV" in nothing.get_json()["error"]
    update_settings(app, ENROLMENT_MAX_IMPORT_BYTES=1000)
    big = post_import(client, school.ada_token, school.a101, CSV + b"S9,X\n" * 200)
    assert big.status_code == 413 and "limit for a bulk import" in big.get_json()["error"]
    assert snapshot(db)[0] == 2  # only the seeded students


def test_import_through_the_course_page(client, db, school, login):
    login(client, "ada@school.example", PASSWORD)
    page = client.get(f"/courses/{school.a101}/enrolment")
    assert page.status_code == 200 and "Bulk import" in page.get_data(as_text=True)
    token = csrf_token_from(page.get_data(as_text=True))
    url = f"/courses/{school.a101}/enrolment/import"

    bad = client.post(url, data={"csrf_token": token, "students": (io.BytesIO(b"name\nAda\n"), "s.csv")})
    assert bad.status_code == 400
    assert "lacks the column(s) student_number" in bad.get_data(as_text=True)
    assert snapshot(db)[0] == 2

    good = client.post(url, data={"csrf_token": token, "students": (io.BytesIO(CSV), "s.csv")})
    html = good.get_data(as_text=True)
    assert good.status_code == 200
    assert "5 student rows: 4 created, 4 added to the roster." in html
    assert "콜린 파월" in html and "no accepted photo yet" in html
    roster = client.get(f"/courses/{school.a101}/enrolment").get_data(as_text=True)
    assert "S004" in roster and "0 of 5 students recognisable" in roster
