"""The live state of a running session: who is in the room now, who walked out and since when.

The final statuses (engine.py) wait for the whole session and join sightings up to the gap
tolerance (5 min), so a student who walks out is known as "left early" only minutes later. The
instructor needs it sooner: a student whose last sighting is more than `out_after` before *now*
is "out of the room since <last sighting>". The edge re-reports every followed, decided track
every `repeat_s` (30 s, a heartbeat: edge/recognizer.py), so the default `out_after` of 90 s is
three missed heartbeats: one lost or late report never sends a seated student out.

Pure, like the engine: a function of (sightings, now) with no clock of its own, so the server
evaluates it at its own time and the simulator (simulate/score.py) at any simulated moment
with the very same rule.

Rules
=====

- Only the session's running time has a live state: for ``now`` outside ``[start, end)`` the
  result is None (before it nobody can have walked out; after it the final status speaks).
- Counted sightings: a student's, captured in ``[start - window_margin, now]`` (later ones do
  not exist yet at ``now``), scoring at least ``min_confidence`` when the policy sets one.
- No counted sighting -> NOT_SEEN (since None).
- ``now - last > out_after`` -> OUT since ``last`` (strict: exactly at the limit is still in).
- Otherwise IN since the first sighting of the current run, where a run is a chain of
  sightings no more than ``out_after`` apart (a student back from a break is in since return).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from server.attendance.engine import AttendancePolicy, SessionPlan, Sighting, StudentId

DEFAULT_OUT_AFTER = timedelta(seconds=90)


class Presence(StrEnum):
    IN = "in"
    OUT = "out"
    NOT_SEEN = "not_seen"


@dataclass(frozen=True, slots=True)
class LiveState:
    """A student's state at one moment; `since`: when it began (None when never seen)."""

    state: Presence
    since: datetime | None


def live_state(
    times: Sequence[datetime], now: datetime, out_after: timedelta = DEFAULT_OUT_AFTER
) -> LiveState:
    """The state at `now` from one student's sorted sighting times (those after `now` are ignored)."""
    if out_after <= timedelta(0):
        raise ValueError(f"out_after must be positive, got {out_after}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be a timezone-aware datetime, got naive {now.isoformat()}")
    stop = bisect_right(times, now)
    if stop == 0:
        return LiveState(Presence.NOT_SEEN, None)
    last = times[stop - 1]
    if now - last > out_after:
        return LiveState(Presence.OUT, last)
    first = stop - 1
    while first > 0 and times[first] - times[first - 1] <= out_after:
        first -= 1
    return LiveState(Presence.IN, times[first])


def running(plan: SessionPlan, now: datetime) -> bool:
    """True while the session runs: the only time a live state means something."""
    return plan.start <= now < plan.end


def live_states(
    plan: SessionPlan,
    policy: AttendancePolicy,
    roster: Iterable[StudentId],
    sightings: Iterable[Sighting],
    now: datetime,
    out_after: timedelta = DEFAULT_OUT_AFTER,
) -> dict[StudentId, LiveState] | None:
    """Every roster student's (and every seen student's) state at `now`; None outside the session."""
    if not running(plan, now):
        return None
    lo = plan.start - policy.window_margin
    times: dict[StudentId, list[datetime]] = defaultdict(list)
    for s in sightings:
        if s.student_id is None or not lo <= s.captured_at <= now:
            continue
        if policy.min_confidence is not None and s.score < policy.min_confidence:
            continue
        times[s.student_id].append(s.captured_at)
    out = {sid: live_state(sorted(seen), now, out_after) for sid, seen in times.items()}
    for sid in roster:
        out.setdefault(sid, LiveState(Presence.NOT_SEEN, None))
    return out
