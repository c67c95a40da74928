"""What makes the ingest worker act at once instead of on its timers (`IngestWorker._poll`).

`gallery_watermark` is a few aggregate queries whose result changes whenever a device's gallery may
have: every enrolment or roster change publishes a new `CourseGallery` version (see
`server.enrolment.gallery` and `hooks`), and a lecture or device added, removed or moved changes
which course a device serves. Polling it about once a second makes the publish follow an enrolment
within a second or two, across processes (web and ingest share only the database), without a new
table or a message bus. Time passing (the next lecture starting) is the 60 s timer's job.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db.models import CourseGallery, Device, LectureSession


def gallery_watermark(session: Session) -> tuple[Any, ...]:
    galleries = session.execute(select(func.count(CourseGallery.id), func.max(CourseGallery.id))).one()
    lectures = session.execute(
        select(
            func.count(LectureSession.id),
            func.max(LectureSession.id),
            func.sum(LectureSession.classroom_id),
            func.max(LectureSession.starts_at),
            func.min(LectureSession.starts_at),
        )
    ).one()
    devices = session.execute(
        select(
            func.count(Device.id),
            func.max(Device.id),
            func.sum(Device.id * func.coalesce(Device.classroom_id, 0)),
        )
    ).one()
    return (*galleries, *lectures, *devices)
