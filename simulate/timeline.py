"""Who is in the simulated lecture when, and what attendance the server should find (truth.json).

Times are seconds of *simulated* time relative to the lecture start (negative: before it). The
video covers `[-lead_s, duration_s + tail_s]`, one frame every `seconds_per_frame`; frame `i` is
captured at `video_start + i * seconds_per_frame`, which is what the edge agent stamps on its
sightings when run with `frame_interval_s = seconds_per_frame`.

Why these arrival and departure times: the server's default policy (server/attendance/service.py)
calls an arrival later than 10 min *late* and a departure earlier than 10 min before the end
*left early*, and needs half of the lecture. Scripted times keep a margin of several minutes
from every limit (late arrivals at 14-20 min, early leavers at 28-34 min of 50, breaks of 6-9
min that do not cut the presence below half), so the expected status does not hinge on the
tracker's first-sighting delay of a few frames.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

STATUSES = ("present", "late", "left_early", "absent")
SCRIPTS = ("present", "late", "left_early", "break", "absent", "stranger")


@dataclass
class Seat:
    row: int  # 0 = front row (nearest the camera, largest faces)
    col: int
    x: int  # face centre in the frame, pixels
    y: int
    face_px: int  # face width in pixels at this seat


@dataclass
class Person:
    name: str
    script: str  # one of SCRIPTS
    roster: bool
    intervals: list[tuple[float, float]]  # seconds from the lecture start, in view
    seat: Seat | None = None
    video_photo: str | None = None  # file name (relative to the faces dir) pasted into the video
    enrol_photos: list[str] = field(default_factory=list)  # copied to OUTDIR/enrol/<name>/

    @property
    def expected(self) -> str | None:
        """The session status the server should compute (None for strangers: not on the roster)."""
        if not self.roster:
            return None
        return "present" if self.script == "break" else self.script

    def in_view(self, t: float) -> bool:
        return any(lo <= t < hi for lo, hi in self.intervals)


@dataclass
class Truth:
    seed: int
    lecture_start: datetime
    duration_s: float
    lead_s: float
    tail_s: float
    seconds_per_frame: float
    frames: int
    fps: float  # the container's nominal rate (players only; capture time uses seconds_per_frame)
    width: int
    height: int
    people: list[Person]
    out_dir: Path
    video_name: str = "classroom.avi"

    # ------------------------------------------------------------ derived views

    @property
    def video(self) -> Path:
        return self.out_dir / self.video_name

    @property
    def enrol_dir(self) -> Path:
        return self.out_dir / "enrol"

    @property
    def lecture_end(self) -> datetime:
        return self.lecture_start + timedelta(seconds=self.duration_s)

    @property
    def video_start(self) -> datetime:
        return self.lecture_start - timedelta(seconds=self.lead_s)

    @property
    def roster(self) -> list[str]:
        return [p.name for p in self.people if p.roster]

    @property
    def strangers(self) -> list[str]:
        return [p.name for p in self.people if not p.roster]

    @property
    def expected(self) -> dict[str, str]:
        return {p.name: p.expected for p in self.people if p.expected is not None}

    def person(self, name: str) -> Person:
        return next(p for p in self.people if p.name == name)

    def frame_time(self, index: int) -> float:
        """Seconds from the lecture start at which frame `index` is captured."""
        return -self.lead_s + index * self.seconds_per_frame

    def visible(self, index: int) -> list[Person]:
        t = self.frame_time(index)
        return [p for p in self.people if p.seat is not None and p.in_view(t)]

    # ------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "seed": self.seed,
            "lecture_start": self.lecture_start.isoformat(),
            "lecture_end": self.lecture_end.isoformat(),
            "duration_s": self.duration_s,
            "video": self.video_name,
            "video_start": self.video_start.isoformat(),
            "lead_s": self.lead_s,
            "tail_s": self.tail_s,
            "seconds_per_frame": self.seconds_per_frame,
            "frames": self.frames,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "roster": self.roster,
            "strangers": self.strangers,
            "expected": self.expected,
            "people": [
                {**asdict(p), "expected": p.expected, "intervals": [list(i) for i in p.intervals]}
                for p in self.people
            ],
        }

    def write(self) -> Path:
        path = self.out_dir / "truth.json"
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        return path


def load_truth(out_dir: str | Path) -> Truth:
    """The Truth that `compose_classroom` wrote to `out_dir/truth.json`."""
    out_dir = Path(out_dir)
    data = json.loads((out_dir / "truth.json").read_text())
    people = []
    for item in data["people"]:
        seat = Seat(**item["seat"]) if item["seat"] else None
        people.append(
            Person(
                name=item["name"],
                script=item["script"],
                roster=item["roster"],
                intervals=[(float(lo), float(hi)) for lo, hi in item["intervals"]],
                seat=seat,
                video_photo=item["video_photo"],
                enrol_photos=list(item["enrol_photos"]),
            )
        )
    return Truth(
        seed=data["seed"],
        lecture_start=datetime.fromisoformat(data["lecture_start"]),
        duration_s=data["duration_s"],
        lead_s=data["lead_s"],
        tail_s=data["tail_s"],
        seconds_per_frame=data["seconds_per_frame"],
        frames=data["frames"],
        fps=data["fps"],
        width=data["width"],
        height=data["height"],
        people=people,
        out_dir=out_dir,
        video_name=data["video"],
    )


def script_counts(seats: int) -> dict[str, int]:
    """How many of each script a class of `seats` people in view gets (plus absent roster members)."""
    if seats < 6:
        raise ValueError("a simulated class needs at least 6 seats")
    eighth = max(1, seats // 8)
    counts = {
        "stranger": max(2, eighth),
        "late": eighth,
        "left_early": eighth,
        "break": max(1, seats // 12),
        "absent": eighth,
    }
    counts["present"] = seats - sum(v for k, v in counts.items() if k != "absent")
    return counts


def script_intervals(
    script: str, rng: np.random.Generator, duration_s: float, lead_s: float, tail_s: float
) -> list[tuple[float, float]]:
    """In-view intervals for one person (see the module docstring for the margins)."""
    first, last = -lead_s, duration_s + tail_s
    minute = 60.0
    scale = duration_s / (50 * minute)  # the 50-minute plan stretched to the lecture's length
    if script in ("present", "stranger"):
        return [(first, last)]
    if script == "late":
        return [(float(rng.uniform(14, 20)) * minute * scale, last)]
    if script == "left_early":
        return [(first, float(rng.uniform(28, 34)) * minute * scale)]
    if script == "break":
        leave = float(rng.uniform(15, 22)) * minute * scale
        return [(first, leave), (leave + float(rng.uniform(6, 9)) * minute * scale, last)]
    if script == "absent":
        return []
    raise ValueError(f"unknown script {script!r}")
