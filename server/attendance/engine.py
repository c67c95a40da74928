"""Attendance engine: the sightings of one lecture session -> a status per student and per period.

Pure Python with no Flask or SQLAlchemy: the server loads rows, builds the inputs below,
calls `compute_attendance`, stores or exports what comes back, and applies the
instructor's corrections with `apply_overrides` so the UI, the API and the CSV export share
one rule. Every type is a frozen dataclass; the same inputs in any order give an identical
(``==``) result, so recomputing is deterministic and idempotent.

These are final verdicts (an early leave shows once the gap tolerance has passed); who is in
the room *now* while a session runs ("out of the room since 09:32") is presence.py's live state.

Rules
=====

Time
    All datetimes must be timezone-aware; they are converted to UTC. A naive datetime is
    rejected with ``ValueError`` (guessing a zone would silently shift a whole lecture).
    Attendance uses ``Sighting.captured_at`` (the device's capture clock), never the time a
    sighting reached the server. Internally times are integer microseconds, so there is no
    floating-point drift between runs.

1. Periods (`SessionPlan`)
    A session ``[start, end]`` is split into periods. By default: consecutive periods of
    ``period_length`` (60 min) separated by ``break_length`` (0), the last one cut short at
    ``end``; e.g. 09:00-12:00 gives three hourly periods, and ``period_length=50 min,
    break_length=10 min`` gives 09:00-09:50, 10:00-10:50, 11:00-11:50. Explicit
    ``boundaries`` ((start, end) pairs inside the session, non-overlapping, gaps between them
    are breaks) replace that split.

2. Which sightings count, in this order
    a. Duplicates (same ``event_id``) count once. If copies disagree, the one that sorts first
       by (captured_at, -score, student, device, track, quality) is kept, whatever the order.
    b. Sightings outside ``[start - window_margin, end + window_margin]`` are ignored. Those
       in the margins (and in breaks) do extend presence intervals (so a student seen at
       08:58 and 09:02 is present from 09:00) but never count as a period's sightings.
    c. ``student_id is None`` -> an unknown face (rule 7); ``min_confidence`` does not apply.
    d. A student sighting with ``score < min_confidence`` is ignored (when it is set).
    The result counts the duplicates and the ignored sightings.

3. Presence intervals (per student)
    Sightings are sorted by time. Two consecutive sightings belong to the same continuous
    presence interval when they are at most ``max(gap_tolerance, 2 * dwell)`` apart (a
    ceiling camera does not see every student every second). Each interval spans from its
    first sighting minus ``dwell`` to its last sighting plus ``dwell`` (a sighting is
    evidence of presence around its instant, not only at it); a lone sighting is an interval
    of ``2 * dwell``. Intervals are disjoint.

4. A period's evidence (`Evidence`)
    *Sightings of a period*: those with ``period.start <= captured_at < period.end``;
    periods are half-open, except the session's last period, which also takes
    ``captured_at == its end``. So a sighting exactly at 10:00 between 09:00-10:00 and
    10:00-11:00 counts for the 10:00 period. They give ``sightings``, ``first_seen``,
    ``last_seen``, ``best_score`` and ``best_event_id`` (highest score; ties -> earliest,
    then smallest event id: the sighting whose thumbnail the UI shows).
    *Presence*: the presence intervals clipped to the period. ``presence_seconds`` is their
    total length, ``fraction`` = presence_seconds / period length, ``arrival`` is the start of
    the first clipped interval and ``departure`` the end of the last one. Because presence
    continues across boundaries, a student sitting through 10:00 arrives at 10:00 in the
    second period. (In effect the grace windows below are widened by ``dwell``.)

5. A period's status (`Status`), first rule that applies
    a. ``sightings < min_sightings`` -> ABSENT (reason NOT_SEEN, or TOO_FEW_SIGHTINGS if
       seen at all). One stray (mis)recognition never makes someone present.
    b. ``fraction < min_presence_fraction`` -> ABSENT (reason BELOW_MIN_PRESENCE, plus
       ARRIVED_LATE / DEPARTED_EARLY when they apply, so "checked in, walked out after five
       minutes" is ABSENT with reasons (BELOW_MIN_PRESENCE, DEPARTED_EARLY)).
    c. late = ``arrival > start + late_after``; early = ``departure < end - left_early_before``
       (strict: exactly at the grace limit is on time). Both -> LATE_AND_LEFT_EARLY (its own
       value, so neither fact is lost); late -> LATE; early -> LEFT_EARLY; else PRESENT.
    A break inside a period (leaving at 09:20, back at 09:35) costs presence time only: the
    departure is the end of the last interval, so the student is not LEFT_EARLY as long as
    the presence fraction holds.

6. The session's status per student (from the period statuses only)
    *Attended* periods are those not ABSENT; *credit* = attended period time / all period
    time. No attended period -> ABSENT (NOT_SEEN if never seen, else BELOW_MIN_PRESENCE).
    Credit below ``min_presence_fraction`` -> ABSENT (BELOW_MIN_PRESENCE, with the reasons
    below). Otherwise late = the first attended period is not the first period or is
    LATE / LATE_AND_LEFT_EARLY; early = the last attended period is not the last period or is
    LEFT_EARLY / LATE_AND_LEFT_EARLY; combined as in 5c. An absent period between attended
    ones adds reason MISSED_PERIODS without changing the status (the periods show it).
    EXCUSED periods (set by overrides only) are left out of the judgement: credit, first and
    last are taken over the other periods; all periods EXCUSED -> EXCUSED.
    Session evidence: all counted sightings of the student (margins and breaks included),
    presence summed over the periods, fraction of all period time, arrival of the first and
    departure of the last period with presence.

7. Unknown faces (`UnknownFace`)
    Sightings with ``student_id None`` grouped by (device_id, track_id) into review items
    (first/last seen, count, best score, event ids in time order). A sighting without a
    track id is its own item: nothing says two trackless faces are the same person. A track
    that some sighting in the window names a student is not an unknown face: the device
    recognised it on a later view (and re-sent its earlier reports under the student), so
    there is nothing to review.

8. Roster
    Roster students never seen (or seen too little) are ABSENT. Students seen but not on the
    roster are computed by the same rules and returned apart in ``not_on_roster``. Ids are
    compared with ``==``: give roster and sightings the same id type.

9. Overrides (`apply_overrides`, pure): one status model
    An `Override` sets a student's status for one period (``period=index``) or for the
    whole session (``period=None``). A row an override touches has ``source=MANUAL``, the
    override's ``note``, keeps the engine's own verdict in ``computed_status`` and its
    evidence; its ``reasons`` are emptied (the note says why).
    *Periods*: a period's own override wins; otherwise a session override sets the period
    to that status projected onto it: PRESENT, ABSENT and EXCUSED apply to every period
    as they are; LATE makes the first period LATE and the others PRESENT; LEFT_EARLY makes
    the last period LEFT_EARLY and the others PRESENT; LATE_AND_LEFT_EARLY does both (a
    one-period session gets LATE_AND_LEFT_EARLY itself). Untouched periods keep the engine's.
    *Session*: always rule 6 over the effective period statuses, so the summary and the
    periods can never disagree. With a session override alone this gives back exactly the
    overridden status (the projection is built for that); a period override on top of it
    (say, P1 absent after "late for the session") moves the summary by rule 6 like any other.
    The caller decides which overrides are in force (the server: the latest per (student,
    period), and a session override supersedes period overrides made before it). Overriding
    an unknown student, a period out of range or the same (student, period) twice is a
    ``ValueError``.

Output order: students by id (ints before strings), periods by index, unknown faces by
first_seen then device, track and first event id.

Cost: one sort of the sightings, then per student a linear pass and a binary search per
period; 100 students x 10,000 sightings take under 0.1 s on one CPU core.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from itertools import pairwise
from typing import TypeVar

StudentId = str | int
TrackId = str | int

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)


class Status(StrEnum):
    PRESENT = "present"
    LATE = "late"
    LEFT_EARLY = "left_early"
    LATE_AND_LEFT_EARLY = "late_and_left_early"
    ABSENT = "absent"
    EXCUSED = "excused"  # manual only (an override); the engine never computes it


class Reason(StrEnum):
    """Why the engine chose a status (shown to the instructor beside the evidence)."""

    NOT_SEEN = "not_seen"
    TOO_FEW_SIGHTINGS = "too_few_sightings"
    BELOW_MIN_PRESENCE = "below_min_presence"
    ARRIVED_LATE = "arrived_late"
    DEPARTED_EARLY = "departed_early"
    MISSED_PERIODS = "missed_periods"


class Source(StrEnum):
    ENGINE = "engine"
    MANUAL = "manual"


_LATE = frozenset({Status.LATE, Status.LATE_AND_LEFT_EARLY})
_EARLY = frozenset({Status.LEFT_EARLY, Status.LATE_AND_LEFT_EARLY})


# ----------------------------------------------------------------------------- time helpers


def _utc(name: str, value: datetime) -> datetime:
    """`value` in UTC; naive datetimes are refused because their zone would be a guess."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (UTC), got naive {value.isoformat()}")
    return value.astimezone(timezone.utc)


