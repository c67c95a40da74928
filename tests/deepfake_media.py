"""Media files the deepfake tests need and the team data lacks, built from real encoders or real files.

* `counter_video`: an MP4 (OpenCV's FFmpeg writer) whose frame k is painted with grey level 5k, so a
  test can tell from the pixels which frame the sampler picked.
* `faststart`: the same MP4 with its `moov` box moved before `mdat` (chunk offsets fixed), as phones
  and web encoders write them; truncating such a file leaves a header that promises more than is there.
* `rotated`: the MP4 with a track matrix of 90 degrees, as a phone held upright records.
* `variable_rate`: the MP4 with uneven frame durations, as variable-frame-rate phone videos have.
* `wav`: audio only.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import cv2
import numpy as np


def counter_video(path: Path, frames: int, fps: float, size: tuple[int, int] = (64, 48)) -> Path:
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write MP4 here"
    for k in range(frames):
        image = np.full((height, width, 3), min(5 * k, 255), dtype=np.uint8)
        image[: height // 4, : width // 4] = (0, 0, 255)  # a red top-left corner shows orientation
        writer.write(image)
    writer.release()
    return path


def _boxes(data: bytes, start: int = 0, end: int | None = None):
    end = len(data) if end is None else end
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
            header = 16
        elif size == 0:
            size = end - offset
        yield kind, offset, size, header
        offset += size


CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"udta"}


def _walk(data: bytes, start: int, end: int):
    for kind, offset, size, header in _boxes(data, start, end):
        yield kind, offset, size, header
        if kind in CONTAINERS:
            yield from _walk(data, offset + header, offset + size)


def faststart(source: Path, target: Path) -> Path:
    """Move `moov` in front of `mdat` and shift every chunk offset (stco) by its size."""
    data = source.read_bytes()
    top = {kind: (offset, size) for kind, offset, size, _ in _boxes(data)}
    moov_at, moov_size = top[b"moov"]
    moov = bytearray(data[moov_at : moov_at + moov_size])
    for kind, offset, _size, header in _walk(bytes(moov), 0, len(moov)):
        if kind == b"stco":
            count = struct.unpack(">I", moov[offset + header + 4 : offset + header + 8])[0]
            for i in range(count):
                at = offset + header + 8 + 4 * i
                value = struct.unpack(">I", moov[at : at + 4])[0]
                moov[at : at + 4] = struct.pack(">I", value + moov_size)
        assert kind != b"co64", "64-bit chunk offsets are not handled here"
    mdat_at = top[b"mdat"][0]
    rest = data[:moov_at] + data[moov_at + moov_size :]
    target.write_bytes(rest[:mdat_at] + bytes(moov) + rest[mdat_at:])
    return target


def rotated(source: Path, target: Path) -> Path:
    """Set the video track's matrix to a 90 degree rotation (as the `rotate=90` display matrix)."""
    data = bytearray(source.read_bytes())
    for kind, offset, _size, header in _walk(bytes(data), 0, len(data)):
        if kind == b"tkhd":
            version = data[offset + header]
            matrix_at = offset + header + (52 if version == 1 else 40)
            one, zero, minus_one, w = 0x00010000, 0, 0xFFFF0000, 0x40000000
            values = (zero, one, zero, minus_one, zero, zero, zero, zero, w)
            data[matrix_at : matrix_at + 36] = struct.pack(">9I", *values)
    target.write_bytes(bytes(data))
    return target


def wav(path: Path, seconds: float = 1.0, rate: int = 8000) -> Path:
    samples = (np.sin(np.linspace(0, 440 * 2 * np.pi * seconds, int(rate * seconds))) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())
    return path


def variable_rate(source: Path, target: Path, runs: list[tuple[int, float]]) -> Path:
    """Rewrite the frame durations (the `stts` table) of a one-track MP4 written by `counter_video`:
    `runs` = [(frames, seconds each), ...], as a variable-frame-rate phone video stores them. The
    movie, track, media and edit durations are set to the new total; `moov` must follow `mdat`
    (OpenCV writes it so), so no chunk offset moves."""
    data = bytearray(source.read_bytes())
    boxes = list(_walk(bytes(data), 0, len(data)))
    found = {kind: (offset, size, header) for kind, offset, size, header in boxes}
    assert found[b"moov"][0] > found[b"mdat"][0], "moov must follow mdat (chunk offsets stay put)"
    mdhd_at, _, mdhd_header = found[b"mdhd"]
    assert data[mdhd_at + mdhd_header] == 0, "version 0 mdhd expected"
    timescale = struct.unpack(">I", data[mdhd_at + mdhd_header + 12 : mdhd_at + mdhd_header + 16])[0]
    entries = [(count, round(seconds * timescale)) for count, seconds in runs]
    media_duration = sum(count * delta for count, delta in entries)
    stts_at, stts_size, stts_header = found[b"stts"]
    table = struct.pack(">II", 0, len(entries)) + b"".join(struct.pack(">II", c, d) for c, d in entries)
    new_stts = struct.pack(">I4s", stts_header + len(table), b"stts") + table
    growth = len(new_stts) - stts_size
    for kind, offset, size, _header in boxes:  # every container around stts grows with it
        if kind in CONTAINERS and offset < stts_at < offset + size:
            struct.pack_into(">I", data, offset, size + growth)
    struct.pack_into(">I", data, mdhd_at + mdhd_header + 16, media_duration)
    mvhd_at, _, mvhd_header = found[b"mvhd"]
    movie_scale = struct.unpack(">I", data[mvhd_at + mvhd_header + 12 : mvhd_at + mvhd_header + 16])[0]
    movie_duration = round(media_duration / timescale * movie_scale)
    struct.pack_into(">I", data, mvhd_at + mvhd_header + 16, movie_duration)
    tkhd_at, _, tkhd_header = found[b"tkhd"]
    struct.pack_into(">I", data, tkhd_at + tkhd_header + 20, movie_duration)
    if b"elst" in found:
        elst_at, _, elst_header = found[b"elst"]
        struct.pack_into(">I", data, elst_at + elst_header + 8, movie_duration)
    data[stts_at : stts_at + stts_size] = new_stts
    target.write_bytes(bytes(data))
    return target
