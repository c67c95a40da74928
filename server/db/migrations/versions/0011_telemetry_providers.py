"""Telemetry keeps what each model runs on, the model versions and bundle, and the device's problems.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

A Jetson that silently fell back to its CPU (a CPU-only onnxruntime wheel, a provider name typed
wrong) looks healthy but runs at a tenth of its speed: the devices page shows what each model runs
on, so an operator sees it. Likewise a model update that failed verification or a camera that
never opens: the device keeps running on what it has and says why in its telemetry. Self-contained,
like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("device_telemetry") as batch:
        batch.add_column(sa.Column("providers", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("models", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("models_bundle", sa.String(64), nullable=True))
        batch.add_column(sa.Column("models_error", sa.String(255), nullable=True))
        batch.add_column(sa.Column("capture_error", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("device_telemetry") as batch:
        batch.drop_column("capture_error")
        batch.drop_column("models_error")
        batch.drop_column("models_bundle")
        batch.drop_column("models")
        batch.drop_column("providers")
