"""Compare the server's attendance with the simulator's truth: precision, recall, early-leave delay.

Scored statuses are present, late and left_early (absent is the complement). The engine's
`late_and_left_early` counts as neither (the simulator never scripts it, so it is always wrong).

Early-leave delay: the engine closes a presence interval only when no sighting follows within
`gap_tolerance`, so the earliest simulated moment a live system can know a student left is
their last sighting + gap_tolerance. The delay is that moment minus the scripted leaving time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from edge.simulate.timeline import Truth

SCORED = ("present", "late", "left_early")


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


def summary(
    truth: Truth,
    computed: dict[str, str],
    sightings: dict[str, list[datetime]],
    gap_tolerance: timedelta,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The one JSON line `visage simulate run` prints."""
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
