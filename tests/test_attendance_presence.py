"""The live roster state (server/attendance/presence.py), case by case.

Times are seconds after 09:00 UTC; the session runs 09:00-10:00 and a student is out when their
last sighting is more than `out_after` (90 s by default) before now.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from server.attendance.engine import AttendancePolicy, SessionPlan, Sighting
from server.attendance.presence import DEFAULT_OUT_AFTER, LiveState, Presence, live_state, live_states
from server.attendance.service import AttendanceConfigError, out_after_from_config

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
PLAN = SessionPlan(start=T0, end=T0 + timedelta(hours=1))
POLICY = AttendancePolicy()
IN, OUT, NOT_SEEN = Presence.IN, Presence.OUT, Presence.NOT_SEEN


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def every(first: float, last: float, step: float = 30) -> list[float]:
    """A heartbeat: one sighting every `step` seconds from `first` to `last` inclusive."""
    out, t = [], first
    while t <= last:
        out.append(t)
        t += step
    return out


@pytest.mark.parametrize(
    ("case", "seen", "now", "state", "since"),
    [
        ("seen just now", every(0, 600), 600, IN, 0),
        ("seen a moment ago", every(0, 600), 620, IN, 0),
        ("exactly at the limit is still in", every(0, 600), 690, IN, 0),
        ("one second past the limit is out", every(0, 600), 691, OUT, 600),
        ("out since the last sighting, not since now", every(0, 600), 1800, OUT, 600),
        ("two missed heartbeats keep a student in", [*every(0, 600), 690], 700, IN, 0),
        ("a heartbeat gap over the limit starts a new run", [*every(0, 600), 700, 730], 740, IN, 700),
        ("back from a break: in since the return", [*every(0, 600), *every(1200, 1500)], 1500, IN, 1200),
        ("during the break: out since leaving", [*every(0, 600), *every(1200, 1500)], 900, OUT, 600),
        ("sightings after now do not exist yet", every(0, 3000), 300, IN, 0),
        ("only future sightings: not seen yet", every(400, 900), 300, NOT_SEEN, None),
        ("never seen", [], 1200, NOT_SEEN, None),
        ("seen before the start (window margin)", every(-300, -60), 0, IN, -300),
    ],
)
def test_live_state(case, seen, now, state, since):
    got = live_state([at(s) for s in seen], at(now))
    assert got == LiveState(state, None if since is None else at(since)), case


def test_out_after_is_the_threshold():
    seen = [at(s) for s in every(0, 600)]
    assert live_state(seen, at(660), timedelta(seconds=60)).state == IN
    assert live_state(seen, at(661), timedelta(seconds=60)) == LiveState(OUT, at(600))
    assert live_state(seen, at(661)).state == IN  # the default: 90 s
    assert timedelta(seconds=90) == DEFAULT_OUT_AFTER


def test_live_state_refuses_a_naive_now_and_a_non_positive_threshold():
    with pytest.raises(ValueError, match="timezone-aware"):
        live_state([at(0)], datetime(2026, 3, 2, 9, 1))
    with pytest.raises(ValueError, match="positive"):
        live_state([at(0)], at(10), timedelta(0))


def sighting(event: str, student: int | None, seconds: float, score: float = 0.8) -> Sighting:
    return Sighting(event_id=event, student_id=student, captured_at=at(seconds), score=score, track_id=1)


SIGHTINGS = [
    *(sighting(f"a{s}", 1, s) for s in every(0, 1200)),  # in the room
    *(sighting(f"b{s}", 2, s) for s in every(0, 600)),  # walked out after 10 minutes
    *(sighting(f"u{s}", None, s) for s in every(0, 1200)),  # an unknown face: nobody's state
    sighting("c-low", 3, 1190, score=0.2),  # below min_confidence when the policy sets one
    sighting("x", 9, 1150),  # seen, not on the roster
    sighting("early", 2, -900),  # before the window margin (10 min): ignored
]


def test_live_states_of_a_running_session():
    states = live_states(PLAN, POLICY, [1, 2, 3, 4], SIGHTINGS, at(1200))
    assert states == {
        1: LiveState(IN, at(0)),
        2: LiveState(OUT, at(600)),
        3: LiveState(IN, at(1190)),  # no min_confidence by default: the sighting counts
        4: LiveState(NOT_SEEN, None),
        9: LiveState(IN, at(1150)),
    }


def test_live_states_apply_min_confidence_like_the_engine():
    strict = AttendancePolicy(min_confidence=0.5)
    states = live_states(PLAN, strict, [1, 3], SIGHTINGS, at(1200))
    assert states is not None and states[3] == LiveState(NOT_SEEN, None)
    assert states[1] == LiveState(IN, at(0))


@pytest.mark.parametrize(
    ("case", "now"),
    [("session over", 3600), ("long after", 7200), ("not started", -1), ("before the start", -600)],
)
def test_no_live_state_outside_the_session(case, now):
    assert live_states(PLAN, POLICY, [1, 2], SIGHTINGS, at(now)) is None, case


def test_the_last_running_moment_still_has_a_live_state():
    states = live_states(PLAN, POLICY, [1, 2], SIGHTINGS, at(3599))
    assert states is not None and states[2] == LiveState(OUT, at(600))


@pytest.mark.parametrize(("value", "seconds"), [(None, 90), (45, 45), ("120", 120), (12.5, 12.5)])
def test_out_after_setting(value, seconds):
    config = {} if value is None else {"ATTENDANCE_OUT_AFTER_SECONDS": value}
    assert out_after_from_config(config) == timedelta(seconds=seconds)


@pytest.mark.parametrize("value", [0, -5, "soon", float("nan"), True])
def test_out_after_setting_refuses_nonsense(value):
    with pytest.raises(AttendanceConfigError, match="ATTENDANCE_OUT_AFTER_SECONDS"):
        out_after_from_config({"ATTENDANCE_OUT_AFTER_SECONDS": value})
