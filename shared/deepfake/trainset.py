"""Real faces for SBI training: detect once, keep a context crop per face, cache to disk.

The classifier sees `face_crop(image, box, margin, S)`; training also jitters the box, so each
face is stored as a wider *context* crop (margin `CONTEXT_MARGIN`) with its box and landmarks in
context coordinates. Detection uses the project's MTCNN (the same detector as scoring), so the
boxes the model learns on are the boxes it will be given. When a 68-point landmark function is
given (dlib at training time, shared/export/landmarks68.py), its points are stored too: they
shape the SBI masks only; the crop still comes from the MTCNN box, as at run time. Videos are
sampled densely (every `video_every_s`, per frame every face = one track's view of it).
numpy + OpenCV only.
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
# dlib's 68 points are trusted only where they agree with MTCNN's five (eye centres, mouth
# corners, nose tip) within this fraction of the box's longer side: on turned or blurred faces
# dlib fits a frontal shape beside the face, and a mask there would teach nothing.
LANDMARK_AGREEMENT = 0.12
MAX_SIDE = 1280  # big photos are shrunk before detection (faces stay well above min size)


@dataclass
class FaceSet:
    """Context crops (N x C x C x 3 uint8), boxes (N x 4) and landmarks (N x 5 x 2) in crop
    coordinates, and a group id per face (source file) for a leak-free train/validation split."""

    crops: np.ndarray
    boxes: np.ndarray
    landmarks: np.ndarray
    groups: list[str]
    landmarks68: np.ndarray | None = None  # N x 68 x 2, crop coordinates (training-time dlib)

    def __len__(self) -> int:
        return len(self.crops)

    def usable68(self) -> np.ndarray:
        """Per face: are its 68 points trusted (see LANDMARK_AGREEMENT)? All False without them."""
        if self.landmarks68 is None:
            return np.zeros(len(self), dtype=bool)
        cached = getattr(self, "_usable68", None)
        if cached is None:
            cached = np.array(
                [
                    landmarks_agree(m68, m5, box)
                    for m68, m5, box in zip(self.landmarks68, self.landmarks, self.boxes, strict=True)
                ],
                dtype=bool,
            )
            self._usable68 = cached
        return cached

    def subset(self, index: Sequence[int]) -> FaceSet:
        idx = np.asarray(index, dtype=int)
        marks68 = None if self.landmarks68 is None else self.landmarks68[idx]
        return FaceSet(
            self.crops[idx], self.boxes[idx], self.landmarks[idx], [self.groups[i] for i in idx], marks68
        )


def landmarks_agree(marks68: np.ndarray, marks5: np.ndarray, box: np.ndarray) -> bool:
    """Whether dlib's 68 points describe the face MTCNN's five points describe."""
    m68 = np.asarray(marks68, dtype=np.float32).reshape(68, 2)
    as_five = np.stack(
        [m68[36:42].mean(axis=0), m68[42:48].mean(axis=0), m68[30], m68[48], m68[54]]
    )  # left eye, right eye, nose tip, mouth corners: MTCNN's order (image left to right)
    side = float(max(box[2] - box[0], box[3] - box[1]))
    error = np.linalg.norm(as_five - np.asarray(marks5, dtype=np.float32).reshape(5, 2), axis=1).max()
    return bool(error <= LANDMARK_AGREEMENT * side)


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


def _detect_scaled(image: np.ndarray, detect: Callable[[np.ndarray], list], max_side: int | None) -> list:
    """Faces found on a copy whose longer side is at most `max_side` (as the scoring pipeline
    does), boxes and landmarks scaled back to `image`."""
    side = max(image.shape[:2])
    if not max_side or side <= max_side:
        return list(detect(image))
    scale = max_side / side
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return [
        type(face)(box=face.box / scale, score=face.score, landmarks=face.landmarks / scale)
        for face in detect(small)
    ]


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
    detect_max_side: int | None = None,
    landmarks68: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    progress: Callable[[Iterator[Path]], Iterator[Path]] | None = None,
) -> FaceSet:
    """Detect faces in every image (and sampled video frames) under `roots`; with `landmarks68`,
    also the 68 points of each face (run inside its MTCNN box)."""
    crops, boxes, marks, marks68, groups = [], [], [], [], []
    files = media_files(roots)
    for path in progress(files) if progress else files:
        for image in _images(path, video_every_s, max_frames_per_video):
            image = _shrink(image)
            faces = [
                f
                for f in _detect_scaled(image, detect, detect_max_side)
                if f.score >= min_score and f.size >= min_face
            ]
            for face in faces[:max_faces_per_image]:
                crops.append(face_crop(image, face.box, CONTEXT_MARGIN, context_size))
                box_pts = face.box.reshape(2, 2)
                boxes.append(to_crop_coords(box_pts, face.box, CONTEXT_MARGIN, context_size).reshape(4))
                marks.append(to_crop_coords(face.landmarks, face.box, CONTEXT_MARGIN, context_size))
                if landmarks68 is not None:
                    points = landmarks68(image, face.box)
                    marks68.append(to_crop_coords(points, face.box, CONTEXT_MARGIN, context_size))
                groups.append(str(path))
    if not crops:
        raise ValueError("no usable faces were found under the training roots")
    return FaceSet(
        np.stack(crops), np.stack(boxes), np.stack(marks), groups, np.stack(marks68) if marks68 else None
    )


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
        extra = {} if faces.landmarks68 is None else {"landmarks68": faces.landmarks68}
        np.savez(
            handle,
            crops=faces.crops,
            boxes=faces.boxes,
            landmarks=faces.landmarks,
            groups=np.array(faces.groups),
            **extra,
        )
    tmp.replace(path)


def save_faces_packed(
    path: Path, faces: FaceSet, max_bytes: int, qualities: tuple[int, ...] = (90, 85, 80, 75, 70, 65, 60)
) -> int:
    """The set with its crops as JPEG, at the best quality in `qualities` that fits `max_bytes`
    (a GPU machine receives the training faces as files of limited size). Returns the quality.
    Recompression costs real and fake alike: SBI pairs are made after decoding."""
    fixed = faces.boxes.nbytes + faces.landmarks.nbytes + np.array(faces.groups).nbytes + 8 * len(faces)
    fixed += 0 if faces.landmarks68 is None else faces.landmarks68.nbytes
    fixed += 4096  # the zip's headers
    for quality in qualities:
        encoded = [
            cv2.imencode(".jpg", crop[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])[1].reshape(-1)
            for crop in faces.crops
        ]
        lengths = np.array([len(e) for e in encoded], dtype=np.int64)
        if lengths.sum() + fixed <= max_bytes:
            break
    else:
        raise ValueError(f"the faces do not fit {max_bytes} bytes even at JPEG quality {qualities[-1]}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    extra = {} if faces.landmarks68 is None else {"landmarks68": faces.landmarks68}
    with open(tmp, "wb") as handle:
        np.savez(
            handle,
            jpeg=np.concatenate(encoded),
            jpeg_lengths=lengths,
            crop_size=np.array(faces.crops.shape[1]),
            boxes=faces.boxes,
            landmarks=faces.landmarks,
            groups=np.array(faces.groups),
            **extra,
        )
    tmp.replace(path)
    return quality


def load_faces(path: Path) -> FaceSet:
    """A set written by save_faces or save_faces_packed."""
    with np.load(path, allow_pickle=False) as data:
        marks68 = data["landmarks68"] if "landmarks68" in data.files else None
        if "jpeg" in data.files:
            blob, ends = data["jpeg"], np.cumsum(data["jpeg_lengths"])
            starts = np.concatenate([[0], ends[:-1]])
            decoded = [cv2.imdecode(blob[a:b], cv2.IMREAD_COLOR) for a, b in zip(starts, ends, strict=True)]
            crops = np.ascontiguousarray(np.stack(decoded)[..., ::-1])
        else:
            crops = data["crops"]
        return FaceSet(crops, data["boxes"], data["landmarks"], [str(g) for g in data["groups"]], marks68)


def training_sample(
    faces: FaceSet, index: int, margin: float, size: int, rng: np.random.Generator, jitter: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(crop, box, landmarks) for one face at the classifier's crop, with a jittered box.
    `landmarks` are the 68 points when the set has them and they agree with MTCNN's (see
    LANDMARK_AGREEMENT), else MTCNN's 5 (the outline fallback of shared/deepfake/sbi.py).

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
    points = faces.landmarks68[index] if faces.usable68()[index] else faces.landmarks[index]
    landmarks = to_crop_coords(points, box, margin, size)
    return crop, crop_box, landmarks