def _us(value: datetime) -> int:
    return (value - _EPOCH) // _US


def _dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _duration(name: str, value: timedelta) -> int:
    """A non-negative timedelta in microseconds."""
    if not isinstance(value, timedelta):
        raise TypeError(f"{name} must be a timedelta, got {type(value).__name__}")
    if value < timedelta(0):
        raise ValueError(f"{name} must not be negative, got {value}")
    return value // _US


def _order(value: object) -> tuple:
    """Total order over optional ids and numbers: None < numbers < strings."""
    if value is None:
        return (0, 0, "")
    if isinstance(value, str):
        return (2, 0, value)
    return (1, value, "")


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class Period:
    """One period of a session; `index` counts from 0 in time order."""

    index: int
    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class SessionPlan:
    """When a session runs and how it is split into periods (rule 1)."""

    start: datetime
    end: datetime
    period_length: timedelta = timedelta(minutes=60)
    break_length: timedelta = timedelta(0)
    boundaries: tuple[tuple[datetime, datetime], ...] | None = None
    periods: tuple[Period, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        start, end = _utc("SessionPlan.start", self.start), _utc("SessionPlan.end", self.end)
        if end <= start:
            raise ValueError(f"SessionPlan.end ({end.isoformat()}) must be after start ({start.isoformat()})")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        if self.boundaries is None:
            periods = self._regular_periods()
        else:
            object.__setattr__(self, "boundaries", tuple(tuple(pair) for pair in self.boundaries))
            periods = self._explicit_periods()
        object.__setattr__(self, "periods", periods)

    def _regular_periods(self) -> tuple[Period, ...]:
        length = _duration("SessionPlan.period_length", self.period_length)
        gap = _duration("SessionPlan.break_length", self.break_length)
        if length == 0:
            raise ValueError("SessionPlan.period_length must be positive")
        periods: list[Period] = []
        t, end = self.start, self.end
        while t < end:
            stop = min(t + timedelta(microseconds=length), end)
            periods.append(Period(len(periods), t, stop))
            t = stop + timedelta(microseconds=gap)
        return tuple(periods)

    def _explicit_periods(self) -> tuple[Period, ...]:
        assert self.boundaries is not None
        if not self.boundaries:
            raise ValueError("SessionPlan.boundaries must name at least one period")
        pairs = []
        for i, pair in enumerate(self.boundaries):
            if len(pair) != 2:
                raise ValueError(f"SessionPlan.boundaries[{i}] must be a (start, end) pair")
            lo, hi = _utc(f"boundaries[{i}] start", pair[0]), _utc(f"boundaries[{i}] end", pair[1])
            if hi <= lo:
                raise ValueError(f"SessionPlan.boundaries[{i}] ends before it starts")
            if lo < self.start or hi > self.end:
                raise ValueError(
                    f"SessionPlan.boundaries[{i}] lies outside the session {self.start}..{self.end}"
                )
            pairs.append((lo, hi))
        pairs.sort()
        for (_, prev_end), (next_start, _) in pairwise(pairs):
            if next_start < prev_end:
                raise ValueError("SessionPlan.boundaries overlap")
        return tuple(Period(i, lo, hi) for i, (lo, hi) in enumerate(pairs))


@dataclass(frozen=True)
class AttendancePolicy:
    """The institution's rules; defaults fit hourly lecture periods (rules 2-6)."""

    late_after: timedelta = timedelta(minutes=10)
    left_early_before: timedelta = timedelta(minutes=10)
    min_presence_fraction: float = 0.5
    gap_tolerance: timedelta = timedelta(minutes=5)
    dwell: timedelta = timedelta(seconds=30)
    min_confidence: float | None = None
    min_sightings: int = 3
    window_margin: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        for name in ("late_after", "left_early_before", "gap_tolerance", "dwell", "window_margin"):
            _duration(f"AttendancePolicy.{name}", getattr(self, name))
        fraction = self.min_presence_fraction
        if not isinstance(fraction, int | float) or not 0.0 <= fraction <= 1.0:
            raise ValueError(f"AttendancePolicy.min_presence_fraction must be in [0, 1], got {fraction!r}")
        count = self.min_sightings
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"AttendancePolicy.min_sightings must be an integer >= 1, got {count!r}")
        if self.min_confidence is not None and not math.isfinite(self.min_confidence):
            raise ValueError(f"AttendancePolicy.min_confidence must be finite, got {self.min_confidence!r}")


