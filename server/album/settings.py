"""The album's settings, with defaults an operator can override like any other server setting
(`VISAGE_ALBUM_MAX_PHOTO_BYTES=...`, the VISAGE_CONFIG file, or `create_app({...})`).

Why these numbers:
* A phone photo is 2 to 8 MB, a camera JPEG up to ~25 MB: 30 MB per photo. The original is kept, so
  this is also what one photo may cost in storage.
* One request carries at most 50 files and 300 MB; a zip at most 1 GiB and 5,000 members. Uploads are
  cheap (decode check + thumbnail, ~50 ms); face analysis runs later in a background job.
* Photos are analysed at 1,600 px on the longer side: faces of ~20 px there are still found (MTCNN's
  minimum), and detection time grows with the pixel count.
* Blurred: variance of the Laplacian of the whole photo at 1,024 px below 60 (`shared.quality.image_blur`;
  the classic cut-off is 100 on full-size images; sharp real photos here measure 150 to 2,000).
* Search cut: None means the embedder's `album_threshold` (shared/embed.py), a fixed value measured on
  albums of tens of people drawn from LFW (bench/measure_album.py, docs/album.md "Search cut"):
  0.43 for SFace, the default (precision 0.988-1.000, recall 0.984-0.985 in every album size), 0.93 for
  dlib ResNet (0.93-1.00 / 0.90-0.91). Not calibrated per user: that needs ~30,000 impostor pairs
  of confirmed faces to show its false-accept rate of 1e-4 (docs/album.md).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

MiB = 1024 * 1024

DEFAULTS: dict[str, Any] = {
    "ALBUM_MAX_PHOTO_BYTES": 30 * MiB,
    "ALBUM_MAX_UPLOAD_BYTES": 300 * MiB,
    "ALBUM_MAX_FILES_PER_UPLOAD": 50,
    "ALBUM_MAX_ZIP_BYTES": 1024 * MiB,
    "ALBUM_ZIP_MAX_MEMBERS": 5000,
    "ALBUM_ZIP_MAX_TOTAL_BYTES": 4096 * MiB,
    "ALBUM_ZIP_MAX_RATIO": 100,
    "ALBUM_MAX_SIDE_PX": 1600,
    "ALBUM_THUMBNAIL_PX": 320,
    "ALBUM_FACE_CROP_PX": 112,
    "ALBUM_BLUR_THRESHOLD": 60.0,
    "ALBUM_SEARCH_THRESHOLD": None,
    "ALBUM_SEARCHES_KEPT": 10,
    "ALBUM_INDEX_EXACT_LIMIT": 20_000,
    # hnswlib graph above the exact limit (server.album.ann.HnswParams): M=16 / 100 keep rebuilds
    # cheap (1M faces: ~2.5 min); ef_search 512 gives recall@10 0.9935 at 1M face-like embeddings
    # in 1.3 ms (bench/README.md).
    "ALBUM_HNSW_M": 16,
    "ALBUM_HNSW_EF_CONSTRUCTION": 100,
    "ALBUM_HNSW_EF_SEARCH": 512,
}


def init_app(app: Flask) -> None:
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)


def setting(key: str) -> Any:
    """The current app's value of an album setting (its default when the app never set it)."""
    return current_app.config.get(key, DEFAULTS[key])
