"""Compare the server's attendance with the simulator's truth: precision, recall, early-leave delay.

Scored statuses are present, late and left_early (absent is the complement). The engine's
`late_and_left_early` counts as neither (the simulator never scripts it, so it is always wrong).

Early-leave delay: the engine closes a presence interval only when no sighting follows within
`gap_tolerance`, so the earliest simulated moment a live system can know a student left is
their last sighting + gap_tolerance. The delay is that moment minus the scripted leaving time.

Live early-leave delay (`live_scores`): the server's live roster state (server/attendance/
presence.py, passed in as `state_at` so the simulator uses the very rule and setting the server
uses, without importing the server here) is evaluated at every `step_s` of simulated lecture time
on the sightings captured up to that moment. The delay is the first moment at or after the
scripted exit that the state says "out", minus the exit. A *false out* is an episode (a switch to
"out") that begins while the truth has the student in the room.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from simulate.timeline import Truth

SCORED = ("present", "late", "left_early")

# A student's sorted sighting times and a moment -> "in", "out" or "not_seen" (the server's rule).
StateAt = Callable[[Sequence[datetime], datetime], str]


def precision_recall(
    expected: dict[str, str], computed: dict[str, str]
) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for status in SCORED:
        predicted = {n for n, s in computed.items() if s == status}
        actual = {n for n, s in expected.items() if s == status}
        hits = len(predicted & actual)
        out[status] = {
            "precision": round(hits / len(predicted), 4) if predicted else None,
            "recall": round(hits / len(actual), 4) if actual else None,
        }
    return out


def counts(statuses: dict[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for status in statuses.values():
        out[status] = out.get(status, 0) + 1
    return dict(sorted(out.items()))


def early_leave_delays(
    truth: Truth, sightings: dict[str, list[datetime]], gap_tolerance: timedelta
) -> dict[str, float | None]:
    """Seconds of simulated time from each early leaver's scripted exit to when it is knowable."""
    delays: dict[str, float | None] = {}
    for person in truth.people:
        if person.script != "left_early":
            continue
        leave = truth.lecture_start + timedelta(seconds=person.intervals[-1][1])
        seen = sightings.get(person.name, [])
        if not seen:
            delays[person.name] = None
            continue
        known = max(seen) + gap_tolerance
        delays[person.name] = round((known - leave).total_seconds(), 1)
    return delays


def live_scores(
    truth: Truth, sightings: dict[str, list[datetime]], state_at: StateAt, step_s: float = 1.0
) -> tuple[dict[str, float | None], dict[str, list[float]]]:
    """(early leaver -> live delay in s or None if never "out", student -> starts of false "out"
    episodes in s from the lecture start), from the live state at every `step_s` of the lecture."""
    if step_s <= 0:
        raise ValueError(f"step_s must be positive, got {step_s}")
    moments = math.ceil(truth.duration_s / step_s)  # [start, end): the session runs
    delays: dict[str, float | None] = {}
    false_out: dict[str, list[float]] = {}
    for person in truth.people:
        if not person.roster:
            continue
        times = sorted(sightings.get(person.name, []))
        leave = person.intervals[-1][1] if person.script == "left_early" else None
        delay, previous = None, None
        for i in range(moments):
            t = i * step_s
            now = truth.lecture_start + timedelta(seconds=t)
            state = state_at(times[: bisect_right(times, now)], now)
            if state == "out" and previous != "out" and person.in_view(t):
                false_out.setdefault(person.name, []).append(round(t, 1))
            if leave is not None and delay is None and t >= leave and state == "out":
                delay = round(t - leave, 1)
            previous = state
        if leave is not None:
            delays[person.name] = delay
    return delays, false_out


def _spread(values: dict[str, float | None]) -> dict[str, float | int | None]:
    known = [v for v in values.values() if v is not None]
    return {
        "mean": round(sum(known) / len(known), 1) if known else None,
        "max": max(known) if known else None,
        "undetected": sum(1 for v in values.values() if v is None),
    }


def live_summary(
    truth: Truth, sightings: dict[str, list[datetime]], state_at: StateAt, out_after: timedelta
) -> dict[str, Any]:
    """The `live` part of the JSON line: delays, false "out" episodes and the threshold used."""
    delays, false_out = live_scores(truth, sightings, state_at)
    return {
        "out_after_s": out_after.total_seconds(),
        "early_leave_delay_s": {**_spread(delays), "per_student": delays},
        "false_out_episodes": sum(len(v) for v in false_out.values()),
        "false_out": false_out,
    }


def summary(
    truth: Truth,
    computed: dict[str, str],
    sightings: dict[str, list[datetime]],
    gap_tolerance: timedelta,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The one JSON line `visage simulate run` prints (`extra` adds fields such as `live`)."""
    expected = truth.expected
    delays = early_leave_delays(truth, sightings, gap_tolerance)
    known = [d for d in delays.values() if d is not None]
    wrong = {
        n: {"expected": expected[n], "computed": computed.get(n)}
        for n in expected
        if computed.get(n) != expected[n]
    }
    return {
        "seed": truth.seed,
        "roster": len(expected),
        "strangers": len(truth.strangers),
        "correct": len(expected) - len(wrong),
        "metrics": precision_recall(expected, computed),
        "expected_counts": counts(expected),
        "computed_counts": counts(computed),
        "early_leave_delay_s": {
            "mean": round(sum(known) / len(known), 1) if known else None,
            "max": max(known) if known else None,
            "undetected": sum(1 for d in delays.values() if d is None),
        },
        "mismatches": wrong,
        **(extra or {}),
    }
