"""Upload limits and reading uploaded files.

Flask's MAX_CONTENT_LENGTH is the whole server's ceiling (videos need a high one); enrolment routes
get their own lower ceiling, set before anything reads the body (a URL value preprocessor runs before
the CSRF check, which parses forms). A request announcing a larger body is refused at once with a
413 that says the limit; one that streams a larger body without announcing it is cut off by
Werkzeug at the same limit.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO, Any

from flask import Flask, abort, current_app, request

from server.enrolment.settings import setting
from server.media_policy import over_limit

LIMITED_ENDPOINTS: dict[str, tuple[str, str]] = {}
"""endpoint -> (setting holding its byte limit, what the request carries, for the message)."""


def limit(endpoint: str, key: str, what: str) -> None:
    LIMITED_ENDPOINTS[endpoint] = (key, what)


def init_app(app: Flask) -> None:
    app.url_value_preprocessor(enforce_upload_limit)


def enforce_upload_limit(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    if endpoint not in LIMITED_ENDPOINTS:
        return
    key, what = LIMITED_ENDPOINTS[endpoint]
    # Any area's setting (enrolment's, the album's...), read from the app's config.
    ceiling = int(current_app.config[key]) if key in current_app.config else int(setting(key))
    request.max_content_length = ceiling
    if request.content_length is not None and request.content_length > ceiling:
        abort(
            413,
            f"The upload is {over_limit(request.content_length, ceiling)} for {what}: "
            "send fewer or smaller files.",
        )


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