@dataclass(frozen=True, slots=True)
class Sighting:
    """One recognition event from a device; `student_id` None means an unknown face."""

    event_id: str
    student_id: StudentId | None
    captured_at: datetime
    score: float
    track_id: TrackId | None = None
    device_id: str = ""
    quality: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.event_id, str) or not self.event_id:
            raise ValueError(f"Sighting.event_id must be a non-empty string, got {self.event_id!r}")
        captured = _utc(f"Sighting {self.event_id} captured_at", self.captured_at)
        object.__setattr__(self, "captured_at", captured)
        score = float(self.score)
        if not math.isfinite(score):
            raise ValueError(f"Sighting {self.event_id} score must be finite, got {self.score!r}")
        object.__setattr__(self, "score", score)

    def _canonical(self) -> tuple:
        """Order that picks one copy among duplicates regardless of input order."""
        return (
            self.captured_at,
            -self.score,
            _order(self.student_id),
            self.device_id,
            _order(self.track_id),
            _order(self.quality),
        )


@dataclass(frozen=True, slots=True)
class Override:
    """A manual status: for one period (`period` = index) or the whole session (None)."""

    student_id: StudentId
    status: Status
    period: int | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))


# ----------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a status rests on (rule 4); times are UTC, None when there is nothing."""

    sightings: int
    first_seen: datetime | None
    last_seen: datetime | None
    best_score: float | None
    best_event_id: str | None
    presence_seconds: float
    fraction: float
    arrival: datetime | None
    departure: datetime | None


