"""Uploaded files, for every upload route of the server (enrolment photos and imports, album uploads and
key photos, deepfake checks, faces compare, the unknown-face search):

    files     reading a request's files (names without client paths, sizes past a cap, empty inputs)
    limits    per-route byte ceilings from the config, enforced before the body is read (413)
    archive   a zip of photos read safely in memory (traversal, symlinks, overlaps, bombs)
    policy    the shape a picture must have, and how sizes are written in refusals

Refusals are `server.errors` ServiceErrors (ArchiveError and MemberError are Invalid, a zip too large
once inflated is TooLarge), answered by the app's one error handler. Nothing here stores a file.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The upload-limit hook, once for the whole app (routes declare their ceilings with `limits.limit`)."""
    from server.uploads import limits

    limits.init_app(app)
