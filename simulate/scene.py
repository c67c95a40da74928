"""The room as a ceiling camera at the front sees it: rows of desks in perspective, seats, faces.

A simple pinhole model: row `i` (0 = front) lies at depth `1 + DEPTH_STEP * i`, so its scale is
`1 / depth`; faces, seat spacing and the row's height above the horizon all shrink with it. Odd
rows are shifted by half a seat so a head is not hidden right behind the one in front. Drawing
goes back to front, each row's desk after its students, so desks hide the bodies as in a room.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from simulate.timeline import Seat

COLUMNS = 6
DEPTH_STEP = 0.2
FRONT_FACE_PX = 88  # face width in the front row (1280 x 720 frame)
FRONT_SEAT_PX = 180  # distance between neighbouring seats in the front row
HORIZON_Y = -200  # virtual vanishing height above the frame (the camera looks down)
FRONT_Y = 580  # face centre height of the front row


def row_scale(row: int) -> float:
    return 1.0 / (1.0 + DEPTH_STEP * row)


def layout(seats: int, width: int = 1280, height: int = 720) -> list[Seat]:
    """`seats` seat positions, front row first, left to right."""
    rows = math.ceil(seats / COLUMNS)
    k = width / 1280.0
    out: list[Seat] = []
    for row in range(rows):
        s = row_scale(row)
        y = HORIZON_Y * k + (FRONT_Y - HORIZON_Y) * k * s
        spacing = FRONT_SEAT_PX * k * s
        in_row = min(COLUMNS, seats - len(out))
        shift = 0.5 * spacing if row % 2 else 0.0
        left = width / 2 - spacing * (in_row - 1) / 2 + shift - (0.25 * spacing if row % 2 else 0.0)
        for col in range(in_row):
            out.append(Seat(row, col, round(left + col * spacing), round(y), round(FRONT_FACE_PX * k * s)))
    return out


def background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Wall, window light and floor (BGR): the static part of every frame."""
    wall = np.array(rng.uniform([150, 160, 170], [185, 195, 205]), np.float32)
    floor = np.array(rng.uniform([70, 85, 100], [95, 110, 125]), np.float32)
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    split = 0.28
    image = np.where(ys < split, wall * (0.9 + 0.1 * ys / split), floor * (0.8 + 0.3 * ys))
    image = np.broadcast_to(image, (height, width, 3)).copy()
    xs = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :, None]
    image *= 1.0 - 0.15 * xs**2  # vignetting / window light from the middle
    texture = rng.normal(0.0, 4.0, (height // 8 + 1, width // 8 + 1, 1)).astype(np.float32)
    image += cv2.resize(texture, (width, height), interpolation=cv2.INTER_LINEAR)[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


def desk_layer(seats: list[Seat], row: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The desk of one row as (BGR image, 0/1 mask): a slab in front of the row's torsos."""
    members = [s for s in seats if s.row == row]
    if not members:
        return None
    f = members[0].face_px
    top = members[0].y + int(1.25 * f)
    bottom = top + int(0.55 * f)
    left = min(s.x for s in members) - int(1.0 * f)
    right = max(s.x for s in members) + int(1.0 * f)
    mask = np.zeros((height, width), np.uint8)
    cv2.rectangle(mask, (max(left, 0), top), (min(right, width - 1), min(bottom, height - 1)), 1, -1)
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = (40, 75, 115)  # wood
    image[top : top + max(2, f // 20)] = (90, 130, 170)  # lit edge
    return image, mask


def draw_body(frame: np.ndarray, seat: Seat, colour: tuple[int, int, int], dx: int, dy: int) -> None:
    """Shoulders and torso under the head (the desk hides the rest)."""
    f = seat.face_px
    centre = (seat.x + dx, seat.y + dy + int(1.25 * f))
    cv2.ellipse(frame, centre, (int(1.0 * f), int(0.75 * f)), 0, 180, 360, colour, -1, cv2.LINE_AA)
    neck = (seat.x + dx, seat.y + dy + int(0.55 * f))
    cv2.ellipse(frame, neck, (int(0.22 * f), int(0.3 * f)), 0, 0, 360, (110, 140, 190), -1, cv2.LINE_AA)
