"""Memory album: photos, faces, search by a key photo, and people.

A user with the album_user role (or an administrator, for their own album) uploads photos (one, many
with a progress bar per file, or a zip; `POST /api/v1/album/photos` for scripts); a background job
finds, assesses and embeds every face and flags blurred photos; faces are grouped into people; a key
photo finds every photo of a person. Pages under /album, API under /api/v1/album.

Limits and options (ALBUM_*) and the reasons for their defaults: server/settings/album.py.
One concern per module:

    access      ownership: every row is its owner's alone (others' ids answer 404)
    photos      taking files in: decode check, original kept unchanged, thumbnail, duplicates by SHA-256
    indexing    the "album.index" job: faces, quality, embeddings, blur flag, then grouping
    faceindex   the per-user nearest-neighbour index (ann.py, by album-index) fed from the database
    grouping    faces into people (pure function, by album-index);  people: storing it, user edits
    search      key photo -> faces -> the user's photos of that person
    service     uploads and deletions as the API and the pages share them
    library     one page of a user's photo library (the API and the library page alike)
    errors      what the services raise: the server's one ServiceError family (`server.errors`)
    api, views  the two front ends;  schemas: the API's JSON shapes (pydantic models)

Privacy: photos, faces, embeddings, crops and people belong to one user; deleting a photo deletes its
files, faces, embeddings and crops; deleting the whole album (`DELETE /api/v1/album/library`) or the
user deletes everything, files included (after the database commit). Storage: `server.storage`.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The web pages (settings: server/settings/album.py; the API module is in
    server.api.ENDPOINT_MODULES, the job module in server.jobs.JOB_MODULES)."""
    from server.album import service  # noqa: F401  (registers the delete hooks)
    from server.album.views import bp

    app.register_blueprint(bp)
