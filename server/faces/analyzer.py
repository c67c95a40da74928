"""The server's one `FaceAnalyzer` (detector + embedder of GALLERY_MODEL), shared by everything that
analyses faces: enrolment photos, album indexing and search, faces compare, the unknown-face search,
re-embedding.

It is built on first use (loading and sha256-checking the ONNX models takes a moment, and a server
that never analyses a face should not pay it), once per app and so once per server process
(`server.extensions.build_once`, behind a lock: requests that arrive together wait for one load), and
then shared by all requests and jobs: ONNX Runtime sessions are thread-safe, and the detector and
embedder keep no per-call state.
"""

from __future__ import annotations

from flask import Flask, current_app

from server.errors import Unavailable
from server.extensions import build_once
from server.faces.model import gallery_model
from shared.analysis import FaceAnalyzer
from shared.model_registry import ModelError, ModelRegistry

EXTENSION_KEY = "visage.face_analyzer"


class ModelsUnavailable(Unavailable):
    """The face models are not installed on this server (an operator's job, not the user's: 503)."""


def face_analyzer(app: Flask | None = None) -> FaceAnalyzer:
    """The app's analyzer (default: the current app's), created (models loaded and verified) on first use."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return build_once(app, EXTENSION_KEY, lambda: _load_analyzer(app))


def _load_analyzer(app: Flask) -> FaceAnalyzer:
    try:
        return FaceAnalyzer(ModelRegistry(), embedder=gallery_model(app)).prepare()
    except (ModelError, ValueError) as exc:
        app.logger.error("face models unavailable: %s", exc)
        raise ModelsUnavailable(
            "The face models are not installed on this server, so photos cannot be checked: "
            "ask the operator to run `visage models export`."
        ) from exc
