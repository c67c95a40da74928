"""The request-size ceiling of the deepfake upload routes, set before anything reads the body.

Same approach as server.enrolment.uploads (a URL value preprocessor runs before the CSRF check,
which parses forms): a request announcing more than DEEPFAKE_MAX_UPLOAD_BYTES is refused at once
with a 413 saying the limit; one streaming more without announcing it is cut off by Werkzeug.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, request

from server.deepfake.settings import setting
from server.media_policy import over_limit

LIMITED: set[str] = set()


def limit_upload(endpoint: str) -> None:
    LIMITED.add(endpoint)


def init_app(app: Flask) -> None:
    app.url_value_preprocessor(enforce)


def enforce(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    if endpoint not in LIMITED:
        return
    ceiling = int(setting("DEEPFAKE_MAX_UPLOAD_BYTES"))
    request.max_content_length = ceiling
    if request.content_length is not None and request.content_length > ceiling:
        abort(
            413,
            f"The upload is {over_limit(request.content_length, ceiling)} for one request: "
            "send fewer or smaller files.",
        )
