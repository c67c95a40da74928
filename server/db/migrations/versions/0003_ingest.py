"""MQTT ingest: refused messages, device health and telemetry history.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Self-contained (no import of the application's types), like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = ("mysql", "mariadb")


def utc_datetime() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL)


def blob() -> sa.types.TypeEngine:
    return sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), *MYSQL)


def big_id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def device_fk(table: str) -> sa.Column:
    return sa.Column(
        "device_id",
        sa.Integer(),
        sa.ForeignKey("devices.id", name=op.f(f"fk_{table}_device_id_devices"), ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "rejected_messages",
        sa.Column("id", big_id()),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("received_at", utc_datetime(), nullable=False),
        sa.Column("payload_size", sa.Integer(), nullable=False),
        sa.Column("payload_head", blob(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejected_messages")),
    )
    op.create_index("ix_rejected_messages_received_at", "rejected_messages", ["received_at"])
    op.create_index(
        "ix_rejected_messages_device_id_received_at", "rejected_messages", ["device_id", "received_at"]
    )
    op.create_table(
        "device_health",
        device_fk("device_health"),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("status_at", utc_datetime(), nullable=True),
        sa.Column("software", sa.String(80), nullable=True),
        sa.Column("last_seen_at", utc_datetime(), nullable=True),
        sa.Column("clock_skew_seconds", sa.Float(), nullable=True),
        sa.Column("clock_skew_exceeded", sa.Boolean(), nullable=False),
        sa.Column("gallery_version", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_health")),
    )
    op.create_table(
        "device_telemetry",
        sa.Column("id", big_id()),
        device_fk("device_telemetry"),
        sa.Column("at", utc_datetime(), nullable=False),
        sa.Column("received_at", utc_datetime(), nullable=False),
        sa.Column("fps", sa.Float(), nullable=False),
        sa.Column("faces_per_second", sa.Float(), nullable=False),
        sa.Column("outbox_depth", sa.Integer(), nullable=False),
        sa.Column("outbox_capacity", sa.Integer(), nullable=False),
        sa.Column("stage_ms", sa.JSON(), nullable=True),
        sa.Column("cpu_temperature_c", sa.Float(), nullable=True),
        sa.Column("gallery_version", sa.Integer(), nullable=True),
        sa.Column("uptime_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_telemetry")),
    )
    op.create_index("ix_device_telemetry_device_id_at", "device_telemetry", ["device_id", "at"])


def downgrade() -> None:
    op.drop_table("device_telemetry")
    op.drop_table("device_health")
    op.drop_table("rejected_messages")
