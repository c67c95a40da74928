"""Which embedder the server embeds with: GALLERY_MODEL, one for enrolment, galleries, the album,
review and the device model bundle, so that stored faces of one deployment are always comparable.

A face stores the embedder id (`name@version`) it was made with; after a switch `visage server reembed`
(or the faces.reembed job) converts stored faces to the new one.
"""

from __future__ import annotations

from flask import Flask, current_app, has_app_context

from server.settings import settings_of
from shared.embed import DEFAULT_EMBEDDER, embedder_id

DEFAULT_MODEL = embedder_id(DEFAULT_EMBEDDER)


def gallery_model(app: Flask | None = None) -> str:
    """The embedder id of `app` (default: the current app; DEFAULT_MODEL outside an app context).
    GALLERY_MODEL names a known embedder: server/settings/enrolment.py checks it at start."""
    if app is None:
        if not has_app_context():
            return DEFAULT_MODEL
        app = current_app._get_current_object()  # type: ignore[attr-defined]
    return embedder_id(settings_of(app).enrolment.gallery_model)