@dataclass(frozen=True, slots=True)
class PeriodAttendance:
    period: int
    status: Status
    reasons: tuple[Reason, ...]
    evidence: Evidence
    computed_status: Status
    source: Source = Source.ENGINE
    note: str | None = None


@dataclass(frozen=True, slots=True)
class StudentAttendance:
    student_id: StudentId
    status: Status
    reasons: tuple[Reason, ...]
    evidence: Evidence
    periods: tuple[PeriodAttendance, ...]
    computed_status: Status
    source: Source = Source.ENGINE
    note: str | None = None


@dataclass(frozen=True, slots=True)
class UnknownFace:
    """An unrecognised face to review: assign it to a student or mark it "not a student"."""

    device_id: str
    track_id: TrackId | None
    sightings: int
    first_seen: datetime
    last_seen: datetime
    best_score: float
    best_event_id: str
    event_ids: tuple[str, ...]


@dataclass(frozen=True)
class SessionAttendance:
    plan: SessionPlan
    policy: AttendancePolicy
    students: tuple[StudentAttendance, ...]
    not_on_roster: tuple[StudentAttendance, ...]
    unknown_faces: tuple[UnknownFace, ...]
    duplicate_events: int
    ignored_outside_window: int
    ignored_low_confidence: int

    def student(self, student_id: StudentId) -> StudentAttendance:
        """The roster student's row; KeyError names the id when it is not on the roster."""
        for row in self.students:
            if row.student_id == student_id:
                return row
        raise KeyError(f"student {student_id!r} is not on the session's roster")


