"""Compose the simulated lecture video from real photos: `compose_classroom(faces_dir, out_dir)`.

Each person in view gets one of their photos pasted at a seat (the face region with a soft
elliptical mask, so the detector sees a real face and not a rectangle's edges); every other photo
of a roster member goes to `out_dir/enrol/<person>/`, so the photos a gallery is built from never
appear in the video. Per frame: head motion (shift, tilt, scale), lighting drift over the lecture,
now and then camera blur, a hand over a face, and sensor noise. Everything random comes from one
`numpy` generator seeded with `seed`, so the same call gives the same video and truth.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from simulate.errors import SimulationError
from simulate.scene import background, desk_layer, draw_body, layout
from simulate.timeline import Person, Truth, script_counts, script_intervals

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
DEFAULT_START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
# The face region of a 250 x 250 LFW (deep-funnelled) photo, and the ellipse kept from it.
CROP = (40, 210, 45, 205)  # top, bottom, left, right
FACE_FRACTION = 0.62  # face width / crop width: the crop is scaled so the face gets the seat's size
NOISE_BANK = 6


def people_photos(faces_dir: Path) -> dict[str, list[str]]:
    """person -> sorted photo paths relative to `faces_dir` (one folder per person)."""
    if not faces_dir.is_dir():
        raise SimulationError(f"The faces folder {faces_dir} does not exist.")
    out = {}
    for folder in sorted(p for p in faces_dir.iterdir() if p.is_dir()):
        photos = sorted(
            str(f.relative_to(faces_dir)) for f in folder.iterdir() if f.suffix.lower() in PHOTO_SUFFIXES
        )
        if photos:
            out[folder.name] = photos
    return out


def cast(
    photos: dict[str, list[str]],
    seats: int,
    rng: np.random.Generator,
    accept_photo: Callable[[str], bool] | None = None,
) -> list[tuple[str, str, int]]:
    """(person, script, index of the photo for the video) for everyone in the class.

    Roster members need 3+ photos (1 for the video, the rest to enrol) and, with `accept_photo`
    (the server's enrolment gate), at least one enrolment photo it accepts: a student the gallery
    cannot hold would be absent for reasons that have nothing to do with the edge or the MQTT path.
    Strangers come from people with fewer photos when there are enough, else from the rest."""
    counts = script_counts(seats)
    roster_needed = sum(v for k, v in counts.items() if k != "stranger")
    rich = [name for name, files in photos.items() if len(files) >= 3]
    poor = [name for name, files in photos.items() if len(files) < 3]
    rich = [rich[i] for i in rng.permutation(len(rich))]
    poor = [poor[i] for i in rng.permutation(len(poor))]
    roster: list[tuple[str, int]] = []
    unused: list[str] = []
    for name in rich:
        files = photos[name]
        choice = int(rng.integers(len(files)))
        enrol = [f for i, f in enumerate(files) if i != choice]
        if len(roster) < roster_needed and (accept_photo is None or any(accept_photo(f) for f in enrol)):
            roster.append((name, choice))
        else:
            unused.append(name)
    if len(roster) < roster_needed:
        raise SimulationError(
            f"{seats} seats need {roster_needed} people with 3+ usable photos; the folder has {len(roster)}."
        )
    strangers = (poor if len(poor) >= counts["stranger"] else poor + unused)[: counts["stranger"]]
    if len(strangers) < counts["stranger"]:
        raise SimulationError(f"{seats} seats need {counts['stranger']} strangers besides the roster.")
    scripts = [s for s in ("present", "late", "left_early", "break", "absent") for _ in range(counts[s])]
    cast_roster = [(name, script, choice) for (name, choice), script in zip(roster, scripts, strict=True)]
    return cast_roster + [(n, "stranger", int(rng.integers(len(photos[n])))) for n in strangers]


def face_patch(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(crop, soft mask in [0, 1]) around the face of a roughly centred portrait."""
    h, w = image.shape[:2]
    if (h, w) != (250, 250):  # other portraits: scale so the face lands where LFW's does
        image = cv2.resize(image, (250, 250), interpolation=cv2.INTER_AREA)
    top, bottom, left, right = CROP
    crop = image[top:bottom, left:right].copy()
    mask = np.zeros(crop.shape[:2], np.float32)
    ch, cw = mask.shape
    cv2.ellipse(mask, (cw // 2, ch // 2 + 4), (int(cw * 0.36), int(ch * 0.45)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 6)
    return crop, mask


def paste(
    frame: np.ndarray,
    crop: np.ndarray,
    mask: np.ndarray,
    cx: float,
    cy: float,
    scale: float,
    angle: float,
    gain: float,
) -> None:
    """Blend the crop into `frame` centred at (cx, cy), scaled, tilted by `angle` degrees."""
    ch, cw = crop.shape[:2]
    pw, ph = math.ceil(cw * scale * 1.1), math.ceil(ch * scale * 1.1)
    matrix = cv2.getRotationMatrix2D((cw / 2, ch / 2), angle, scale)
    matrix[:, 2] += (pw / 2 - cw / 2, ph / 2 - ch / 2)
    patch = cv2.warpAffine(crop, matrix, (pw, ph), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    alpha = cv2.warpAffine(mask, matrix, (pw, ph), flags=cv2.INTER_LINEAR)[..., None]
    x0, y0 = round(cx - pw / 2), round(cy - ph / 2)
    fx0, fy0 = max(x0, 0), max(y0, 0)
    fx1, fy1 = min(x0 + pw, frame.shape[1]), min(y0 + ph, frame.shape[0])
    if fx1 <= fx0 or fy1 <= fy0:
        return
    region = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    src = patch[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0].astype(np.float32) * gain
    a = alpha[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    frame[fy0:fy1, fx0:fx1] = np.clip(region * (1 - a) + src * a, 0, 255).astype(np.uint8)


def compose_classroom(
    faces_dir: str | Path,
    out_dir: str | Path,
    seed: int = 0,
    seats: int = 24,
    minutes: float = 50.0,
    seconds_per_frame: float = 10.0,
    lead_s: float = 180.0,
    tail_s: float = 60.0,
    lecture_start: datetime = DEFAULT_START,
    width: int = 1280,
    height: int = 720,
    fps: float = 10.0,
    accept_photo: Callable[[str], bool] | None = None,
) -> Truth:
    """Write `out_dir/classroom.avi`, `out_dir/enrol/<person>/...` and `out_dir/truth.json`.

    faces_dir: one folder of photos per person (e.g. ../shared/data/lfw_deepfunneled_pairs/images).
    seats: people in view at some time (strangers included); the roster adds absent members.
    minutes: lecture length (40 or more: the scripted arrival/leave times assume the default
        10-minute late / left-early limits, see simulate.timeline).
    seconds_per_frame: compressed time; frame i is captured at
        lecture_start - lead_s + i * seconds_per_frame (simulated), whatever `fps` the container
        claims. The default 10 s gives 324 frames for a 50-minute lecture.
    accept_photo: a check of one enrolment photo (path relative to faces_dir), e.g. the server's
        face gate; roster members need one accepted photo (see `cast`).
    Deterministic for a given seed, faces folder (and gate). Returns the Truth also written to JSON.
    """
    faces_dir, out_dir = Path(faces_dir), Path(out_dir)
    if minutes < 40:
        raise SimulationError(
            "A simulated lecture must last at least 40 minutes (the late/left-early limits are 10)."
        )
    if seconds_per_frame <= 0 or seconds_per_frame > 60:
        raise SimulationError("seconds_per_frame must be in (0, 60].")
    rng = np.random.default_rng(seed)
    photos = people_photos(faces_dir)
    duration_s = minutes * 60.0
    chosen = cast(photos, seats, rng, accept_photo)
    seat_list = layout(seats, width, height)
    seat_order = rng.permutation(len(seat_list))
    people: list[Person] = []
    seat_index = 0
    for name, script, video_choice in chosen:
        files = photos[name]
        intervals = script_intervals(script, rng, duration_s, lead_s, tail_s)
        person = Person(name, script, roster=script != "stranger", intervals=intervals)
        if script != "absent":
            person.seat = seat_list[int(seat_order[seat_index])]
            seat_index += 1
            person.video_photo = files[video_choice]
        if person.roster:
            person.enrol_photos = [f for i, f in enumerate(files) if i != video_choice or script == "absent"]
        people.append(person)

    frames = math.floor((duration_s + lead_s + tail_s) / seconds_per_frame) + 1
    truth = Truth(
        seed=seed,
        lecture_start=lecture_start,
        duration_s=duration_s,
        lead_s=lead_s,
        tail_s=tail_s,
        seconds_per_frame=seconds_per_frame,
        frames=frames,
        fps=fps,
        width=width,
        height=height,
        people=people,
        out_dir=out_dir,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_enrolment(truth, faces_dir)
    _write_video(truth, faces_dir, rng)
    truth.write()
    return truth


def _write_enrolment(truth: Truth, faces_dir: Path) -> None:
    if truth.enrol_dir.exists():
        shutil.rmtree(truth.enrol_dir)
    for person in truth.people:
        if not person.enrol_photos:
            continue
        folder = truth.enrol_dir / person.name
        folder.mkdir(parents=True)
        for name in person.enrol_photos:
            shutil.copyfile(faces_dir / name, folder / Path(name).name)


class _Actor:
    """Per-person rendering state: the face patch, clothes and a head-motion rhythm."""

    def __init__(self, person: Person, faces_dir: Path, rng: np.random.Generator):
        image = cv2.imread(str(faces_dir / str(person.video_photo)), cv2.IMREAD_COLOR)
        if image is None:
            raise SimulationError(f"Cannot read the photo {person.video_photo}.")
        self.person = person
        self.crop, self.mask = face_patch(image)
        self.shirt = tuple(int(c) for c in rng.integers(30, 200, 3))
        self.phase = rng.uniform(0, 2 * math.pi, 3)
        self.period = rng.uniform(120, 400, 3)  # seconds of simulated time per head sway
        self.gain = float(rng.uniform(0.9, 1.1))  # each seat is lit a little differently


def _write_video(truth: Truth, faces_dir: Path, rng: np.random.Generator) -> None:
    width, height = truth.width, truth.height
    base = background(width, height, rng)
    seats = [p.seat for p in truth.people if p.seat is not None]
    rows = sorted({s.row for s in seats}, reverse=True)  # back to front
    desks = {row: desk_layer(seats, row, width, height) for row in rows}
    desks = {row: (d[0], d[1][..., None].astype(bool)) if d is not None else None for row, d in desks.items()}
    actors = [_Actor(p, faces_dir, rng) for p in truth.people if p.seat is not None]
    noise = [rng.normal(0, 4.0, (height, width, 3)).astype(np.int16) for _ in range(NOISE_BANK)]
    drift_phase = rng.uniform(0, 2 * math.pi)
    partial = truth.video.with_name(truth.video.name + ".part.avi")
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"MJPG"), truth.fps, (width, height))
    if not writer.isOpened():
        raise SimulationError(f"OpenCV cannot write the video {partial}.")
    try:
        for index in range(truth.frames):
            t = truth.frame_time(index)
            frame = base.copy()
            lighting = 1.0 + 0.12 * math.sin(2 * math.pi * t / 1800.0 + drift_phase)
            for row in rows:
                for actor in actors:
                    seat = actor.person.seat
                    if seat is None or seat.row != row or not actor.person.in_view(t):
                        continue
                    f = seat.face_px
                    sway = [math.sin(2 * math.pi * t / actor.period[k] + actor.phase[k]) for k in range(3)]
                    dx = round(0.06 * f * sway[0] + rng.normal(0, 0.01 * f))
                    dy = round(0.04 * f * sway[1] + rng.normal(0, 0.01 * f))
                    draw_body(frame, seat, actor.shirt, dx, dy)
                    scale = f / (actor.crop.shape[1] * FACE_FRACTION) * (1.0 + 0.03 * sway[2])
                    angle = 7.0 * sway[2] + float(rng.normal(0, 1.0))
                    paste(frame, actor.crop, actor.mask, seat.x + dx, seat.y + dy, scale, angle, actor.gain)
                    if rng.random() < 0.015:  # a hand or a raised book in front of the face
                        cv2.ellipse(
                            frame,
                            (seat.x + dx - f // 4, seat.y + dy + f // 3),
                            (int(0.35 * f), int(0.25 * f)),
                            float(rng.uniform(0, 180)),
                            0,
                            360,
                            (120, 160, 215),
                            -1,
                            cv2.LINE_AA,
                        )
                desk = desks[row]
                if desk is not None:
                    image, mask = desk
                    np.copyto(frame, image, where=mask)
            frame = cv2.convertScaleAbs(frame, alpha=lighting, beta=0)
            if rng.random() < 0.12:  # focus hunting / camera shake
                frame = cv2.GaussianBlur(frame, (0, 0), float(rng.uniform(0.6, 1.3)))
            frame = np.clip(frame.astype(np.int16) + noise[int(rng.integers(NOISE_BANK))], 0, 255).astype(
                np.uint8
            )
            writer.write(frame)
    finally:
        writer.release()
    os.replace(partial, truth.video)
