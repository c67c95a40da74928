"""The demo's classroom: a lecture video plus enrolment photos, made once and cached.

The classroom simulator (`simulate.compose_classroom`) composes it when it is installed; if it
is missing or fails, a small built-in composition stands in (a grid of seats, one photo per person,
a late arrival, an early leaver, an absentee and a stranger), so `visage demo` always has a lecture
to play. Either way the photos in the video are never the photos used to enrol.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from shared.media import read_image

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass
class Classroom:
    """What the demo needs from a composed lecture (times are simulated seconds)."""

    video: Path
    enrol: dict[str, list[Path]]  # roster name -> enrolment photos
    lead_s: float  # the video starts this long before the lecture
    duration_s: float
    seconds_per_frame: float  # simulated time between frames (`frame_interval_s` of the edge)
    expected: dict[str, str] = field(default_factory=dict)  # roster name -> status the server should find
    source: str = "built-in"
    min_face_size: int = 40


def prepare_classroom(
    faces: Path,
    cache: Path,
    seed: int = 0,
    accept_photo: Callable[[Path], bool] | None = None,
    seats: int = 24,
) -> Classroom:
    """The cached classroom in `cache`, composing it first when absent.

    `accept_photo` is the server's enrolment gate: the simulator casts as students only people with
    an enrolment photo it accepts, so every student on the roster can be recognised."""
    cache.mkdir(parents=True, exist_ok=True)
    try:
        return from_simulator(
            faces, cache / f"simulated-{seats}-seats-seed-{seed}", seed, accept_photo, seats
        )
    except ImportError:
        log.info("classroom simulator (simulate) not installed: using the built-in classroom")
    except Exception as exc:  # a broken simulator must not stop the demo
        log.warning("classroom simulator failed (%s): using the built-in classroom", exc)
    return built_in(faces, cache / f"built-in-seed-{seed}", seed)


# ---------------------------------------------------------------- the simulator


def from_simulator(
    faces: Path,
    out: Path,
    seed: int,
    accept_photo: Callable[[Path], bool] | None = None,
    seats: int = 24,
) -> Classroom:
    from simulate import compose_classroom, load_truth

    if (out / "truth.json").is_file():
        truth = load_truth(out)
    else:
        log.info("composing the simulated lecture in %s (once; cached for later runs)", out)
        options = {}
        if accept_photo is not None and "accept_photo" in inspect.signature(compose_classroom).parameters:
            options["accept_photo"] = lambda name: accept_photo(faces / name)
        truth = compose_classroom(str(faces), str(out), seed=seed, seats=seats, **options)
    enrol = {
        person.name: sorted(
            p for p in (truth.enrol_dir / person.name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
        )
        for person in truth.people
        if person.roster and (truth.enrol_dir / person.name).is_dir()
    }
    smallest = min((p.seat.face_px for p in truth.people if p.seat is not None), default=40)
    return Classroom(
        video=truth.video,
        enrol=enrol,
        lead_s=float(truth.lead_s),
        duration_s=float(truth.duration_s),
        seconds_per_frame=float(truth.seconds_per_frame),
        expected=dict(truth.expected),
        source="simulator",
        min_face_size=max(12, min(40, int(smallest * 0.6))),
    )


# ---------------------------------------------------------------- the built-in stand-in

LEAD_S, DURATION_S, TAIL_S, STEP_S = 120.0, 3000.0, 60.0, 10.0
# Seconds from the lecture start each seat is occupied (the limits the server's default policy
# uses are 10 min late and 10 min before the end; these keep several minutes of margin).
SCRIPTS: tuple[tuple[str, tuple[float, float] | None], ...] = (
    ("present", (-LEAD_S, DURATION_S + TAIL_S)),
    ("present", (-LEAD_S, DURATION_S + TAIL_S)),
    ("present", (-LEAD_S, DURATION_S + TAIL_S)),
    ("late", (1000.0, DURATION_S + TAIL_S)),
    ("left_early", (-LEAD_S, 1800.0)),
    ("absent", None),
    ("stranger", (-LEAD_S, DURATION_S + TAIL_S)),
)
SEAT_PX, COLUMNS, FRAME = 200, 4, (1280, 720)
ENROL_PHOTOS = 5  # candidates per person: the strict enrolment gate refuses soft or turned faces


def people_with_photos(faces: Path, least: int) -> list[tuple[str, list[Path]]]:
    people = []
    for folder in sorted(p for p in faces.iterdir() if p.is_dir()):
        photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(photos) >= least:
            people.append((folder.name, photos))
    return people


def built_in(faces: Path, out: Path, seed: int) -> Classroom:
    meta = out / "classroom.json"
    if meta.is_file():
        data = json.loads(meta.read_text())
        data["video"] = out / data["video"]
        data["enrol"] = {name: [Path(p) for p in paths] for name, paths in data["enrol"].items()}
        return Classroom(**data)
    people = people_with_photos(faces, least=2)
    if len(people) < len(SCRIPTS):
        raise ValueError(
            f"{faces} has {len(people)} people with 2 or more photos; the demo needs {len(SCRIPTS)}"
        )
    rng = np.random.default_rng(seed)
    chosen = [people[i] for i in sorted(rng.choice(len(people), size=len(SCRIPTS), replace=False))]
    out.mkdir(parents=True, exist_ok=True)
    log.info("composing the built-in lecture video in %s (once; cached for later runs)", out)
    video = out / "classroom.avi"
    seats = [
        (name, photos[-1], interval) for (name, photos), (_, interval) in zip(chosen, SCRIPTS, strict=True)
    ]
    write_video(video, seats)
    classroom = Classroom(
        video=video,
        enrol={
            name: photos[:-1][:ENROL_PHOTOS]
            for (name, photos), (script, _) in zip(chosen, SCRIPTS, strict=True)
            if script != "stranger"
        },
        lead_s=LEAD_S,
        duration_s=DURATION_S,
        seconds_per_frame=STEP_S,
        expected={
            name: script
            for (name, _), (script, _) in zip(chosen, SCRIPTS, strict=True)
            if script != "stranger"
        },
    )
    record = asdict(classroom)
    record["video"] = video.name
    record["enrol"] = {name: [str(p) for p in paths] for name, paths in classroom.enrol.items()}
    meta.write_text(json.dumps(record, indent=1) + "\n")
    return classroom


def write_video(path: Path, seats: list[tuple[str, Path, tuple[float, float] | None]]) -> None:
    """Seats in a grid on a plain classroom-grey background; faces drift a little from frame to frame."""
    width, height = FRAME
    faces = [
        cv2.resize(read_image(photo), (SEAT_PX, SEAT_PX), interpolation=cv2.INTER_AREA)
        for _, photo, _ in seats
    ]
    frames = math.floor((LEAD_S + DURATION_S + TAIL_S) / STEP_S)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (width, height))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {path}")
    rows = math.ceil(len(seats) / COLUMNS)
    gap_x = (width - COLUMNS * SEAT_PX) // (COLUMNS + 1)
    gap_y = (height - rows * SEAT_PX) // (rows + 1)
    try:
        for index in range(frames):
            t = -LEAD_S + index * STEP_S
            canvas = np.full((height, width, 3), (118, 112, 104), np.uint8)
            for slot, ((_, _, interval), face) in enumerate(zip(seats, faces, strict=True)):
                if interval is None or not interval[0] <= t < interval[1]:
                    continue
                row, col = divmod(slot, COLUMNS)
                x = gap_x + col * (SEAT_PX + gap_x) + int(4 * math.sin(index / 5 + slot))
                y = gap_y + row * (SEAT_PX + gap_y) + int(3 * math.cos(index / 7 + slot))
                canvas[y : y + SEAT_PX, x : x + SEAT_PX] = face
            writer.write(cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