# ----------------------------------------------------------------------------- computation

_Obs = tuple[int, float, str]  # (captured_at in us, score, event_id), sorted by time then event id


def compute_attendance(
    plan: SessionPlan,
    policy: AttendancePolicy,
    roster: Sequence[StudentId],
    sightings: Iterable[Sighting],
) -> SessionAttendance:
    """Attendance of one session by the rules in the module docstring."""
    unique, duplicates = _deduplicate(sightings)
    lo, hi = _us(plan.start - policy.window_margin), _us(plan.end + policy.window_margin)
    in_window = [s for s in unique if lo <= _us(s.captured_at) <= hi]
    unknown = [s for s in in_window if s.student_id is None]
    known = [s for s in in_window if s.student_id is not None]
    counted = [s for s in known if policy.min_confidence is None or s.score >= policy.min_confidence]
    by_student = _observations_by_student(counted)
    roster_ids = sorted(set(_check_roster(roster)), key=_order)
    on_roster = set(roster_ids)
    ctx = _Context(plan, policy)
    return SessionAttendance(
        plan=plan,
        policy=policy,
        students=tuple(ctx.student(sid, by_student.get(sid, [])) for sid in roster_ids),
        not_on_roster=tuple(
            ctx.student(sid, obs)
            for sid, obs in sorted(by_student.items(), key=lambda kv: _order(kv[0]))
            if sid not in on_roster
        ),
        unknown_faces=_unknown_faces(_unresolved(unknown, known)),
        duplicate_events=duplicates,
        ignored_outside_window=len(unique) - len(in_window),
        ignored_low_confidence=len(known) - len(counted),
    )


def _check_roster(roster: Sequence[StudentId]) -> Sequence[StudentId]:
    for sid in roster:
        if isinstance(sid, bool) or not isinstance(sid, str | int):
            raise ValueError(f"roster ids must be str or int, got {sid!r}")
    return roster


def _deduplicate(sightings: Iterable[Sighting]) -> tuple[list[Sighting], int]:
    """One sighting per event id (rule 2a) and how many copies were dropped."""
    kept: dict[str, Sighting] = {}
    total = 0
    for s in sightings:
        if not isinstance(s, Sighting):
            raise TypeError(f"sightings must be Sighting objects, got {type(s).__name__}")
        total += 1
        old = kept.get(s.event_id)
        if old is None or s._canonical() < old._canonical():
            kept[s.event_id] = s
    return list(kept.values()), total - len(kept)


def _observations_by_student(sightings: list[Sighting]) -> dict[StudentId, list[_Obs]]:
    grouped: dict[StudentId, list[_Obs]] = defaultdict(list)
    for s in sightings:
        sid = s.student_id
        assert sid is not None  # unknown faces were split off before
        grouped[sid].append((_us(s.captured_at), s.score, s.event_id))
    for obs in grouped.values():
        obs.sort(key=lambda o: (o[0], o[2]))
    return grouped


