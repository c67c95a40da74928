"""Enrolment's settings, with defaults an operator can override like any other server setting
(`VISAGE_ENROLMENT_MAX_PHOTO_BYTES=...`, the VISAGE_CONFIG file, or `create_app({...})`).

Why these numbers:
* A phone photo is 2 to 8 MB; 15 MB per photo leaves room and keeps decoding cheap.
* One request of photos (the web form or the API) carries at most 20 files and 100 MB; a bulk import
  (a CSV and a zip) at most 256 MB. Each photo costs ~0.2 to 1 s of face analysis on a CPU, so the
  photo counts bound a request's time more than its bytes do.
* Zip members: at most 2,000, 1 GiB uncompressed in all, and no member that inflates more than
  100 times past 1 MiB (JPEG and PNG hardly compress; a zip bomb inflates thousands of times).
* Ten photos per student are plenty: a few frontal photos under different light beat many similar ones.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

MiB = 1024 * 1024

DEFAULTS: dict[str, Any] = {
    "ENROLMENT_MAX_PHOTO_BYTES": 15 * MiB,
    "ENROLMENT_MAX_UPLOAD_BYTES": 100 * MiB,
    "ENROLMENT_MAX_FILES_PER_UPLOAD": 20,
    "ENROLMENT_MAX_IMPORT_BYTES": 256 * MiB,
    "ENROLMENT_MAX_PHOTOS_PER_STUDENT": 10,
    "ENROLMENT_MAX_CSV_ROWS": 5000,
    "ENROLMENT_ZIP_MAX_MEMBERS": 2000,
    "ENROLMENT_ZIP_MAX_TOTAL_BYTES": 1024 * MiB,
    "ENROLMENT_ZIP_MAX_RATIO": 100,
    # Photos are scaled down to this longer side before detection (enrolment faces are large).
    "ENROLMENT_MAX_SIDE_PX": 1600,
    # Keep a small JPEG of each accepted face (the aligned crop, not the photo) for the instructor.
    "ENROLMENT_THUMBNAILS": True,
    "ENROLMENT_THUMBNAIL_PX": 112,
    # Refused uploads remembered per student (name and reason only), newest first.
    "ENROLMENT_REJECTIONS_KEPT": 20,
    # The embedder (shared.embed: sface, dlib_resnet, fused) enrolment, galleries and the album use,
    # and the similarity threshold devices apply (None: the embedder's 1:N `strict_threshold`).
    # Changing it needs `visage server reembed` (or the faces.reembed job) for stored faces.
    "GALLERY_MODEL": "sface",
    "GALLERY_THRESHOLD": None,
}


def init_app(app: Flask) -> None:
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)


def setting(key: str) -> Any:
    """The current app's value of an enrolment setting (its default when the app never set it)."""
    return current_app.config.get(key, DEFAULTS[key])
