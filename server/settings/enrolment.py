"""Enrolment's settings (`VISAGE_ENROLMENT_MAX_PHOTO_BYTES=...`, the VISAGE_CONFIG file, or
`create_app({...})`), and the gallery's: the embedder every stored face uses.

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

from typing import ClassVar

from pydantic import Field, field_validator

from server.settings.base import AreaSettings, keyed
from shared.embed import DEFAULT_EMBEDDER, EMBEDDERS, embedder_name

MiB = 1024 * 1024


class EnrolmentSettings(AreaSettings):
    AREA: ClassVar[str] = "enrolment"
    model_config = keyed("ENROLMENT_")

    max_photo_bytes: int = Field(15 * MiB, ge=1, description="Largest enrolment photo.")
    max_upload_bytes: int = Field(100 * MiB, ge=1, description="Largest request of photos (all its files).")
    max_files_per_upload: int = Field(20, ge=1, description="Photos in one request.")
    max_import_bytes: int = Field(256 * MiB, ge=1, description="Largest bulk import (a CSV and a zip).")
    max_photos_per_student: int = Field(10, ge=1, description="Photos kept per student.")
    max_csv_rows: int = Field(5000, ge=1, description="Rows of an import's students CSV.")
    zip_max_members: int = Field(2000, ge=1, description="Members of an import zip.")
    zip_max_total_bytes: int = Field(1024 * MiB, ge=1, description="An import zip's uncompressed size.")
    zip_max_ratio: float = Field(
        100, gt=0, description="No zip member may inflate more than this many times (past 1 MiB)."
    )
    max_side_px: int = Field(
        1600, ge=1, description="Photos are scaled to this longer side before detection."
    )
    thumbnails: bool = Field(True, description="Keep a small JPEG of each accepted face (the aligned crop).")
    thumbnail_px: int = Field(112, ge=1, description="Side of those face thumbnails.")
    rejections_kept: int = Field(
        20, ge=0, description="Refused uploads remembered per student (name and reason only)."
    )
    gallery_model: str = Field(
        DEFAULT_EMBEDDER,
        alias="GALLERY_MODEL",
        description=f"The embedder enrolment, galleries and the album use ({', '.join(EMBEDDERS)}). "
        "Changing it needs `visage server reembed` for stored faces.",
    )
    gallery_threshold: float | None = Field(
        None,
        alias="GALLERY_THRESHOLD",
        ge=-1,
        le=1,
        description="Similarity threshold devices apply; empty: the embedder's 1:N `strict_threshold`.",
    )

    @field_validator("gallery_model", mode="before")
    @classmethod
    def _known_embedder(cls, value: object) -> object:
        if value is None or value == "":
            return DEFAULT_EMBEDDER
        if isinstance(value, str) and embedder_name(value) not in EMBEDDERS:
            raise ValueError(f"must be one of {', '.join(repr(name) for name in EMBEDDERS)}")
        return value