def _best(obs: Sequence[_Obs]) -> _Obs:
    """Highest score; ties -> earliest, then smallest event id."""
    return min(obs, key=lambda o: (-o[1], o[0], o[2]))


def _intervals(times: Sequence[int], join_us: int, dwell_us: int) -> list[tuple[int, int]]:
    """Continuous presence intervals from sorted sighting times (rule 3)."""
    out: list[tuple[int, int]] = []
    if not times:
        return out
    first = last = times[0]
    for t in times[1:]:
        if t - last > join_us:
            out.append((first - dwell_us, last + dwell_us))
            first = t
        last = t
    out.append((first - dwell_us, last + dwell_us))
    return out


class _Context:
    """Plan and policy turned into microseconds once, shared by every student."""

    def __init__(self, plan: SessionPlan, policy: AttendancePolicy) -> None:
        self.plan, self.policy = plan, policy
        self.periods = plan.periods
        self.bounds = [(_us(p.start), _us(p.end)) for p in plan.periods]
        self.dwell = _duration("dwell", policy.dwell)
        self.join = max(_duration("gap_tolerance", policy.gap_tolerance), 2 * self.dwell)
        self.late = _duration("late_after", policy.late_after)
        self.early = _duration("left_early_before", policy.left_early_before)

    def student(self, student_id: StudentId, obs: list[_Obs]) -> StudentAttendance:
        times = [o[0] for o in obs]
        intervals = _intervals(times, self.join, self.dwell)
        ends = [hi for _, hi in intervals]
        periods = tuple(self._period(i, obs, times, intervals, ends) for i in range(len(self.periods)))
        status, reasons = session_status(self.plan, self.policy, [p.status for p in periods], bool(obs))
        return StudentAttendance(
            student_id=student_id,
            status=status,
            reasons=reasons,
            evidence=self._session_evidence(obs, periods),
            periods=periods,
            computed_status=status,
        )

    def _period(
        self, index: int, obs: list[_Obs], times: list[int], intervals: list[tuple[int, int]], ends: list[int]
    ) -> PeriodAttendance:
        start, end = self.bounds[index]
        last = index == len(self.bounds) - 1
        lo = bisect_left(times, start)
        hi = bisect_right(times, end) if last else bisect_left(times, end)
        inside = obs[lo:hi]
        presence, arrival, departure = _clip(intervals, ends, start, end)
        best = _best(inside) if inside else None
        evidence = Evidence(
            sightings=len(inside),
            first_seen=_dt(inside[0][0]) if inside else None,
            last_seen=_dt(inside[-1][0]) if inside else None,
            best_score=best[1] if best else None,
            best_event_id=best[2] if best else None,
            presence_seconds=presence / 1e6,
            fraction=presence / (end - start),
            arrival=None if arrival is None else _dt(arrival),
            departure=None if departure is None else _dt(departure),
        )
        status, reasons = self._period_status(evidence, start, end, arrival, departure)
        return PeriodAttendance(index, status, reasons, evidence, computed_status=status)

    def _period_status(
        self, ev: Evidence, start: int, end: int, arrival: int | None, departure: int | None
    ) -> tuple[Status, tuple[Reason, ...]]:
        """Rule 5."""
        if ev.sightings < self.policy.min_sightings:
            return Status.ABSENT, (Reason.TOO_FEW_SIGHTINGS if ev.sightings else Reason.NOT_SEEN,)
        if arrival is None or departure is None:  # only with dwell 0: sightings but no measurable time
            return Status.ABSENT, (Reason.BELOW_MIN_PRESENCE,)
        late = arrival > start + self.late
        early = departure < end - self.early
        flags = tuple(r for r, on in ((Reason.ARRIVED_LATE, late), (Reason.DEPARTED_EARLY, early)) if on)
        if ev.fraction < self.policy.min_presence_fraction:
            return Status.ABSENT, (Reason.BELOW_MIN_PRESENCE, *flags)
        return _combine(late, early), flags

    def _session_evidence(self, obs: list[_Obs], periods: tuple[PeriodAttendance, ...]) -> Evidence:
        best = _best(obs) if obs else None
        presence = sum(p.evidence.presence_seconds for p in periods)
        total = sum((p.duration for p in self.periods), timedelta(0)).total_seconds()
        arrivals = [p.evidence.arrival for p in periods if p.evidence.arrival is not None]
        departures = [p.evidence.departure for p in periods if p.evidence.departure is not None]
        return Evidence(
            sightings=len(obs),
            first_seen=_dt(obs[0][0]) if obs else None,
            last_seen=_dt(obs[-1][0]) if obs else None,
            best_score=best[1] if best else None,
            best_event_id=best[2] if best else None,
            presence_seconds=presence,
            fraction=presence / total,
            arrival=arrivals[0] if arrivals else None,
            departure=departures[-1] if departures else None,
        )


