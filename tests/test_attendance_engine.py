"""Attendance engine: the rules in server/attendance/engine.py, case by case.

Times are minutes after 09:00 UTC; the default policy applies unless a case says otherwise
(late after 10 min, left early before the last 10 min, 50% presence, 5 min gap tolerance,
30 s dwell, 3 sightings per period).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from server.attendance.engine import (
    AttendancePolicy,
    Override,
    Reason,
    SessionAttendance,
    SessionPlan,
    Sighting,
    Source,
    Status,
    apply_overrides,
    compute_attendance,
    session_status,
)

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
POLICY = AttendancePolicy()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def plan(hours: int = 1, **kwargs) -> SessionPlan:
    return SessionPlan(start=T0, end=at(60 * hours), **kwargs)


def sighting(student: str | int | None, minutes: float, score: float = 0.9, **kwargs) -> Sighting:
    event_id = kwargs.pop("event_id", f"{student}-{minutes}")
    return Sighting(event_id=event_id, student_id=student, captured_at=at(minutes), score=score, **kwargs)


def every_minute(student: str | int | None, *spans: tuple[float, float], **kwargs) -> list[Sighting]:
    """One sighting a minute over each inclusive (first, last) span, as a ceiling camera reports."""
    out = []
    for first, last in spans:
        minute = first
        while minute <= last:
            out.append(sighting(student, minute, **kwargs))
            minute += 1
    return out


def run(sightings: Iterable[Sighting], roster=("s1",), session: SessionPlan | None = None, policy=POLICY):
    return compute_attendance(session or plan(), policy, list(roster), list(sightings))


# ----------------------------------------------------------------------------- one period


ONE_PERIOD_CASES = [
    ("on_time_and_stays", [(0, 60)], Status.PRESENT, ()),
    ("arrives_within_grace", [(9, 60)], Status.PRESENT, ()),
    ("arrives_exactly_at_grace_limit", [(10.5, 60)], Status.PRESENT, ()),  # arrival = 10.5 - dwell = 10
    ("arrives_after_grace", [(12, 60)], Status.LATE, (Reason.ARRIVED_LATE,)),
    ("seen_in_margin_before_start", [(-4, 60)], Status.PRESENT, ()),
    ("leaves_within_grace", [(0, 52)], Status.PRESENT, ()),
    ("leaves_20_min_before_end", [(0, 40)], Status.LEFT_EARLY, (Reason.DEPARTED_EARLY,)),
    (
        "late_and_left_early",
        [(12, 45)],
        Status.LATE_AND_LEFT_EARLY,
        (Reason.ARRIVED_LATE, Reason.DEPARTED_EARLY),
    ),
    ("break_15_min_mid_period_returns", [(0, 20), (35, 60)], Status.PRESENT, ()),
    ("break_35_min_breaks_min_presence", [(0, 10), (45, 60)], Status.ABSENT, (Reason.BELOW_MIN_PRESENCE,)),
    (
        "checks_in_walks_out_after_5_min",
        [(0, 5)],
        Status.ABSENT,
        (Reason.BELOW_MIN_PRESENCE, Reason.DEPARTED_EARLY),
    ),
    ("single_stray_sighting", [(30, 30)], Status.ABSENT, (Reason.TOO_FEW_SIGHTINGS,)),
    ("never_seen", [], Status.ABSENT, (Reason.NOT_SEEN,)),
    ("only_seen_after_session_in_margin", [(61, 68)], Status.ABSENT, (Reason.NOT_SEEN,)),
]


@pytest.mark.parametrize(
    ("spans", "status", "reasons"),
    [case[1:] for case in ONE_PERIOD_CASES],
    ids=[case[0] for case in ONE_PERIOD_CASES],
)
def test_one_period_status(spans, status, reasons):
    result = run(every_minute("s1", *spans))
    (row,) = result.students
    (period,) = row.periods
    assert (period.status, period.reasons) == (status, reasons)
    assert period.source == Source.ENGINE and period.computed_status == status
    assert row.status == status  # one period: the session status is the period status


def test_evidence_of_a_period():
    sightings = every_minute("s1", (0, 20), (35, 60))
    sightings = [replace(s, score=0.95) if s.captured_at == at(40) else s for s in sightings]
    ev = run(sightings).students[0].periods[0].evidence
    assert ev.sightings == 21 + 26
    assert (ev.first_seen, ev.last_seen) == (at(0), at(60))
    assert (ev.best_score, ev.best_event_id) == (0.95, "s1-40")
    assert (ev.arrival, ev.departure) == (at(0), at(60))
    assert ev.presence_seconds == pytest.approx((20.5 + 25.5) * 60)
    assert ev.fraction == pytest.approx(46 / 60)


def test_sightings_within_gap_tolerance_form_one_interval():
    sparse = [sighting("s1", m) for m in range(0, 61, 4)]  # every 4 min < 5 min tolerance
    period = run(sparse).students[0].periods[0]
    assert period.status == Status.PRESENT
    assert period.evidence.fraction == 1.0


# ----------------------------------------------------------------------------- boundaries


def test_sighting_exactly_at_a_boundary_counts_for_the_period_that_starts_there():
    result = run(every_minute("s1", (0, 120)), session=plan(2))
    first, second = result.students[0].periods
    assert first.evidence.last_seen == at(59)
    assert second.evidence.first_seen == at(60)
    assert second.evidence.last_seen == at(120)  # the session's end belongs to its last period
    assert first.evidence.sightings + second.evidence.sightings == 121
    # presence runs on across the boundary: arrives at 10:00 in the second period
    assert second.evidence.arrival == at(60)
    assert [p.status for p in result.students[0].periods] == [Status.PRESENT, Status.PRESENT]


def test_sighting_at_a_period_end_followed_by_a_break_belongs_to_no_period():
    session = SessionPlan(
        start=T0, end=at(110), period_length=timedelta(minutes=50), break_length=timedelta(minutes=10)
    )
    assert [(p.start, p.end) for p in session.periods] == [(at(0), at(50)), (at(60), at(110))]
    result = run(every_minute("s1", (0, 110)), session=session)
    first, second = result.students[0].periods
    assert first.evidence.last_seen == at(49)
    assert second.evidence.first_seen == at(60)
    assert result.students[0].evidence.sightings == 111  # session evidence includes the break


def test_explicit_boundaries_and_last_period_cut_short():
    session = SessionPlan(start=T0, end=at(150))
    assert [p.duration for p in session.periods] == [timedelta(minutes=60)] * 2 + [timedelta(minutes=30)]
    explicit = SessionPlan(start=T0, end=at(120), boundaries=((at(70), at(120)), (at(0), at(60))))
    assert [(p.index, p.start) for p in explicit.periods] == [(0, at(0)), (1, at(70))]
    with pytest.raises(ValueError, match="overlap"):
        SessionPlan(start=T0, end=at(120), boundaries=((at(0), at(60)), (at(50), at(120))))
    with pytest.raises(ValueError, match="outside"):
        SessionPlan(start=T0, end=at(60), boundaries=((at(0), at(70)),))


# ----------------------------------------------------------------------------- multi-period


def test_present_in_period_1_absent_in_period_2():
    result = run(every_minute("s1", (0, 60)), session=plan(2))
    row = result.students[0]
    assert [p.status for p in row.periods] == [Status.PRESENT, Status.ABSENT]
    assert row.periods[1].reasons == (Reason.TOO_FEW_SIGHTINGS,)  # the 10:00 sighting counts for period 2
    assert (row.status, row.reasons) == (Status.LEFT_EARLY, (Reason.DEPARTED_EARLY,))


P, L, E, B, A, X = (
    Status.PRESENT,
    Status.LATE,
    Status.LEFT_EARLY,
    Status.LATE_AND_LEFT_EARLY,
    Status.ABSENT,
    Status.EXCUSED,
)
SESSION_CASES = [
    ("all_present", [P, P, P], P, ()),
    ("late_in_first", [L, P, P], L, (Reason.ARRIVED_LATE,)),
    ("late_in_middle_only", [P, L, P], P, ()),
    ("absent_first_then_present", [A, P, P], L, (Reason.ARRIVED_LATE,)),
    ("left_early_in_last", [P, P, E], E, (Reason.DEPARTED_EARLY,)),
    ("absent_last", [P, P, A], E, (Reason.DEPARTED_EARLY,)),
    ("missed_middle", [P, A, P], P, (Reason.MISSED_PERIODS,)),
    ("late_and_left", [L, P, E], B, (Reason.ARRIVED_LATE, Reason.DEPARTED_EARLY)),
    ("only_first_of_three", [P, A, A], A, (Reason.BELOW_MIN_PRESENCE, Reason.DEPARTED_EARLY)),
    ("all_absent", [A, A, A], A, (Reason.NOT_SEEN,)),
    ("excused_first_then_present", [X, P, P], P, ()),
    ("present_first_excused_rest", [P, X, X], P, ()),
    ("excused_middle_absent_last", [P, X, A], E, (Reason.DEPARTED_EARLY,)),
    ("all_excused", [X, X, X], X, ()),
]


@pytest.mark.parametrize(
    ("periods", "status", "reasons"),
    [case[1:] for case in SESSION_CASES],
    ids=[case[0] for case in SESSION_CASES],
)
def test_session_status_from_periods(periods, status, reasons):
    assert session_status(plan(3), POLICY, periods, seen=False) == (status, reasons)


def test_session_evidence_sums_periods():
    row = run(every_minute("s1", (0, 60), (120, 180)), session=plan(3)).students[0]
    assert [p.status for p in row.periods] == [P, A, P]
    assert row.evidence.presence_seconds == pytest.approx(
        sum(p.evidence.presence_seconds for p in row.periods)
    )
    assert (row.evidence.arrival, row.evidence.departure) == (at(0), at(180))
    assert row.evidence.sightings == 122


# ----------------------------------------------------------------------------- which sightings count


def test_duplicate_event_counted_once():
    sightings = every_minute("s1", (0, 60))
    doubled = sightings + sightings[:10] + [replace(sightings[30], score=0.1)]
    once, twice = run(sightings), run(doubled)
    assert twice.duplicate_events == 11
    assert twice.students == once.students
    assert twice.students[0].periods[0].evidence.sightings == 61


def test_conflicting_duplicates_resolve_the_same_way_in_any_order():
    a = sighting("s1", 30, score=0.9, event_id="e")
    b = sighting("s1", 31, score=0.8, event_id="e")
    base = every_minute("s1", (0, 20))
    assert run([*base, a, b]) == run([b, *base, a])
    assert run([b, a]).students[0].evidence.first_seen == at(30)


def test_low_confidence_sightings_ignored():
    policy = AttendancePolicy(min_confidence=0.5)
    weak = every_minute("s1", (0, 60), score=0.3)
    strong = every_minute("s2", (0, 60), score=0.7)
    result = run(weak + strong, roster=("s1", "s2"), policy=policy)
    assert [r.status for r in result.students] == [Status.ABSENT, Status.PRESENT]
    assert result.students[0].evidence.sightings == 0
    assert result.ignored_low_confidence == 61


def test_sightings_outside_window_and_margin_ignored():
    result = run([sighting("s1", -30), sighting("s1", 75), *every_minute("s1", (0, 60))])
    assert result.ignored_outside_window == 2
    assert result.students[0].evidence.sightings == 61


def test_single_stray_sighting_with_loose_min_sightings_still_below_min_presence():
    policy = AttendancePolicy(min_sightings=1)
    period = run([sighting("s1", 30)], policy=policy).students[0].periods[0]
    assert period.status == Status.ABSENT
    assert Reason.BELOW_MIN_PRESENCE in period.reasons


def test_not_on_roster_reported_apart():
    result = run(every_minute("s1", (0, 60)) + every_minute("intruder", (0, 60)), roster=("s1", "s2"))
    assert [r.student_id for r in result.students] == ["s1", "s2"]
    assert [r.student_id for r in result.not_on_roster] == ["intruder"]
    assert result.not_on_roster[0].status == Status.PRESENT
    assert result.student("s2").status == Status.ABSENT
    with pytest.raises(KeyError, match="intruder"):
        result.student("intruder")


def test_unknown_faces_grouped_by_device_and_track():
    sightings = [
        sighting(None, 5, score=0.2, device_id="cam1", track_id=7, event_id="u1"),
        sighting(None, 6, score=0.4, device_id="cam1", track_id=7, event_id="u2"),
        sighting(None, 7, score=0.3, device_id="cam1", track_id=7, event_id="u3"),
        sighting(None, 5, score=0.3, device_id="cam2", track_id=7, event_id="u4"),
        sighting(None, 9, score=0.1, device_id="cam1", track_id=8, event_id="u5"),
        sighting(None, 2, score=0.1, device_id="cam1", track_id=None, event_id="u6"),
        sighting(None, 3, score=0.1, device_id="cam1", track_id=None, event_id="u7"),
    ]
    faces = run(reversed(sightings), roster=()).unknown_faces
    assert [(f.device_id, f.track_id, f.event_ids) for f in faces] == [
        ("cam1", None, ("u6",)),
        ("cam1", None, ("u7",)),
        ("cam1", 7, ("u1", "u2", "u3")),
        ("cam2", 7, ("u4",)),
        ("cam1", 8, ("u5",)),
    ]
    track7 = faces[2]
    assert (track7.sightings, track7.first_seen, track7.last_seen) == (3, at(5), at(7))
    assert (track7.best_score, track7.best_event_id) == (0.4, "u2")


def test_a_track_the_device_later_named_is_not_an_unknown_face():
    """The edge retries an unknown track and, once it names the student, re-sends the earlier reports."""
    sightings = [
        sighting(None, 5, score=0.42, device_id="cam1", track_id=7, event_id="u1"),
        sighting(None, 6, score=0.42, device_id="cam1", track_id=7, event_id="u2"),
        sighting("s1", 9, score=0.45, device_id="cam1", track_id=7, event_id="k1"),
        sighting(None, 6, score=0.3, device_id="cam2", track_id=7, event_id="u3"),  # another camera
        sighting(None, 7, score=0.2, device_id="cam1", track_id=None, event_id="u4"),
    ]
    faces = run(sightings, roster=("s1",)).unknown_faces
    assert [(f.device_id, f.track_id, f.event_ids) for f in faces] == [
        ("cam2", 7, ("u3",)),
        ("cam1", None, ("u4",)),
    ]


# ----------------------------------------------------------------------------- time and determinism


def test_naive_datetimes_rejected():
    naive = datetime(2025, 3, 3, 9, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        Sighting(event_id="e", student_id="s1", captured_at=naive, score=0.9)
    with pytest.raises(ValueError, match="timezone-aware"):
        SessionPlan(start=naive, end=at(60))
    with pytest.raises(ValueError, match="timezone-aware"):
        SessionPlan(start=T0, end=at(60), boundaries=((naive, at(60)),))


def test_other_zones_are_converted_to_utc():
    seoul = timezone(timedelta(hours=9))
    local = [replace(s, captured_at=s.captured_at.astimezone(seoul)) for s in every_minute("s1", (12, 60))]
    local_plan = SessionPlan(start=T0.astimezone(seoul), end=at(60).astimezone(seoul))
    assert local[0].captured_at.tzinfo == timezone.utc
    assert run(local, session=local_plan) == run(every_minute("s1", (12, 60)))


def classroom(seed: int, students: int = 30, session_hours: int = 3) -> tuple[list[str], list[Sighting]]:
    """A noisy classroom: late comers, walkers-out, breaks, strays, unknowns and duplicates."""
    rng = random.Random(seed)
    roster = [f"s{i:03d}" for i in range(students)]
    end = 60 * session_hours
    out: list[Sighting] = []
    for sid in roster:
        arrive = rng.choice([-5, 0, 3, 15, 70, end + 1])
        leave = rng.choice([end, end - 5, end - 25, arrive + 5, 100])
        minute = float(arrive)
        while minute <= leave:
            if rng.random() < 0.9:
                out.append(sighting(sid, minute, score=round(rng.uniform(0.3, 1.0), 3), device_id="cam1"))
            minute += rng.choice([0.5, 1, 1, 2, 2, 3, 6])
    for n in range(40):
        out.append(
            sighting(None, rng.uniform(0, end), device_id=f"cam{n % 2}", track_id=n % 5, event_id=f"u{n}")
        )
    out += rng.sample(out, 20)  # redelivered events
    return roster, out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_out_of_order_input_gives_identical_result(seed):
    roster, sightings = classroom(seed)
    session = plan(3)
    expected = compute_attendance(session, POLICY, roster, sorted(sightings, key=lambda s: s.captured_at))
    rng = random.Random(seed)
    for _ in range(5):
        shuffled = sightings[:]
        rng.shuffle(shuffled)
        assert compute_attendance(session, POLICY, list(reversed(roster)), shuffled) == expected
    assert {r.status for r in expected.students} >= {Status.PRESENT, Status.ABSENT}


def test_recomputing_is_idempotent():
    roster, sightings = classroom(7)
    first = compute_attendance(plan(3), POLICY, roster, sightings)
    second = compute_attendance(plan(3), POLICY, roster, sightings)
    assert first == second
    assert hash(first.students) == hash(second.students)


# ----------------------------------------------------------------------------- overrides


def _session_with_two_students() -> SessionAttendance:
    return run(
        every_minute("s1", (0, 60)) + every_minute("s2", (15, 120)), roster=("s1", "s2"), session=plan(2)
    )


def test_apply_period_override_recomputes_session_status():
    results = _session_with_two_students()
    assert results.student("s1").status == Status.LEFT_EARLY
    out = apply_overrides(results, [Override("s1", Status.PRESENT, period=1, note="medical certificate")])
    row = out.student("s1")
    period = row.periods[1]
    assert (period.status, period.computed_status, period.source, period.note) == (
        Status.PRESENT,
        Status.ABSENT,
        Source.MANUAL,
        "medical certificate",
    )
    assert period.evidence == results.student("s1").periods[1].evidence
    assert (row.status, row.computed_status, row.source) == (Status.PRESENT, Status.LEFT_EARLY, Source.MANUAL)
    assert out.student("s2") == results.student("s2")
    assert results.student("s1").status == Status.LEFT_EARLY  # input untouched


def test_apply_session_override_and_idempotence():
    results = _session_with_two_students()
    overrides = [Override("s2", "present", note="bus strike"), Override("s2", Status.ABSENT, period=1)]
    once = apply_overrides(results, overrides)
    row = once.student("s2")
    # Rule 9: the session override fills the period without its own (P1 present, not the engine's
    # late), P2's override stands, and the summary is rule 6 over both: present, then absent.
    assert (row.status, row.source, row.note, row.reasons) == (
        Status.LEFT_EARLY,
        Source.MANUAL,
        "bus strike",
        (),
    )
    assert [p.status for p in row.periods] == [Status.PRESENT, Status.ABSENT]
    assert [p.computed_status for p in row.periods] == [Status.LATE, Status.PRESENT]
    assert apply_overrides(once, overrides) == once
    assert apply_overrides(results, []) == results


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (Override("ghost", Status.PRESENT), "not on the session's roster"),
        (Override("s1", Status.PRESENT, period=2), "out of range"),
    ],
    ids=["unknown_student", "period_out_of_range"],
)
def test_bad_overrides_rejected(override, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(_session_with_two_students(), [override])


def test_two_overrides_for_one_slot_rejected():
    with pytest.raises(ValueError, match="two overrides"):
        apply_overrides(
            _session_with_two_students(), [Override("s1", P, period=0), Override("s1", A, period=0)]
        )
    with pytest.raises(ValueError):
        Override("s1", "skipped")


def test_excused_override_leaves_the_period_out_of_the_session_status():
    out = apply_overrides(_session_with_two_students(), [Override("s1", "excused", period=1, note="clinic")])
    row = out.student("s1")
    assert [p.status for p in row.periods] == [Status.PRESENT, Status.EXCUSED]
    assert (row.status, row.source) == (Status.PRESENT, Source.MANUAL)


# ----------------------------------------------------------------------------- scale


def test_hundred_students_ten_thousand_sightings():
    rng = random.Random(0)
    roster = list(range(100))
    sightings = [
        Sighting(
            event_id=f"e{n}",
            student_id=rng.randrange(110),  # ten ids are not on the roster
            captured_at=at(rng.uniform(-5, 185)),
            score=rng.random(),
            device_id="cam1",
            track_id=n % 50,
        )
        for n in range(10_000)
    ]
    result = compute_attendance(plan(3), AttendancePolicy(min_confidence=0.2), roster, sightings)
    assert len(result.students) == 100 and len(result.not_on_roster) == 10
    counted = sum(r.evidence.sightings for r in (*result.students, *result.not_on_roster))
    assert counted + result.ignored_low_confidence + result.ignored_outside_window == 10_000
