"""Reading uploaded files from the request: every upload route (enrolment, album, deepfake, faces
compare, unknown-face search) reads its files here, so a file's name, its size past a cap and an
empty browser file input are handled one way.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO

from flask import request


@dataclass(frozen=True)
class Upload:
    """One uploaded file. `data` may stop one byte past a cap (see `files_in_request`); `size` is
    then the file's whole size, so that a refusal names the real figure."""

    filename: str
    data: bytes
    size: int | None = None

    @property
    def full_size(self) -> int:
        return len(self.data) if self.size is None else self.size


def display_name(filename: str | None, fallback: str) -> str:
    """The file's own name without any client path (C:\\Users\\..., /home/...), at most 255 characters."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable())
    return (name or fallback)[-255:]


def files_in_request(fields: tuple[str, ...] | None = None, cap: int | None = None) -> list[Upload]:
    """The uploaded files of the named fields (all fields when None); empty file inputs are skipped.

    Each file is read up to `cap` + 1 bytes: enough to tell that it is over the cap."""
    names = fields if fields is not None else tuple(request.files.keys())
    uploads = []
    for field in names:
        for index, storage in enumerate(request.files.getlist(field), start=1):
            data = storage.stream.read() if cap is None else storage.stream.read(cap + 1)
            if not storage.filename and not data:
                continue  # a file input left empty in a browser form
            size = stream_size(storage.stream, len(data)) if cap is not None and len(data) > cap else None
            uploads.append(Upload(display_name(storage.filename, f"{field}-{index}"), data, size))
    return uploads


def stream_size(stream: IO[bytes], read: int) -> int:
    """The whole size of an uploaded file's stream (Werkzeug spools it to memory or a temporary
    file, both seekable) without reading it; `read` when the stream cannot tell."""
    try:
        return max(read, stream.seek(0, io.SEEK_END))
    except (AttributeError, OSError, ValueError):
        return read
