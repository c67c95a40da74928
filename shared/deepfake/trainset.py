"""Real faces for SBI training: detect once, keep a context crop per face, cache to disk.

The classifier sees `face_crop(image, box, margin, S)`; training also jitters the box, so each
face is stored as a wider *context* crop (margin `CONTEXT_MARGIN`) with its box and landmarks in
context coordinates. Detection uses the project's MTCNN (the same detector as scoring), so the
boxes the model learns on are the boxes it will be given. numpy + OpenCV only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from shared.deepfake.crops import face_crop, to_crop_coords
from shared.media import MediaError, read_image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".gif"}
CONTEXT_MARGIN = 0.5
MAX_SIDE = 1280  # big photos are shrunk before detection (faces stay well above min size)


@dataclass
class FaceSet:
    """Context crops (N x C x C x 3 uint8), boxes (N x 4) and landmarks (N x 5 x 2) in crop
    coordinates, and a group id per face (source file) for a leak-free train/validation split."""

    crops: np.ndarray
    boxes: np.ndarray
    landmarks: np.ndarray
    groups: list[str]

    def __len__(self) -> int:
        return len(self.crops)

    def subset(self, index: Sequence[int]) -> FaceSet:
        idx = np.asarray(index, dtype=int)
        return FaceSet(self.crops[idx], self.boxes[idx], self.landmarks[idx], [self.groups[i] for i in idx])


def media_files(roots: Sequence[Path]) -> list[Path]:
    """Images and videos under the roots, sorted (deterministic order)."""
    files: list[Path] = []
    for root in roots:
        root = Path(root)
        if root.is_file():
            files.append(root)
            continue
        for path in root.rglob("*"):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
                files.append(path)
    return sorted(set(files))


def _shrink(image: np.ndarray) -> np.ndarray:
    side = max(image.shape[:2])
    if side <= MAX_SIDE:
        return image
    scale = MAX_SIDE / side
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _frames(path: Path, every_s: float, max_frames: int) -> Iterator[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    try:
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        step = max(round(fps * every_s), 1)
        index = taken = 0
        while taken < max_frames:
            ok = capture.grab()
            if not ok:
                break
            if index % step == 0:
                ok, frame = capture.retrieve()
                if ok and frame is not None and frame.ndim == 3:
                    taken += 1
                    yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()


def _images(path: Path, every_s: float, max_frames: int) -> Iterator[np.ndarray]:
    if path.suffix.lower() in VIDEO_SUFFIXES:
        yield from _frames(path, every_s, max_frames)
        return
    try:
        yield read_image(path)
    except MediaError:
        return


def collect_faces(
    roots: Sequence[Path],
    detect: Callable[[np.ndarray], list],
    context_size: int,
    *,
    min_face: int = 48,
    min_score: float = 0.95,
    max_faces_per_image: int = 4,
    video_every_s: float = 0.5,
    max_frames_per_video: int = 40,
    progress: Callable[[Iterator[Path]], Iterator[Path]] | None = None,
) -> FaceSet:
    """Detect faces in every image (and sampled video frames) under `roots`."""
    crops, boxes, marks, groups = [], [], [], []
    files = media_files(roots)
    for path in progress(files) if progress else files:
        for image in _images(path, video_every_s, max_frames_per_video):
            image = _shrink(image)
            faces = [f for f in detect(image) if f.score >= min_score and f.size >= min_face]
            for face in faces[:max_faces_per_image]:
                crops.append(face_crop(image, face.box, CONTEXT_MARGIN, context_size))
                box_pts = face.box.reshape(2, 2)
                boxes.append(to_crop_coords(box_pts, face.box, CONTEXT_MARGIN, context_size).reshape(4))
                marks.append(to_crop_coords(face.landmarks, face.box, CONTEXT_MARGIN, context_size))
                groups.append(str(path))
    if not crops:
        raise ValueError("no usable faces were found under the training roots")
    return FaceSet(np.stack(crops), np.stack(boxes), np.stack(marks), groups)


def cache_key(roots: Sequence[Path], context_size: int, **settings) -> str:
    """Hash of the file list (names and sizes) and settings: a stale cache is never reused."""
    digest = hashlib.sha256()
    for path in media_files(roots):
        digest.update(f"{path}:{path.stat().st_size}\n".encode())
    digest.update(json.dumps({"context": context_size, **settings}, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def save_faces(path: Path, faces: FaceSet) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as handle:
        np.savez(
            handle,
            crops=faces.crops,
            boxes=faces.boxes,
            landmarks=faces.landmarks,
            groups=np.array(faces.groups),
        )
    tmp.replace(path)


def load_faces(path: Path) -> FaceSet:
    with np.load(path, allow_pickle=False) as data:
        return FaceSet(data["crops"], data["boxes"], data["landmarks"], [str(g) for g in data["groups"]])


def training_sample(
    faces: FaceSet, index: int, margin: float, size: int, rng: np.random.Generator, jitter: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(crop, box, landmarks) for one face at the classifier's crop, with a jittered box.

    The jitter (shift and scale of the box by up to `jitter`) stands in for detector noise
    between frames; with jitter=0 the crop is exactly what scoring would cut."""
    context = faces.crops[index]
    box = faces.boxes[index].astype(np.float32).copy()
    if jitter > 0:
        w, h = box[2] - box[0], box[3] - box[1]
        shift = rng.uniform(-jitter, jitter, 2) * np.array([w, h])
        grow = rng.uniform(1 - jitter, 1 + jitter)
        cx, cy = (box[0] + box[2]) / 2 + shift[0], (box[1] + box[3]) / 2 + shift[1]
        box = np.array(
            [cx - w * grow / 2, cy - h * grow / 2, cx + w * grow / 2, cy + h * grow / 2], np.float32
        )
    crop = face_crop(context, tuple(box), margin, size)
    crop_box = to_crop_coords(box.reshape(2, 2), box, margin, size).reshape(4)
    landmarks = to_crop_coords(faces.landmarks[index], box, margin, size)
    return crop, crop_box, landmarks
