"""Stored embeddings name their embedder *and its version*: 'dlib_resnet' becomes 'dlib_resnet@1'.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

Every table that keeps embeddings (or says which embedder made a photo's faces) has a `model` column.
From now on it holds the embedder id `name@version` (shared.embed.embedder_id), so vectors of another
embedder, or of another version of the same one, are never compared with each other: a gallery, an
album index or a search only ever reads rows of the configured id, and the re-embedding job converts
the rest. Rows written before this revision were all made by version 1 of their embedder.
Self-contained (no import of the application's code), like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("face_templates", "album_faces", "album_photos", "album_searches")
# The versions the embedders had when rows carried bare names (shared.embed.EMBEDDERS at 0010).
LEGACY = {"dlib_resnet": "dlib_resnet@1", "facenet_vggface2": "facenet_vggface2@operator"}


def _rename(mapping: dict[str, str]) -> None:
    for table in TABLES:
        model = sa.table(table, sa.column("model", sa.String))
        for old, new in mapping.items():
            op.execute(model.update().where(model.c.model == old).values(model=new))


def upgrade() -> None:
    _rename(LEGACY)


def downgrade() -> None:
    _rename({new: old for old, new in LEGACY.items()})
