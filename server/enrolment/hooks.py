"""Galleries follow roster changes made elsewhere (`server.school`): its `roster_changed` signal marks
the course, and the course's gallery is published when that transaction commits, after every change of
the transaction (a student's erasure included) is in. A rolled-back transaction publishes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from server.enrolment import gallery
from server.enrolment.errors import NotFound
from server.enrolment.gallery import build_gallery
from server.school.signals import roster_changed

PENDING = "visage.enrolment.galleries"


def connect() -> None:
    """Subscribe once per process (idempotent)."""
    roster_changed.connect(mark_course)
    if not event.contains(Session, "before_commit", publish_marked):
        event.listen(Session, "before_commit", publish_marked)
        event.listen(Session, "after_rollback", forget_marked)


def mark_course(_sender: Any, db: Session, course_id: int, **_details: Any) -> None:
    model, threshold = gallery.configured()
    db.info.setdefault(PENDING, {})[course_id] = (model, threshold)


def publish_marked(session: Session) -> None:
    marked = session.info.pop(PENDING, None)
    if not marked:
        return
    for course_id, (model, threshold) in sorted(marked.items()):
        try:
            build_gallery(session, course_id, model, threshold)
        except NotFound:
            continue  # the course itself was deleted in this transaction


def forget_marked(session: Session) -> None:
    session.info.pop(PENDING, None)
