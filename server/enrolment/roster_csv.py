"""The students CSV of a bulk import: `student_number,name[,email]`, header required.

Accepted: UTF-8 with or without a byte-order mark (what spreadsheets write for "CSV UTF-8"), comma,
semicolon or tab separated (taken from the header line), header names in any case and order, blank
lines skipped, extra columns ignored (and reported). Refused as a whole, with every problem listed
(up to a limit) so that one fix-and-retry is enough: not UTF-8, no header, a missing column, a row
with the wrong number of fields, an invalid student number, name or email, a student number twice.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from flask_babel import gettext

from server.enrolment.errors import EnrolmentError
from server.i18n import N_
from server.school.fields import STUDENT_NUMBER

REQUIRED = ("student_number", "name")
OPTIONAL = ("email",)
MAX_REPORTED = 20
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class CsvError(EnrolmentError):
    """The CSV is refused as a whole; `details["problems"]` lists what to fix, by line."""


@dataclass(frozen=True)
class CsvStudent:
    line: int  # line number in the file (the header is line 1)
    student_number: str
    name: str
    email: str | None


@dataclass
class StudentsCsv:
    students: list[CsvStudent]
    ignored_columns: list[str]


def parse_students_csv(data: bytes, max_rows: int) -> StudentsCsv:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CsvError(
            gettext(
                "the students CSV is not UTF-8 text (line %(line)s): save it as 'CSV UTF-8' and try again",
                line=line,
            )
        ) from None
    lines = text.splitlines()
    header_line = next((line for line in lines if line.strip()), None)
    if header_line is None:
        raise CsvError(
            N_("the students CSV is empty: its first line must be the header student_number,name[,email]")
        )
    delimiter = max(",;\t", key=header_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise CsvError(
            gettext(
                "the students CSV is malformed at line %(line)s: %(error)s", line=reader.line_num, error=exc
            )
        ) from None
    rows = [(number, row) for number, row in rows if any(cell.strip() for cell in row)]
    if not rows:  # e.g. ",,," : lines that hold only delimiters
        raise CsvError(
            N_(
                "the students CSV holds no values: its first line must be the header"
                " student_number,name[,email]"
            )
        )
    header_number, header = rows[0]
    columns = [normalise_column(cell) for cell in header]
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise CsvError(
            gettext(
                "the students CSV header (line %(line)s) lacks the column(s) %(names)s: its first line must"
                " name the columns student_number,name and optionally email",
                line=header_number,
                names=", ".join(missing),
            ),
            problems=[gettext("missing column %(name)s", name=name) for name in missing],
        )
    twice = sorted({name for name in columns if name and columns.count(name) > 1})
    if twice:
        raise CsvError(
            gettext(
                "the students CSV header names the column(s) %(names)s more than once", names=", ".join(twice)
            )
        )
    if len(rows) - 1 > max_rows:
        raise CsvError(
            gettext(
                "the students CSV has %(rows)s rows, more than the %(most)s allowed: split it",
                rows=len(rows) - 1,
                most=max_rows,
            )
        )
    index = {name: columns.index(name) for name in (*REQUIRED, *OPTIONAL) if name in columns}
    students: list[CsvStudent] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for number, row in rows[1:]:
        if len(row) != len(columns):
            problems.append(
                gettext(
                    "line %(line)s: %(count)s field(s), the header has %(columns)s",
                    line=number,
                    count=len(row),
                    columns=len(columns),
                )
            )
            continue
        student, errors = read_row(number, row, index)
        problems += errors
        if student is None:
            continue
        if student.student_number in first_line:
            problems.append(
                gettext(
                    "line %(line)s: student number %(number)s is already on line %(first)s",
                    line=number,
                    number=student.student_number,
                    first=first_line[student.student_number],
                )
            )
            continue
        first_line[student.student_number] = number
        students.append(student)
    if problems:
        shown = problems[:MAX_REPORTED]
        values = {"count": len(problems), "first": shown[0], "more": len(problems) - len(shown)}
        message = (
            gettext(
                "the students CSV has %(count)s problem(s), nothing was imported: %(first)s"
                " (and %(more)s more)",
                **values,
            )
            if values["more"]
            else gettext(
                "the students CSV has %(count)s problem(s), nothing was imported: %(first)s", **values
            )
        )
        raise CsvError(message, problems=shown)
    if not students:
        raise CsvError(N_("the students CSV has a header but no students"))
    ignored = [cell.strip() for cell, name in zip(header, columns, strict=True) if name not in index]
    return StudentsCsv(students=students, ignored_columns=ignored)


def normalise_column(cell: str) -> str:
    return re.sub(r"[\s-]+", "_", cell.strip().lower())


def read_row(number: int, row: list[str], index: dict[str, int]) -> tuple[CsvStudent | None, list[str]]:
    student_number = row[index["student_number"]].strip()
    name = row[index["name"]].strip()
    email = row[index["email"]].strip().lower() if "email" in index else ""
    errors: list[str] = []
    if not STUDENT_NUMBER.fullmatch(student_number):
        errors.append(
            gettext(
                "line %(line)s: student number %(number)s is not valid"
                " (1 to 32 letters, digits, '.', '-' or '_')",
                line=number,
                number=repr(student_number),
            )
        )
    if not name or len(name) > 200 or _CONTROL.search(name):
        errors.append(gettext("line %(line)s: the name must be 1 to 200 characters on one line", line=number))
    if email and (len(email) > 254 or not EMAIL.fullmatch(email)):
        errors.append(
            gettext("line %(line)s: %(email)s is not an email address", line=number, email=repr(email))
        )
    if errors:
        return None, errors
    # Stored upper-case, as server.school.students does: 's-001' and 'S-001' are one student.
    return CsvStudent(number, student_number.upper(), name, email or None), []
