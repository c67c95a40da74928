"""Media for the deepfake check: tell images from videos, and sample video frames safely.

Uploads are untrusted. Before FFmpeg (inside OpenCV) parses a byte, `sniff` looks at the file's
magic bytes and accepts only image formats and video containers it knows; audio files and
anything else (a renamed text file) are refused with a sentence. A video is then opened and its
header checked against limits (size, duration, frame size, and `shared.media.UPLOAD_SHAPE` like
any uploaded picture) before a frame is decoded, so a file whose header claims four hours is
refused at once rather than decoded for minutes.

Frames are sampled by presentation time, not by frame number: the targets are the centres of
`count` equal slices of the duration, and each target takes the first frame shown at or after
it. With a variable frame rate, frame numbers are not evenly spaced in time; timestamps are.
Frames are grabbed (decoded, not converted) sequentially and only the chosen ones are converted
to RGB: seeking in H.264 is only reliable at key frames. Rotation metadata (phone videos) is
honoured: OpenCV's FFmpeg backend applies it (CAP_PROP_ORIENTATION_AUTO), and we report it.

A stream that stops well before its announced duration is a truncated or corrupt file: that is
an error, not a silently shorter result.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from shared.media import UPLOAD_SHAPE, MediaError, check_shape, read_image

MAX_VIDEO_BYTES = int(os.environ.get("VISAGE_DEEPFAKE_MAX_VIDEO_BYTES", 512 * 1024 * 1024))
MAX_VIDEO_SECONDS = float(os.environ.get("VISAGE_DEEPFAKE_MAX_VIDEO_SECONDS", 600))
MAX_FRAME_PIXELS = int(os.environ.get("VISAGE_DEEPFAKE_MAX_FRAME_PIXELS", 8192 * 4352))
# A stream may end this much earlier than announced (rounding, a last short GOP) and still count whole.
TRUNCATION_TOLERANCE = 0.9

IMAGE_SIGNATURES: tuple[tuple[int, bytes], ...] = (
    (0, b"\xff\xd8\xff"),  # JPEG
    (0, b"\x89PNG\r\n\x1a\n"),
    (0, b"GIF87a"),
    (0, b"GIF89a"),
    (0, b"BM"),
    (0, b"II*\x00"),  # TIFF, little endian
    (0, b"MM\x00*"),  # TIFF, big endian
)
AUDIO_SIGNATURES: tuple[tuple[int, bytes], ...] = (
    (0, b"ID3"),  # MP3 with an ID3 tag
    (0, b"fLaC"),
    (0, b"#!AMR"),
    (0, b"\xff\xfb"),  # MP3 frame sync (MPEG-1 layer III)
    (0, b"\xff\xf3"),
    (0, b"\xff\xf2"),
    (0, b"\xff\xf1"),  # ADTS AAC
    (0, b"\xff\xf9"),
)
# ISO base media brands used only for sound (iTunes audio, audio books, Flash audio).
AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})
IMAGE_BRANDS = frozenset({b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis"})
MP4_FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"})


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about the video stream, after rotation."""

    width: int
    height: int
    fps: float
    frame_count: int
    duration_s: float
    rotation: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class Frame:
    """One sampled frame: its position in the stream, its time and its RGB pixels."""

    index: int
    time_s: float
    image: np.ndarray


