"""Unknown faces the instructor can see (issue 15): the best view's embedding per unknown track.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

The device-to-database half: an unknown track's sightings carry the embedding of its best view and
the embedder id that made it (the crop already has `sightings.thumbnail`), and a device reports the
crop mode it runs with in its telemetry (`device_telemetry.crops`) for the devices page.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


BLOB = sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table("sightings") as batch:
        batch.add_column(sa.Column("embedding", BLOB, nullable=True))
        batch.add_column(sa.Column("embedding_model", sa.String(64), nullable=True))
    with op.batch_alter_table("device_telemetry") as batch:
        batch.add_column(sa.Column("crops", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("device_telemetry") as batch:
        batch.drop_column("crops")
    with op.batch_alter_table("sightings") as batch:
        batch.drop_column("embedding_model")
        batch.drop_column("embedding")
