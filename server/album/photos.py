"""Taking photos into the album: check each file, keep the original unchanged, make a thumbnail.

A file becomes a photo only when it decodes completely as an image (`shared.media.decode_image`:
not an image, truncated, decompression bomb, empty or oversized files, and pictures too small or too
elongated to analyse (`server.uploads.policy`) are refused with the reason).
The original bytes are stored as they came (EXIF and all: it is the user's photo); the thumbnail and
every face box use the EXIF-oriented picture, which is what people see. A file whose SHA-256 the
user already has is recognised as a duplicate and points at the existing photo.

Storage first, then rows: if anything fails before the caller commits, `Written.discard()` removes
the stored files, so a refused request leaves neither rows nor files behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Album, AlbumPhoto, User
from server.i18n import N_
from server.storage import Storage, StorageError
from server.uploads.archive import MemberError, PhotoArchive
from server.uploads.files import Upload, display_name
from server.uploads.policy import over_limit_english
from shared.media import MediaError, ShapeLimits, decode_image

FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "MPO": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
    "BMP": ("bmp", "image/bmp"),
    "TIFF": ("tif", "image/tiff"),
    "GIF": ("gif", "image/gif"),
}


@dataclass
class Outcome:
    """What happened to one file: stored (a new photo), duplicate (of `photo`), rejected or ignored."""

    filename: str
    status: str
    reason: str | None = None
    photo: AlbumPhoto | None = None


@dataclass
class Written:
    """Keys stored during one request, removed again if the request does not commit."""

    store: Storage
    keys: list[str] = field(default_factory=list)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.store.put(key, data, content_type)
        self.keys.append(key)

    def discard(self) -> None:
        for key in self.keys:
            with contextlib.suppress(StorageError):
                self.store.delete(key)
        self.keys.clear()


def photo_key(owner_id: int, sha256: str, extension: str) -> str:
    return f"album/{owner_id}/photos/{sha256}.{extension}"


def thumbnail_key(owner_id: int, sha256: str) -> str:
    return f"album/{owner_id}/thumbnails/{sha256}.jpg"


def face_crop_key(owner_id: int, face_id: int) -> str:
    return f"album/{owner_id}/faces/{face_id}.jpg"


def owner_prefix(owner_id: int) -> str:
    return f"album/{owner_id}/"


def thumbnail(image: np.ndarray, size: int) -> bytes:
    picture = Image.fromarray(image)
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def image_format(data: bytes) -> tuple[str, str]:
    """(extension, content type) of bytes that already decoded."""
    with Image.open(io.BytesIO(data)) as image:
        return FORMATS.get(str(image.format), ("bin", "application/octet-stream"))


def add_photos(
    session: Session,
    written: Written,
    owner: User,
    uploads: Iterable[Upload],
    *,
    album: Album | None,
    max_bytes: int,
    thumbnail_px: int,
    shape: ShapeLimits | None = None,
) -> list[Outcome]:
    """Store each acceptable upload as a new photo of `owner` (in `album`, if given)."""
    uploads = list(uploads)
    digests = [hashlib.sha256(upload.data).hexdigest() for upload in uploads]
    known = {
        photo.sha256: photo
        for photo in session.scalars(
            select(AlbumPhoto).where(AlbumPhoto.owner_id == owner.id, AlbumPhoto.sha256.in_(set(digests)))
        )
    }
    outcomes = []
    for upload, digest in zip(uploads, digests, strict=True):
        outcome = add_photo(
            session, written, owner, upload, digest, known, album, max_bytes, thumbnail_px, shape
        )
        if outcome.status == "stored" and outcome.photo is not None:
            known[digest] = outcome.photo
        outcomes.append(outcome)
    session.flush()
    return outcomes


def add_photo(
    session: Session,
    written: Written,
    owner: User,
    upload: Upload,
    digest: str,
    known: dict[str, AlbumPhoto],
    album: Album | None,
    max_bytes: int,
    thumbnail_px: int,
    shape: ShapeLimits | None = None,
) -> Outcome:
    name = upload.filename
    if not upload.data:
        return Outcome(name, "rejected", "the file is empty (0 bytes)")
    if upload.full_size > max_bytes:
        return Outcome(
            name, "rejected", f"the file is {over_limit_english(upload.full_size, max_bytes)} for a photo"
        )
    if digest in known:
        return Outcome(name, "duplicate", N_("you already have this photo"), known[digest])
    try:
        image = decode_image(upload.data, name=name, shape=shape)
    except MediaError as exc:
        return Outcome(name, "rejected", str(exc).removeprefix(f"{name}: ").rstrip("."))
    extension, content_type = image_format(upload.data)
    height, width = image.shape[:2]
    photo = AlbumPhoto(
        owner_id=owner.id,
        album_id=album.id if album is not None else None,
        filename=name,
        sha256=digest,
        content_type=content_type,
        size_bytes=len(upload.data),
        width=int(width),
        height=int(height),
        storage_key=photo_key(owner.id, digest, extension),
        thumbnail_key=thumbnail_key(owner.id, digest),
        status="pending",
    )
    written.put(photo.storage_key, upload.data, content_type)
    written.put(photo.thumbnail_key, thumbnail(image, thumbnail_px), "image/jpeg")
    session.add(photo)
    return Outcome(name, "stored", photo=photo)


def archive_uploads(archive: PhotoArchive) -> tuple[list[Upload], list[Outcome]]:
    """The photos of a checked zip as uploads, and the members skipped or unreadable, with reasons."""
    uploads: list[Upload] = []
    skipped: list[Outcome] = []
    for entry in archive.entries:
        name = display_name(entry.name, "photo")
        if entry.ignored is not None:
            skipped.append(Outcome(entry.name, "ignored", entry.ignored))
        elif entry.error is not None:
            skipped.append(Outcome(entry.name, "rejected", entry.error))
        else:
            try:
                uploads.append(Upload(name, archive.read(entry)))
            except MemberError as exc:  # this member only (corrupt, over the size limit)
                skipped.append(Outcome(entry.name, "rejected", exc.message))
    return uploads, skipped
