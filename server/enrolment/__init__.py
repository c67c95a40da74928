"""Enrolment of faces and course galleries.

An administrator or a course's instructor enrols students' faces: photos one by one (web page
`/students/<id>/photos`, `POST /api/v1/students/<id>/photos`) or in bulk (a students CSV plus a zip
of photos named by student number, `/courses/<id>/enrolment`, `POST /api/v1/courses/<id>/enrolment/
import`). Every course has a versioned gallery (`GET /api/v1/courses/<id>/gallery`, and
`build_gallery(session, course_id)` for other parts of the server) that classroom devices fetch.

Uploaded files, the photos zip and the per-route upload limits are `server.uploads`'s; the face
analyzer, face crops and embeddings' storage are `server.faces`'s; limits and options (ENROLMENT_*,
GALLERY_*) and the reasons for their defaults are server/settings/enrolment.py. One concern per module:

    verdict     the verdict on one photo (how faces are counted, the strict quality gate)
    photos      accept/refuse photos of a student, delete, keep the template current
    roster_csv  the students CSV (what is accepted, what refuses the whole file)
    importer    the bulk import and its per-row, per-file report
    gallery     canonical gallery content, its sha256 and versions
    hooks       galleries follow roster changes made by `server.school` (its signal)
    access      who may enrol whom (the school's visibility rules) and see which photos
    errors      what the services raise: the server's one ServiceError family (`server.errors`)
    service     the operations the API and the pages share;  api, views: the two front ends
    schemas     the API's JSON shapes (pydantic models)

Privacy decisions (faces are biometric data; store only what is needed):
* The uploaded photo is never stored, accepted or not; nor is any zip written to disk (zips are read
  in memory; Werkzeug may spool a large request body to a temporary file while parsing it).
* An accepted photo keeps its embedding (float32, `FaceTemplate` kind "photo", purpose
  "attendance-enrolment"), the quality figures, the file name, the photo's SHA-256 (to recognise the
  same file twice) and a small JPEG of the aligned face crop (112 px, a few kB). The crop is what lets
  an instructor see that the right face was enrolled under a name (a mislabelled file in a bulk zip
  looks exactly like a good photo otherwise); set ENROLMENT_THUMBNAILS=false to keep none.
* A refused photo keeps only its file name, SHA-256, reason and quality figures (the last 20 per
  student), so that the student's page can say why an upload did not count.
* Everything is tied to the student row and goes with it (ON DELETE CASCADE); galleries drop the
  student at their next version. Galleries carry student ids and numbers, no names, no images.
"""

from __future__ import annotations

from flask import Flask

from server.enrolment.gallery import build_gallery


def init_app(app: Flask) -> None:
    """Gallery hooks and the web pages (settings: server/settings/enrolment.py; the API module is
    listed in server.api.ENDPOINT_MODULES)."""
    from server.enrolment import hooks
    from server.enrolment.views import bp

    hooks.connect()
    app.register_blueprint(bp)


__all__ = ["build_gallery", "init_app"]