def _clip(
    intervals: list[tuple[int, int]], ends: list[int], start: int, end: int
) -> tuple[int, int | None, int | None]:
    """Presence (us), arrival and departure of sorted disjoint intervals within [start, end]."""
    i = bisect_right(ends, start)  # first interval ending after the period starts
    total, arrival, departure = 0, None, None
    for lo, hi in intervals[i:]:
        if lo >= end:
            break
        lo, hi = max(lo, start), min(hi, end)
        if hi <= lo:
            continue
        total += hi - lo
        arrival = lo if arrival is None else arrival
        departure = hi
    return total, arrival, departure


def _combine(late: bool, early: bool) -> Status:
    if late and early:
        return Status.LATE_AND_LEFT_EARLY
    if late:
        return Status.LATE
    if early:
        return Status.LEFT_EARLY
    return Status.PRESENT


def session_status(
    plan: SessionPlan, policy: AttendancePolicy, period_statuses: Sequence[Status], seen: bool
) -> tuple[Status, tuple[Reason, ...]]:
    """A student's session status from their period statuses (rule 6); `seen`: any counted sighting."""
    periods = plan.periods
    if len(period_statuses) != len(periods):
        raise ValueError(f"expected {len(periods)} period statuses, got {len(period_statuses)}")
    statuses = [Status(s) for s in period_statuses]
    judged = [i for i, s in enumerate(statuses) if s != Status.EXCUSED]
    if not judged:
        return Status.EXCUSED, ()
    attended = [i for i in judged if statuses[i] != Status.ABSENT]
    if not attended:
        return Status.ABSENT, (Reason.BELOW_MIN_PRESENCE if seen else Reason.NOT_SEEN,)
    first, last = attended[0], attended[-1]
    late = first != judged[0] or statuses[first] in _LATE
    early = last != judged[-1] or statuses[last] in _EARLY
    flags = tuple(r for r, on in ((Reason.ARRIVED_LATE, late), (Reason.DEPARTED_EARLY, early)) if on)
    if any(statuses[i] == Status.ABSENT for i in judged if first < i < last):
        flags = (*flags, Reason.MISSED_PERIODS)
    credit = sum((periods[i].duration for i in attended), timedelta(0)) / sum(
        (periods[i].duration for i in judged), timedelta(0)
    )
    if credit < policy.min_presence_fraction:
        return Status.ABSENT, (Reason.BELOW_MIN_PRESENCE, *flags)
    return _combine(late, early), flags


def _unresolved(unknown: list[Sighting], known: list[Sighting]) -> list[Sighting]:
    """Rule 7: unknown sightings of tracks that no sighting names a student (trackless ones stay)."""
    named = {(s.device_id, _order(s.track_id)) for s in known if s.track_id is not None}
    return [s for s in unknown if s.track_id is None or (s.device_id, _order(s.track_id)) not in named]


