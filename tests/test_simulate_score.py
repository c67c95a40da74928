"""The simulator's scores (simulate/score.py): the live early-leave delay and false "out"
episodes, evaluated with the server's own live rule (server/attendance/presence.py) on a small
hand-made truth where every figure can be worked out by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from server.attendance.presence import live_state
from simulate.score import early_leave_delays, live_scores, live_summary
from simulate.timeline import Person, Truth

START = datetime(2026, 3, 3, 9, 0, tzinfo=timezone.utc)
LECTURE_S = 3000.0  # 50 minutes
OUT_AFTER = timedelta(seconds=90)


def rule(out_after: timedelta = OUT_AFTER):
    return lambda times, now: live_state(times, now, out_after).state.value


def person(name: str, script: str, intervals: list[tuple[float, float]], roster: bool = True) -> Person:
    return Person(name=name, script=script, roster=roster, intervals=intervals)


def truth(*people: Person) -> Truth:
    return Truth(
        seed=0,
        lecture_start=START,
        duration_s=LECTURE_S,
        lead_s=180.0,
        tail_s=60.0,
        seconds_per_frame=10.0,
        frames=325,
        fps=10.0,
        width=1280,
        height=720,
        people=list(people),
        out_dir=Path("unused"),
    )


def beats(first: float, last: float, step: float = 30.0) -> list[datetime]:
    """Sightings every `step` s from `first` to `last` inclusive (seconds from the lecture start)."""
    out, t = [], first
    while t <= last:
        out.append(START + timedelta(seconds=t))
        t += step
    return out


def test_live_delay_is_first_out_moment_minus_the_exit():
    # Leaves at 1805 s; last heartbeat at 1800 s: "out" from 1891 s (more than 90 s after it).
    t = truth(person("leaver", "left_early", [(-180, 1805)]))
    delays, false_out = live_scores(t, {"leaver": beats(-180, 1800)}, rule())
    assert delays == {"leaver": 86.0}
    assert false_out == {}
    # A track that coasts after the exit (a beat at 1820 s) makes it later: 1911 - 1805.
    delays, _ = live_scores(t, {"leaver": [*beats(-180, 1800), START + timedelta(seconds=1820)]}, rule())
    assert delays == {"leaver": 106.0}


def test_live_delay_follows_the_servers_threshold():
    t = truth(person("leaver", "left_early", [(-180, 1805)]))
    seen = {"leaver": beats(-180, 1800)}
    assert live_scores(t, seen, rule(timedelta(seconds=60)))[0] == {"leaver": 56.0}
    assert live_scores(t, seen, rule(), step_s=10.0)[0] == {"leaver": 95.0}  # coarser moments: later


def test_undetected_when_never_seen_and_the_old_gap_delay_unchanged():
    t = truth(person("leaver", "left_early", [(-180, 1805)]), person("ghost", "left_early", [(-180, 1000)]))
    seen = {"leaver": beats(-180, 1800)}
    delays, _ = live_scores(t, seen, rule())
    assert delays == {"leaver": 86.0, "ghost": None}
    # The final-status delay (gap tolerance) is still reported beside it: 1800 + 300 - 1805.
    assert early_leave_delays(t, seen, timedelta(minutes=5)) == {"leaver": 295.0, "ghost": None}


def test_false_out_episodes_only_while_the_student_is_in_the_room():
    t = truth(
        # In the room all along, but not reported from 990 to 1200 s: one false "out" at 1081 s.
        person("gap", "present", [(-180, 3060)]),
        # A real break (900-1400 s): "out" at 961 s (last beat 870 s) is right; back in at 1410 s.
        person("break", "break", [(-180, 900), (1400, 3060)]),
        # Arrives at 1000 s: "not seen" before, never "out".
        person("late", "late", [(1000, 3060)]),
        # A stranger is not on the roster: not scored.
        person("stranger", "stranger", [(-180, 3060)], roster=False),
    )
    seen = {
        "gap": [*beats(-180, 1000), *beats(1200, 3060)],
        "break": [*beats(-180, 890), *beats(1410, 3060)],
        "late": beats(1010, 3060),
        "stranger": beats(-180, 500),
    }
    delays, false_out = live_scores(t, seen, rule())
    assert delays == {}
    assert false_out == {"gap": [1081.0]}


def test_live_summary_fields():
    t = truth(
        person("a", "left_early", [(-180, 1805)]),
        person("b", "left_early", [(-180, 2000)]),
        person("gap", "present", [(-180, 3060)]),
    )
    seen = {
        "a": beats(-180, 1800),
        "b": beats(-180, 1970),  # last beat 1950 s: out from 2041 s, 41 s after leaving
        "gap": [*beats(-180, 1000), *beats(1200, 3060)],
    }
    live = live_summary(t, seen, rule(), OUT_AFTER)
    assert live == {
        "out_after_s": 90.0,
        "early_leave_delay_s": {
            "mean": 63.5,
            "max": 86.0,
            "undetected": 0,
            "per_student": {"a": 86.0, "b": 41.0},
        },
        "false_out_episodes": 1,
        "false_out": {"gap": [1081.0]},
    }


def test_step_must_be_positive():
    with pytest.raises(ValueError, match="step_s"):
        live_scores(truth(), {}, rule(), step_s=0)
