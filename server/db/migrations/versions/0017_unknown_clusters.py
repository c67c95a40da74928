"""Unknown-face clusters within and across a course's sessions, and faces learned from review (issue 15).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

Placeholder created so that parallel work chains linearly; filled in by the change it names.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
