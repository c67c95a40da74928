"""The album's settings (`VISAGE_ALBUM_MAX_PHOTO_BYTES=...`, the VISAGE_CONFIG file, or
`create_app({...})`).

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
* hnswlib graph above the exact limit (server.album.ann.HnswParams): M=16 / 100 keep rebuilds cheap
  (1M faces: ~2.5 min); ef_search 512 gives recall@10 0.9935 at 1M face-like embeddings in 1.3 ms
  (bench/README.md).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from server.settings.base import AreaSettings, keyed

MiB = 1024 * 1024


class AlbumSettings(AreaSettings):
    AREA: ClassVar[str] = "album"
    model_config = keyed("ALBUM_")

    max_photo_bytes: int = Field(30 * MiB, ge=1, description="Largest album photo (the original is kept).")
    max_upload_bytes: int = Field(300 * MiB, ge=1, description="Largest request of photos (all its files).")
    max_files_per_upload: int = Field(50, ge=1, description="Files in one request.")
    max_zip_bytes: int = Field(1024 * MiB, ge=1, description="Largest zip upload.")
    zip_max_members: int = Field(5000, ge=1, description="Members of a zip.")
    zip_max_total_bytes: int = Field(4096 * MiB, ge=1, description="A zip's uncompressed size.")
    zip_max_ratio: float = Field(
        100, gt=0, description="No zip member may inflate more than this many times (past 1 MiB)."
    )
    max_side_px: int = Field(1600, ge=1, description="Photos are analysed at this longer side.")
    thumbnail_px: int = Field(320, ge=1, description="Side of a photo's thumbnail.")
    face_crop_px: int = Field(112, ge=1, description="Side of a face's stored crop.")
    blur_threshold: float = Field(
        60.0,
        ge=0,
        description="A photo whose sharpness (Laplacian variance at 1,024 px) is lower is blurred.",
    )
    search_threshold: float | None = Field(
        None, ge=-1, le=1, description="Similarity cut of searches; empty: the embedder's `album_threshold`."
    )
    searches_kept: int = Field(10, ge=1, description="Key-photo searches kept per user.")
    index_exact_limit: int = Field(
        20_000, ge=0, description="Faces up to which search is exact; above it an hnswlib graph."
    )
    hnsw_m: int = Field(16, ge=2, description="hnswlib graph degree (M).")
    hnsw_ef_construction: int = Field(100, ge=1, description="hnswlib ef at build time.")
    hnsw_ef_search: int = Field(512, ge=1, description="hnswlib ef at search time.")