def _unknown_faces(sightings: list[Sighting]) -> tuple[UnknownFace, ...]:
    """Rule 7: group by (device, track); trackless sightings stand alone."""
    groups: dict[tuple, list[Sighting]] = defaultdict(list)
    for s in sightings:
        key = (s.device_id, _order(s.track_id), "" if s.track_id is not None else s.event_id)
        groups[key].append(s)
    faces = []
    for members in groups.values():
        members.sort(key=lambda s: (s.captured_at, s.event_id))
        best = min(members, key=lambda s: (-s.score, s.captured_at, s.event_id))
        faces.append(
            UnknownFace(
                device_id=members[0].device_id,
                track_id=members[0].track_id,
                sightings=len(members),
                first_seen=members[0].captured_at,
                last_seen=members[-1].captured_at,
                best_score=best.score,
                best_event_id=best.event_id,
                event_ids=tuple(s.event_id for s in members),
            )
        )
    faces.sort(key=lambda f: (f.first_seen, f.device_id, _order(f.track_id), f.event_ids[0]))
    return tuple(faces)


# ----------------------------------------------------------------------------- overrides


def apply_overrides(results: SessionAttendance, overrides: Iterable[Override]) -> SessionAttendance:
    """`results` with manual statuses applied (rule 9); the input is left untouched."""
    by_student = _index_overrides(results, overrides)
    if not by_student:
        return results
    students = tuple(
        _override_student(results, row, by_student[row.student_id]) if row.student_id in by_student else row
        for row in results.students
    )
    return replace(results, students=students)


def _index_overrides(
    results: SessionAttendance, overrides: Iterable[Override]
) -> dict[StudentId, dict[int | None, Override]]:
    roster = {row.student_id for row in results.students}
    count = len(results.plan.periods)
    index: dict[StudentId, dict[int | None, Override]] = defaultdict(dict)
    for o in overrides:
        if o.student_id not in roster:
            raise ValueError(f"override for student {o.student_id!r}, who is not on the session's roster")
        if o.period is not None and not (isinstance(o.period, int) and 0 <= o.period < count):
            raise ValueError(f"override period {o.period!r} is out of range (session has {count} periods)")
        if o.period in index[o.student_id]:
            raise ValueError(f"two overrides for student {o.student_id!r}, period {o.period!r}")
        index[o.student_id][o.period] = o
    return dict(index)


def _override_student(
    results: SessionAttendance, row: StudentAttendance, overrides: dict[int | None, Override]
) -> StudentAttendance:
    whole = overrides.get(None)
    last = len(row.periods) - 1

    def effective(p: PeriodAttendance) -> PeriodAttendance:
        if p.period in overrides:
            return _manual(p, overrides[p.period])
        if whole is not None:
            return _manual(p, replace(whole, status=projected(whole.status, p.period, last)))
        return p

    periods = tuple(effective(p) for p in row.periods)
    status, reasons = session_status(
        results.plan, results.policy, [p.status for p in periods], row.evidence.sightings > 0
    )
    if whole is not None:
        return replace(row, periods=periods, status=status, reasons=(), source=Source.MANUAL, note=whole.note)
    manual = any(p.source == Source.MANUAL for p in periods)
    return replace(
        row,
        periods=periods,
        status=status,
        reasons=reasons,
        source=Source.MANUAL if manual else row.source,
    )


def projected(status: Status, period: int, last: int) -> Status:
    """What a session-wide `status` means for period `period` of `0..last` (rule 9): rule 6 over the
    projected periods gives `status` back."""
    if status not in _LATE | _EARLY:
        return status
    return _combine(status in _LATE and period == 0, status in _EARLY and period == last)


_Row = TypeVar("_Row", PeriodAttendance, StudentAttendance)


def _manual(row: _Row, override: Override) -> _Row:
    """A period or student row carrying the override; `computed_status` keeps the engine's verdict."""
    return replace(row, status=override.status, reasons=(), source=Source.MANUAL, note=override.note)