def sniff(path: Path | str) -> str:
    """'image' or 'video' from the file's first bytes; any other file raises MediaError."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path.name}: no such file.")
    if not path.is_file():
        raise MediaError(f"{path.name}: not a regular file.")
    if path.stat().st_size == 0:
        raise MediaError(f"{path.name}: the file is empty (0 bytes).")
    with open(path, "rb") as handle:
        head = handle.read(64)
    return sniff_bytes(head, path.name)


def sniff_bytes(head: bytes, name: str = "file") -> str:
    """The same decision as `sniff` on the first bytes of a file (at least 16 for a sure answer)."""
    if not head:
        raise MediaError(f"{name}: the file is empty (0 bytes).")
    if any(head[offset:].startswith(magic) for offset, magic in IMAGE_SIGNATURES):
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        raise MediaError(f"{name}: this is an audio file (WAV); the deepfake check needs a video or a photo.")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    if head[4:8] in MP4_FIRST_BOXES:
        brand = head[8:12] if head[4:8] == b"ftyp" else b""
        if brand in AUDIO_BRANDS:
            raise MediaError(
                f"{name}: this is an audio file (M4A); the deepfake check needs a video or a photo."
            )
        if brand in IMAGE_BRANDS:
            raise MediaError(f"{name}: HEIC/AVIF images are not accepted (use JPEG, PNG, WebP or a video).")
        return "video"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: Matroska, WebM
        return "video"
    if head[:3] == b"FLV":
        return "video"
    if head[:4] == b"\x00\x00\x01\xba":  # MPEG program stream
        return "video"
    if head[:4] == b"OggS" or head[:4] == b"FORM":
        raise MediaError(
            f"{name}: Ogg and AIFF files are not accepted (send an MP4, MOV, MKV, WebM or AVI video)."
        )
    if any(head.startswith(magic) for _, magic in AUDIO_SIGNATURES):
        raise MediaError(f"{name}: this is an audio file; the deepfake check needs a video or a photo.")
    raise MediaError(
        f"{name}: not an image or a video Visage reads (send JPEG, PNG, WebP, BMP or TIFF, "
        "or an MP4, MOV, MKV, WebM or AVI video)."
    )


def _mp4_handlers(path: Path, window: int = 4 << 20) -> set[bytes]:
    """Track handler types ('vide', 'soun', ...) of an MP4/MOV, from its first and last bytes.

    The `moov` box sits at the start or at the end of the file; each track's `hdlr` box names
    its handler type 8 bytes after the box type. Used only to say "audio only" precisely.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        chunks = [handle.read(window)]
        if size > window:
            handle.seek(max(size - window, window))
            chunks.append(handle.read(window))
    handlers = set()
    for chunk in chunks:
        start = chunk.find(b"hdlr")
        while start != -1:
            handlers.add(chunk[start + 12 : start + 16])
            start = chunk.find(b"hdlr", start + 4)
    return handlers


def open_video(path: Path | str) -> tuple[cv2.VideoCapture, VideoInfo]:
    """An opened capture and its checked header; raises MediaError for anything unusable."""
    path = Path(path)
    name = path.name
    size = path.stat().st_size
    if size > MAX_VIDEO_BYTES:
        raise MediaError(f"{name}: {size} bytes is more than the {MAX_VIDEO_BYTES} byte limit for a video.")
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        handlers = _mp4_handlers(path)
        if b"soun" in handlers and b"vide" not in handlers:
            raise MediaError(f"{name}: the file holds only audio; the deepfake check needs pictures.")
        raise MediaError(
            f"{name}: the video could not be opened (it is corrupt, truncated or has no video track)."
        )
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    try:
        info = _video_info(capture)
        _check_limits(info, name)
    except MediaError:
        capture.release()
        raise
    return capture, info


def _video_info(capture: cv2.VideoCapture) -> VideoInfo:
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    count = int(max(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0, 0))
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
    rotation = int(capture.get(cv2.CAP_PROP_ORIENTATION_META) or 0) % 360
    duration = count / fps if fps > 0 and count > 0 else 0.0
    return VideoInfo(width, height, round(fps, 3), count, round(duration, 3), rotation)


def _check_limits(info: VideoInfo, name: str) -> None:
    if info.width <= 0 or info.height <= 0:
        raise MediaError(f"{name}: the video track has no picture size (corrupt or not a video).")
    if info.width * info.height > MAX_FRAME_PIXELS:
        raise MediaError(
            f"{name}: {info.width}x{info.height} frames are larger than the {MAX_FRAME_PIXELS} pixel limit."
        )
    if info.duration_s > MAX_VIDEO_SECONDS:
        raise MediaError(
            f"{name}: the video lasts {_clock(info.duration_s)}, more than the {_clock(MAX_VIDEO_SECONDS)} "
            "limit; cut the part to check and upload that."
        )
    check_shape(info.width, info.height, name, UPLOAD_SHAPE)  # frames a detector can scale


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def sample_targets(duration_s: float, count: int) -> list[float]:
    """Centres of `count` equal slices of the duration (seconds), so both ends are covered alike."""
    if count < 1:
        raise ValueError(f"the number of frames to sample must be at least 1, got {count}")
    return [duration_s * (k + 0.5) / count for k in range(count)]


