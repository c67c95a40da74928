"""Unknown faces the instructor can see and decide once (issue 15): best crop and embedding per unknown track, clusters, learned faces.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

Placeholder created so that parallel work chains linearly; filled in by the change it names.
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


def downgrade() -> None:
    with op.batch_alter_table("sightings") as batch:
        batch.drop_column("embedding_model")
        batch.drop_column("embedding")
