"""Per-route upload ceilings, enforced before anything reads the request body.

Flask's MAX_CONTENT_LENGTH is the whole server's ceiling (videos need a high one); each upload route
(enrolment photos and imports, album uploads and key photos, deepfake checks, faces compare, the
unknown-face search) declares its own lower ceiling with `limit(endpoint, setting key, what)`. The
hook runs as a URL value preprocessor, before the CSRF check (which parses forms): a request announcing
a larger body is refused at once with a 413 that names the limit; one that streams a larger body
without announcing it is cut off by Werkzeug at the same limit. The byte limits are settings
(server/settings/: typed, checked at start), so an operator changes them like any other setting.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, request
from flask_babel import gettext

from server.settings import current_settings, locate
from server.uploads.policy import over_limit

LIMITED_ENDPOINTS: dict[str, tuple[str, str]] = {}
"""endpoint -> (config key holding its byte limit, what the request carries, for the message)."""


def limit(endpoint: str, key: str, what: str) -> None:
    """Declare `endpoint`'s ceiling: the setting `key`, in bytes; `what` names the upload in the 413."""
    locate(key)  # a misspelt key fails when the module is imported, not at the first upload
    LIMITED_ENDPOINTS[endpoint] = (key, what)


def init_app(app: Flask) -> None:
    """Install the hook once for the whole app (every area's upload routes)."""
    app.url_value_preprocessor(enforce_upload_limit)


def enforce_upload_limit(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    if endpoint not in LIMITED_ENDPOINTS:
        return
    key, what = LIMITED_ENDPOINTS[endpoint]
    ceiling = int(current_settings().value(key))
    request.max_content_length = ceiling
    if request.content_length is not None and request.content_length > ceiling:
        abort(
            413,
            gettext(
                "The upload is %(limit)s for %(what)s: send fewer or smaller files.",
                limit=over_limit(request.content_length, ceiling),
                what=what,
            ),
        )
