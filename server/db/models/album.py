"""The memory album: albums, photos, the faces found in them, people, "not this person" and searches.

Every row has an owner (`owner_id`, ON DELETE CASCADE from `users`): deleting an album user deletes
their photos' rows, faces, embeddings and people at once (their stored files are deleted by
`server.album.service.delete_owner_files` before the user row goes). Faces carry `owner_id` too, so
that a search reads one user's embeddings without a join, and can never see another user's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.base import AUTOINCREMENT, Base
from server.db.types import Blob, utcnow


class Album(Base):
    """A named collection of one user's photos. Deleting it keeps the photos (they leave the album)."""

    __tablename__ = "album_albums"
    __table_args__ = (UniqueConstraint("owner_id", "name"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlbumPhoto(Base):
    """One uploaded photo: the original bytes and a thumbnail live in storage under `storage_key` and
    `thumbnail_key`; `width`/`height` are the display size (EXIF orientation applied), which face boxes
    refer to. `status`: pending (waiting for the index job), indexing (taken by a job), indexed, failed (with
    `error`)."""

    __tablename__ = "album_photos"
    __table_args__ = (
        UniqueConstraint("owner_id", "sha256"),
        Index("ix_album_photos_owner_id_created_at", "owner_id", "created_at"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    album_id: Mapped[int | None] = mapped_column(
        ForeignKey("album_albums.id", ondelete="SET NULL"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int]
    width: Mapped[int]
    height: Mapped[int]
    storage_key: Mapped[str] = mapped_column(String(255))
    thumbnail_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    sharpness: Mapped[float | None] = mapped_column(Float)
    blurred: Mapped[bool | None]
    face_count: Mapped[int | None]
    model: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    indexed_at: Mapped[datetime | None]

    album: Mapped[Album | None] = relationship()
    faces: Mapped[list[AlbumFace]] = relationship(
        back_populates="photo", cascade="all, delete-orphan", passive_deletes=True, order_by="AlbumFace.id"
    )


class AlbumPerson(Base):
    """A person the grouping found (or a user split off) among one user's faces."""

    __tablename__ = "album_people"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    hidden: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlbumFace(Base):
    """A face found in a photo: its box in display pixels, detector score, five landmarks, quality
    figures, and its embedding (little-endian float32, `dim` values, from `model`).

    `person_id` is set by the grouping (`assigned_by` "auto") or by the user ("user": a split or a
    merge), and is cleared by "not this person" (which also records a `AlbumFaceRejection`)."""

    __tablename__ = "album_faces"
    __table_args__ = (Index("ix_album_faces_owner_id_model", "owner_id", "model"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("album_photos.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("album_people.id", ondelete="SET NULL"), index=True
    )
    assigned_by: Mapped[str | None] = mapped_column(String(8))
    box_x: Mapped[float] = mapped_column(Float)
    box_y: Mapped[float] = mapped_column(Float)
    box_w: Mapped[float] = mapped_column(Float)
    box_h: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    landmarks: Mapped[list[Any] | None] = mapped_column(JSON)
    quality: Mapped[dict[str, Any] | None]
    sharpness: Mapped[float] = mapped_column(Float)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    dim: Mapped[int]
    model: Mapped[str] = mapped_column(String(32))
    crop_key: Mapped[str | None] = mapped_column(String(255))
    grouped_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    photo: Mapped[AlbumPhoto] = relationship(back_populates="faces")
    person: Mapped[AlbumPerson | None] = relationship()


class AlbumFaceRejection(Base):
    """ "Not this person": the user said face `face_id` is not person `person_id`; grouping never puts
    it back there and searches for that person leave it out."""

    __tablename__ = "album_face_rejections"

    face_id: Mapped[int] = mapped_column(ForeignKey("album_faces.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("album_people.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlbumFeatureFace(Base):
    """The face a user chose to show a person by (their "feature photo"); without a row the person is
    shown by their sharpest face. The face must be the person's own: moving it out of the person or
    deleting it removes the choice (`server.album.people`; the database cascades a deleted face)."""

    __tablename__ = "album_feature_faces"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("album_people.id", ondelete="CASCADE"), primary_key=True
    )
    face_id: Mapped[int] = mapped_column(ForeignKey("album_faces.id", ondelete="CASCADE"), unique=True)
    chosen_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlbumSearch(Base):
    """A key-photo search: the key's faces (boxes and embeddings, in `faces`), so that the user can
    pick one of several without sending the photo again. An uploaded key keeps only a small JPEG
    (`image`, for drawing the boxes); a key picked among the user's photos points at it. Only the
    latest few per user are kept (`server.album.search`)."""

    __tablename__ = "album_searches"
    __table_args__ = (Index("ix_album_searches_owner_id_created_at", "owner_id", "created_at"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("album_photos.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    image: Mapped[bytes | None] = mapped_column(Blob)
    width: Mapped[int]
    height: Mapped[int]
    model: Mapped[str] = mapped_column(String(32))
    faces: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
