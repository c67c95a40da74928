"""The one rule for which lecture session a sighting belongs to (`server.school.schedule.lecture_at`),
on plain values: the boundaries ingest, attach and `current_session_for_device` all rely on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from server.school.schedule import lecture_at

NINE = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
MARGIN = timedelta(minutes=10)


@dataclass(frozen=True)
class Lecture:
    id: int
    starts_at: datetime
    ends_at: datetime


def at(minutes: float) -> datetime:
    return NINE + timedelta(minutes=minutes)


MORNING = Lecture(2, at(0), at(120))
NOON = Lecture(1, at(120), at(180))  # back to back, and a lower id
LATE = Lecture(3, at(200), at(260))  # 20 minutes after noon ends
ROOM = [MORNING, NOON, LATE]


def test_without_a_margin_only_the_running_session_and_its_end_is_the_next_ones():
    assert lecture_at(ROOM, at(0)) is MORNING  # the start is inclusive
    assert lecture_at(ROOM, at(120)) is NOON  # the end is not
    assert lecture_at(ROOM, at(180)) is None
    assert lecture_at(ROOM, at(-1)) is None
    assert lecture_at([], at(30)) is None


def test_with_a_margin_the_nearest_session_within_it_wins_ties_go_to_the_earlier_start():
    assert lecture_at(ROOM, at(-10), MARGIN) is MORNING  # the margin's edges are included
    assert lecture_at(ROOM, at(-10.5), MARGIN) is None
    assert lecture_at(ROOM, at(119), MARGIN) is MORNING  # running beats a near neighbour
    assert lecture_at(ROOM, at(189), MARGIN) is NOON  # 9 min after noon, 11 before the late one
    assert lecture_at(ROOM, at(190), MARGIN) is NOON  # as near to both: the earlier start
    assert lecture_at(ROOM, at(191), MARGIN) is LATE
    assert lecture_at(ROOM, at(270), MARGIN) is LATE and lecture_at(ROOM, at(271), MARGIN) is None


def test_the_same_start_falls_back_to_the_lower_id():
    twin = Lecture(0, MORNING.starts_at, MORNING.ends_at)
    assert lecture_at([MORNING, twin], at(30)) is twin
