"""CSV export of attendance, per session and per course, for spreadsheets and student-record systems.

Format (documented in docs/attendance.md):

* UTF-8 with a byte order mark (Excel then reads names in any script correctly), CRLF line ends,
  comma separated, quoted where needed (Python's `csv` module, "excel" dialect).
* One header row, then one row per (session, roster student), sessions in time order and
  students by student number. The columns never change order:
  ``course, session_start, student_number, name, status, period_1 .. period_N, first_seen,
  last_seen, sightings, source, note``; N is the largest number of periods among the exported
  sessions (a shorter session leaves its extra period cells empty).
* Times are ISO 8601 in UTC with a ``Z`` (``2026-03-02T09:00:00Z``); empty when never seen.
* ``status`` and ``period_*`` hold the effective status (overrides applied by engine rule 9, so
  ``status`` is always rule 6 over the ``period_*`` cells): present, late,
  left_early, late_and_left_early, absent, excused. ``source`` is ``engine`` or ``manual``
  (any override for the student). ``note`` is the override's reason (``P2: ...`` for a period).
* Text cells that a spreadsheet would run as a formula (starting with ``= + - @``, tab or CR)
  get a leading apostrophe (OWASP's advice against CSV injection).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import datetime

from server.api.io import iso
from server.attendance import engine
from server.attendance.service import SessionReport

HEAD = ["course", "session_start", "student_number", "name", "status"]
TAIL = ["first_seen", "last_seen", "sightings", "source", "note"]
BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def columns(period_count: int) -> list[str]:
    return [*HEAD, *(f"period_{i}" for i in range(1, period_count + 1)), *TAIL]


def safe_text(value: str | None) -> str:
    """A text cell no spreadsheet will evaluate."""
    text = value or ""
    return "'" + text if text.startswith(_FORMULA_START) else text


def note_of(row: engine.StudentAttendance) -> str:
    if row.note:
        return row.note
    return "; ".join(f"P{p.period + 1}: {p.note}" for p in row.periods if p.note)


def rows(report: SessionReport, period_count: int) -> list[list[str]]:
    lecture = report.lecture
    out = []
    ordered = sorted(report.result.students, key=lambda r: report.students[r.student_id].student_number)
    for row in ordered:
        student = report.students[row.student_id]
        periods = [p.status.value for p in row.periods]
        periods += [""] * (period_count - len(periods))
        out.append(
            [
                safe_text(lecture.course.code),
                iso(lecture.starts_at) or "",
                safe_text(student.student_number),
                safe_text(student.name),
                row.status.value,
                *periods,
                iso(row.evidence.first_seen) or "",
                iso(row.evidence.last_seen) or "",
                str(row.evidence.sightings),
                row.source.value,
                safe_text(note_of(row)),
            ]
        )
    return out


def to_csv(reports: Sequence[SessionReport]) -> str:
    """The CSV text (BOM included) of the given sessions, in the order given."""
    period_count = max((len(r.result.plan.periods) for r in reports), default=1)
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, dialect="excel")  # CRLF line ends, minimal quoting
    writer.writerow(columns(period_count))
    for report in reports:
        writer.writerows(rows(report, period_count))
    return buffer.getvalue()


def filename(code: str, when: datetime | None = None) -> str:
    """A download name safe on every file system: attendance-CS101-20260302-0900.csv."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", code).strip("_") or "course"
    stamp = f"-{when:%Y%m%d-%H%M}" if when is not None else ""
    return f"attendance-{stem}{stamp}.csv"
