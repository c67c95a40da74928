"""Album: photos, faces, people, searches.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

Self-contained (no import of the application's types), like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = ("mysql", "mariadb")


def utc_datetime() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL)


def blob() -> sa.types.TypeEngine:
    return sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), *MYSQL)


def fk(table: str, column: str, target: str, ondelete: str, nullable: bool = False) -> sa.Column:
    return sa.Column(
        column,
        sa.Integer(),
        sa.ForeignKey(f"{target}.id", name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete),
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "album_albums",
        sa.Column("id", sa.Integer(), nullable=False),
        fk("album_albums", "owner_id", "users", "CASCADE"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_album_albums")),
        sa.UniqueConstraint("owner_id", "name", name=op.f("uq_album_albums_owner_id_name")),
    )
    op.create_index("ix_album_albums_owner_id", "album_albums", ["owner_id"])
    op.create_table(
        "album_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        fk("album_photos", "owner_id", "users", "CASCADE"),
        fk("album_photos", "album_id", "album_albums", "SET NULL", nullable=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(255), nullable=False),
        sa.Column("thumbnail_key", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sharpness", sa.Float(), nullable=True),
        sa.Column("blurred", sa.Boolean(), nullable=True),
        sa.Column("face_count", sa.Integer(), nullable=True),
        sa.Column("model", sa.String(32), nullable=True),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.Column("indexed_at", utc_datetime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_album_photos")),
        sa.UniqueConstraint("owner_id", "sha256", name=op.f("uq_album_photos_owner_id_sha256")),
    )
    op.create_index("ix_album_photos_album_id", "album_photos", ["album_id"])
    op.create_index("ix_album_photos_owner_id_created_at", "album_photos", ["owner_id", "created_at"])
    op.create_table(
        "album_people",
        sa.Column("id", sa.Integer(), nullable=False),
        fk("album_people", "owner_id", "users", "CASCADE"),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_album_people")),
    )
    op.create_index("ix_album_people_owner_id", "album_people", ["owner_id"])
    op.create_table(
        "album_faces",
        sa.Column("id", sa.Integer(), nullable=False),
        fk("album_faces", "photo_id", "album_photos", "CASCADE"),
        fk("album_faces", "owner_id", "users", "CASCADE"),
        fk("album_faces", "person_id", "album_people", "SET NULL", nullable=True),
        sa.Column("assigned_by", sa.String(8), nullable=True),
        sa.Column("box_x", sa.Float(), nullable=False),
        sa.Column("box_y", sa.Float(), nullable=False),
        sa.Column("box_w", sa.Float(), nullable=False),
        sa.Column("box_h", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("landmarks", sa.JSON(), nullable=True),
        sa.Column("quality", sa.JSON(), nullable=True),
        sa.Column("sharpness", sa.Float(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(32), nullable=False),
        sa.Column("crop_key", sa.String(255), nullable=True),
        sa.Column("grouped_at", utc_datetime(), nullable=True),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_album_faces")),
    )
    op.create_index("ix_album_faces_photo_id", "album_faces", ["photo_id"])
    op.create_index("ix_album_faces_person_id", "album_faces", ["person_id"])
    op.create_index("ix_album_faces_owner_id_model", "album_faces", ["owner_id", "model"])
    op.create_table(
        "album_face_rejections",
        fk("album_face_rejections", "face_id", "album_faces", "CASCADE"),
        fk("album_face_rejections", "person_id", "album_people", "CASCADE"),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("face_id", "person_id", name=op.f("pk_album_face_rejections")),
    )
    op.create_index("ix_album_face_rejections_person_id", "album_face_rejections", ["person_id"])
    op.create_table(
        "album_searches",
        sa.Column("id", sa.Integer(), nullable=False),
        fk("album_searches", "owner_id", "users", "CASCADE"),
        fk("album_searches", "photo_id", "album_photos", "CASCADE", nullable=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("image", blob(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(32), nullable=False),
        sa.Column("faces", sa.JSON(), nullable=False),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_album_searches")),
    )
    op.create_index("ix_album_searches_owner_id_created_at", "album_searches", ["owner_id", "created_at"])


def downgrade() -> None:
    op.drop_table("album_searches")
    op.drop_table("album_face_rejections")
    op.drop_table("album_faces")
    op.drop_table("album_people")
    op.drop_table("album_photos")
    op.drop_table("album_albums")
