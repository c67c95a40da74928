"""Deepfake check: users upload videos or photos and learn how likely each is to be a deepfake.

Web pages `/deepfake` (upload with per-file progress, history) and `/deepfake/checks/<id>` (result);
JSON API `/api/v1/deepfake/checks` (server.deepfake.api). Each file becomes a `DeepfakeCheck` row and a
`deepfake.score` job (server.jobs) that runs shared.deepfake.pipeline on it.

Limits and options (DEEPFAKE_*) and the reasons for their defaults: server/settings/deepfake.py.
One concern per module:

    engine    the app's shared DeepfakePipeline (ONNX sessions loaded once)
    service   accept uploads as checks, a user's own checks, cancel, delete
    schemas   the API's JSON shapes (pydantic models), also what the pages render
    jobs      the job handler: score, store the result and the top face crops, delete the upload
    charts    the per-frame timeline as inline SVG
    texts     the pipeline's fixed English sentences in the reader's language
    api, views  the two front ends

Privacy: the uploaded file is kept only until its job has run. A check keeps the result figures
and up to four small JPEG face crops (the faces that drove the score), owned by the uploader, shown
to nobody else (other users' ids are 404, administrators included), deleted with the check or the
account.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The web pages (settings: server/settings/deepfake.py; the API module is in
    server.api.ENDPOINT_MODULES, the job handler in server.jobs.JOB_MODULES)."""
    from server.deepfake.views import bp

    app.register_blueprint(bp)
