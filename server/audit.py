"""The audit trail: record a change in the same transaction as the change itself, so that neither
exists without the other.

    before = {"status": override.status.value}
    override.status = AttendanceStatus.PRESENT
    record(db_session, current_user, "attendance.override", "attendance_override", override.id,
           before=before, after={"status": "present"}, reason=form.reason.data)
    db_session.commit()
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.db.models import AuditLog, User


def record(
    session: Session,
    actor: User | None,
    action: str,
    entity_type: str,
    entity_id: object,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditLog:
    """Add an audit entry to `session` (the caller commits it with the change). `actor` None: the system."""
    entry = AuditLog(
        actor_id=actor.id if actor is not None else None,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=before,
        after=after,
        reason=reason,
    )
    session.add(entry)
    return entry
