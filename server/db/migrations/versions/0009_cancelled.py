"""Cancelled jobs and deepfake checks: 'cancelled' joins both status CHECK constraints.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23

Self-contained (no import of the application's types), like 0001. Batch mode, because SQLite can
only change a CHECK constraint by recreating the table; on MariaDB it is a plain ALTER TABLE.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, constraint name as the models' naming convention writes it, statuses before this revision)
CHECKS = (
    ("jobs", "ck_jobs_job_status", ("queued", "running", "succeeded", "failed")),
    (
        "deepfake_checks",
        "ck_deepfake_checks_deepfake_check_status",
        ("queued", "running", "done", "failed"),
    ),
)
CANCELLED = "cancelled"


def _replace_check(table: str, name: str, statuses: Sequence[str]) -> None:
    allowed = ", ".join(f"'{value}'" for value in statuses)
    with op.batch_alter_table(table) as batch:
        batch.drop_constraint(op.f(name), type_="check")
        batch.create_check_constraint(op.f(name), sa.text(f"status IN ({allowed})"))


def upgrade() -> None:
    for table, name, statuses in CHECKS:
        _replace_check(table, name, (*statuses, CANCELLED))


def downgrade() -> None:
    # The old constraints do not know 'cancelled': such rows become failed ones first.
    jobs = sa.table("jobs", sa.column("status"), sa.column("error"))
    op.execute(jobs.update().where(jobs.c.status == CANCELLED).values(status="failed", error="cancelled"))
    checks = sa.table("deepfake_checks", sa.column("status"), sa.column("error"))
    op.execute(
        checks.update().where(checks.c.status == CANCELLED).values(status="failed", error="Cancelled.")
    )
    for table, name, statuses in CHECKS:
        _replace_check(table, name, statuses)
