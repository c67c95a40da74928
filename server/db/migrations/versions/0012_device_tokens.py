"""Device tokens and model bundle announcements.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

Devices fetch their model bundle over HTTP with a credential of their own (their MQTT account lives in
the broker's password file): `devices.token_sha256` keeps only the SHA-256 of a `vsd_` token, unique so a
token names one device. `device_health.published_models_*` records the bundle announcement last
published to each device, so unchanged bundles are not announced again. Self-contained, like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def utc_datetime() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("token_sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("token_prefix", sa.String(16), nullable=True))
        batch.add_column(sa.Column("token_issued_at", utc_datetime(), nullable=True))
        batch.create_unique_constraint(op.f("uq_devices_token_sha256"), ["token_sha256"])
    with op.batch_alter_table("device_health") as batch:
        batch.add_column(sa.Column("published_models_sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("published_models_at", utc_datetime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("device_health") as batch:
        batch.drop_column("published_models_at")
        batch.drop_column("published_models_sha256")
    with op.batch_alter_table("devices") as batch:
        batch.drop_constraint(op.f("uq_devices_token_sha256"), type_="unique")
        batch.drop_column("token_issued_at")
        batch.drop_column("token_prefix")
        batch.drop_column("token_sha256")