def sample_video(
    path: Path | str, count: int, progress: Callable[[int, int], None] | None = None
) -> tuple[VideoInfo, list[Frame]]:
    """Up to `count` RGB frames spread evenly in time over the video (fewer if it has fewer)."""
    path = Path(path)
    capture, info = open_video(path)
    try:
        if info.duration_s <= 0:
            info = _measure(capture, info, path)
            capture.release()
            capture, _ = open_video(path)
        frames = _pick(capture, info, count, path.name, progress)
    finally:
        capture.release()
    height, width = frames[0].image.shape[:2]  # as shown, after rotation
    return replace(info, width=width, height=height), frames


def _measure(capture: cv2.VideoCapture, info: VideoInfo, path: Path) -> VideoInfo:
    """Duration by reading timestamps, for containers that do not announce one (capped)."""
    frames, last = 0, 0.0
    cap_frames = int(MAX_VIDEO_SECONDS * 240)
    while capture.grab():
        frames += 1
        last = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if last > MAX_VIDEO_SECONDS or frames > cap_frames:
            raise MediaError(f"{path.name}: the video runs past the {_clock(MAX_VIDEO_SECONDS)} limit.")
    if frames == 0:
        raise MediaError(f"{path.name}: no frame of the video could be decoded (corrupt or truncated).")
    fps = info.fps or (frames / last if last > 0 else 1.0)
    duration = max(last + 1.0 / fps, 1.0 / fps)
    return VideoInfo(info.width, info.height, info.fps, frames, round(duration, 3), info.rotation)


def _pick(
    capture: cv2.VideoCapture,
    info: VideoInfo,
    count: int,
    name: str,
    progress: Callable[[int, int], None] | None,
) -> list[Frame]:
    targets = sample_targets(info.duration_s, count)
    half_frame = 0.5 / info.fps if info.fps > 0 else 0.0
    # Never read past the announced stream (plus slack), whatever the packets say.
    max_frames = int(info.frame_count * 1.5) + 30 if info.frame_count else int(MAX_VIDEO_SECONDS * 240)
    frames: list[Frame] = []
    next_target, index, last_time = 0, -1, 0.0
    while next_target < len(targets) and index + 1 < max_frames:
        if not capture.grab():
            break
        index += 1
        last_time = max(capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0, 0.0)
        if last_time + half_frame < targets[next_target]:
            continue
        ok, bgr = capture.retrieve()
        if not ok or bgr is None:
            raise MediaError(f"{name}: frame {index} could not be decoded (the video is corrupt).")
        frames.append(Frame(index, round(last_time, 3), np.ascontiguousarray(bgr[:, :, ::-1])))
        while next_target < len(targets) and targets[next_target] <= last_time + half_frame:
            next_target += 1
        if progress is not None:
            progress(next_target, len(targets))
    if not frames:
        raise MediaError(f"{name}: no frame of the video could be decoded (it is corrupt or truncated).")
    if next_target < len(targets) and last_time < TRUNCATION_TOLERANCE * info.duration_s - 1.0 / max(
        info.fps, 1
    ):
        raise MediaError(
            f"{name}: the video stops at {last_time:.1f} s of the {info.duration_s:.1f} s its header "
            "announces (the file is truncated or corrupt)."
        )
    return frames


def load_media(
    path: Path | str, count: int, progress: Callable[[int, int], None] | None = None
) -> tuple[str, VideoInfo, list[Frame]]:
    """('image' | 'video', info, frames): an image is one frame at time 0."""
    path = Path(path)
    kind = sniff(path)
    if kind == "image":
        try:
            image = read_image(path, shape=UPLOAD_SHAPE)
        except MediaError as exc:  # its messages name the full path; ours name the file
            raise MediaError(str(exc).replace(str(path), path.name)) from None
        height, width = image.shape[:2]
        info = VideoInfo(width, height, 0.0, 1, 0.0, 0)
        return kind, info, [Frame(0, 0.0, image)]
    info, frames = sample_video(path, count, progress)
    return kind, info, frames
