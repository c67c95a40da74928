"""The instructor's changes to a session's attendance, each validated whole and audited.

Every function validates all of its input before it writes anything, raises `ReviewError`
(a message for the user and an HTTP status) when something is wrong, and adds its rows and
their `AuditLog` entry to the caller's session in one transaction: the caller commits, or
rolls back on error, so nothing is ever half-written. The web pages and the API call the
same functions, so both enforce the same rules.

Audit entries of a session all have ``entity_type="lecture_session"`` and
``entity_id=<session id>`` (one indexed query gives a session's trail); ``action`` says what:
``attendance.override``, ``attendance.rollcall``, ``attendance.confirm``,
``unknown_face.assign``, ``unknown_face.not_a_student``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.api.io import iso
from server.attendance import engine
from server.attendance.service import SessionReport, compute_session, plan_for, roster_ids
from server.audit import record
from server.db.enums import AttendanceStatus, ReviewDecision, SessionStatus
from server.db.models import (
    AttendanceOverride,
    LectureSession,
    Sighting,
    Student,
    UnknownCluster,
    UnknownClusterMember,
    UnknownFaceReview,
    User,
)
from server.db.types import INT_MAX, utcnow
from server.errors import ServiceError

ENTITY = "lecture_session"
CLUSTER_ENTITY = "unknown_cluster"
MAX_REASON = 1000
ROLL_CALL_REASON = "Manual roll call"
NO_ENTRIES = '\'entries\' must be a non-empty list of {"student_id": ..., "status": ...}'
STATUS_VALUES = tuple(status.value for status in AttendanceStatus)
# A roll call tick says "was there"; these statuses already say so (or excuse the student).
ATTENDED = frozenset({"present", "late", "left_early", "late_and_left_early"})


# Input the instructor must correct: a service error (`server.errors`) with its HTTP status.
ReviewError = ServiceError


# ----------------------------------------------------------------------------- validation


def parse_status(value: Any, field: str = "status") -> AttendanceStatus:
    if not isinstance(value, str) or value not in STATUS_VALUES:
        raise ReviewError(
            gettext(
                "'%(field)s' must be one of %(choices)s (got %(value)s)",
                field=field,
                choices=", ".join(STATUS_VALUES),
                value=repr(value),
            )
        )
    return AttendanceStatus(value)


def parse_reason(value: Any, *, required: bool, field: str = "reason") -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ReviewError(
                gettext("a '%(field)s' is required: say why the attendance is corrected", field=field)
            )
        return None
    if not isinstance(value, str):
        raise ReviewError(gettext("'%(field)s' must be text", field=field))
    text = value.strip()
    if len(text) > MAX_REASON:
        raise ReviewError(
            gettext(
                "'%(field)s' is too long (%(length)d characters; at most %(most)d)",
                field=field,
                length=len(text),
                most=MAX_REASON,
            )
        )
    return text


def parse_decision(value: Any) -> str:
    """An unknown face's (or cluster's) decision: 'assigned' or 'not_a_student'."""
    choices = (ReviewDecision.ASSIGNED.value, ReviewDecision.NOT_A_STUDENT.value)
    if not isinstance(value, str) or value not in choices:
        raise ReviewError(
            gettext(
                "'decision' must be one of %(choices)s (got %(value)s)",
                choices=", ".join(choices),
                value=repr(value),
            )
        )
    return value


def parse_id(value: Any, field: str) -> int:
    """A row id (INT key: 1 to 2^31-1; a bigger one would reach SQL and make the driver raise)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INT_MAX:
        raise ReviewError(
            gettext(
                "'%(field)s' must be a positive integer id up to %(most)d (got %(value)s)",
                field=field,
                most=INT_MAX,
                value=str(value)[:30],
            )
        )
    return value


def _on_roster(db: Session, lecture: LectureSession, student_id: int, field: str) -> None:
    if student_id not in set(roster_ids(db, lecture.course_id)):
        raise ReviewError(
            gettext(
                "%(field)s: student %(id)s is not on the roster of %(course)s",
                field=field,
                id=student_id,
                course=lecture.course.code,
            )
        )


def _students(db: Session, ids: list[int]) -> dict[int, Student]:
    return {s.id: s for s in db.scalars(select(Student).where(Student.id.in_(ids)))} if ids else {}


# ----------------------------------------------------------------------------- overrides


def override_status(
    db: Session,
    lecture: LectureSession,
    actor: User,
    config: Mapping[str, Any],
    *,
    student_id: Any,
    status: Any,
    reason: Any,
    period: Any = None,
) -> AttendanceOverride:
    """Set one student's status for the session (`period` None) or one period (0-based index)."""
    sid = parse_id(student_id, "student_id")
    new = parse_status(status)
    why = parse_reason(reason, required=True)
    count = len(plan_for(lecture, config).periods)
    if period is not None and (
        isinstance(period, bool) or not isinstance(period, int) or not 0 <= period < count
    ):
        raise ReviewError(
            gettext(
                "'period' must be null (the whole session) or a period index from 0 to %(last)d"
                " (got %(value)s)",
                last=count - 1,
                value=repr(period),
            )
        )
    _on_roster(db, lecture, sid, "student_id")

    report = compute_session(db, lecture, config, [sid])
    row = report.result.student(sid)
    current: engine.StudentAttendance | engine.PeriodAttendance = (
        row if period is None else row.periods[period]
    )
    override = AttendanceOverride(
        session_id=lecture.id, student_id=sid, period_index=period, status=new, reason=why, actor_id=actor.id
    )
    db.add(override)
    db.flush()
    number = report.students[sid].student_number
    after: dict[str, Any] = {
        "student_id": sid,
        "student_number": number,
        "period": period,
        "status": new.value,
        "source": engine.Source.MANUAL.value,
        "override_id": override.id,
    }
    if lecture.status == SessionStatus.CONFIRMED:
        after["after_confirmation"] = True
    record(
        db,
        actor,
        "attendance.override",
        ENTITY,
        lecture.id,
        before={
            "student_id": sid,
            "student_number": number,
            "period": period,
            "status": current.status.value,
            "source": current.source.value,
        },
        after=after,
        reason=why,
    )
    return override


# ----------------------------------------------------------------------------- roll call


@dataclass(frozen=True)
class RollCall:
    changed: list[int]
    unchanged: list[int]
    audit_id: int | None


def roll_call(
    db: Session,
    lecture: LectureSession,
    actor: User,
    config: Mapping[str, Any],
    *,
    entries: Any,
    reason: Any = None,
) -> RollCall:
    """A manual roll call submitted in one batch: `entries` = [{"student_id": 1, "status": "present"}, ...].

    Every entry is checked before anything is written (one bad entry refuses the batch). An
    entry whose status is already the student's session status changes nothing (the evidence
    stays in charge); each other entry becomes a session override with the roll call's reason.
    One audit entry records the whole batch (before and after per student number)."""
    if not isinstance(entries, list) or not entries:
        raise ReviewError(NO_ENTRIES)
    roster = set(roster_ids(db, lecture.course_id))
    if len(entries) > len(roster):
        raise ReviewError(
            gettext(
                "the roll call has %(entries)s entries but the roster only %(students)s students",
                entries=len(entries),
                students=len(roster),
            )
        )
    parsed: dict[int, AttendanceStatus] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ReviewError(gettext("entries[%(i)s] must be an object with 'student_id' and 'status'", i=i))
        sid = parse_id(entry.get("student_id"), f"entries[{i}].student_id")
        status = parse_status(entry.get("status"), f"entries[{i}].status")
        if sid not in roster:
            raise ReviewError(
                gettext(
                    "entries[%(i)s]: student %(id)s is not on the roster of %(code)s",
                    i=i,
                    id=sid,
                    code=lecture.course.code,
                )
            )
        if sid in parsed:
            raise ReviewError(
                gettext("entries[%(i)s]: student %(id)s appears twice in the roll call", i=i, id=sid)
            )
        parsed[sid] = status
    why = parse_reason(reason, required=False) or ROLL_CALL_REASON

    report = compute_session(db, lecture, config, list(parsed))
    changed, unchanged, before, after = [], [], {}, {}
    for sid, status in parsed.items():
        row = report.result.student(sid)
        if row.status.value == status.value:
            unchanged.append(sid)
            continue
        db.add(
            AttendanceOverride(
                session_id=lecture.id,
                student_id=sid,
                period_index=None,
                status=status,
                reason=why,
                actor_id=actor.id,
            )
        )
        number = report.students[sid].student_number
        before[number] = row.status.value
        after[number] = status.value
        changed.append(sid)
    if not changed:
        return RollCall(changed, unchanged, None)
    entry = record(
        db,
        actor,
        "attendance.rollcall",
        ENTITY,
        lecture.id,
        before=before,
        after={
            **after,
            **({"after_confirmation": True} if lecture.status == SessionStatus.CONFIRMED else {}),
        },
        reason=why,
    )
    db.flush()
    return RollCall(changed, unchanged, entry.id)


def roll_call_entries(report: SessionReport, ticked: set[int]) -> list[dict[str, Any]]:
    """What a ticked-names form means: ticked and not counted -> present, unticked and counted -> absent.

    A ticked student whom the evidence counts as there (even late) keeps that status; an
    unticked excused student stays excused."""
    entries = []
    for row in report.result.students:
        current = row.status.value
        if row.student_id in ticked and current not in ATTENDED:
            entries.append({"student_id": row.student_id, "status": "present"})
        elif row.student_id not in ticked and current in ATTENDED:
            entries.append({"student_id": row.student_id, "status": "absent"})
    return entries


# ----------------------------------------------------------------------------- confirmation


def confirm(db: Session, lecture: LectureSession, actor: User, config: Mapping[str, Any]) -> None:
    """Mark the session confirmed by `actor` now; the audit entry keeps the statuses confirmed.

    Confirming again (after later corrections) is allowed and audited the same way."""
    report = compute_session(db, lecture, config)
    before = {
        "status": lecture.status.value,
        "confirmed_by": lecture.confirmed_by.email if lecture.confirmed_by else None,
        "confirmed_at": iso(lecture.confirmed_at),
    }
    lecture.status = SessionStatus.CONFIRMED
    lecture.confirmed_by_id = actor.id
    lecture.confirmed_by = actor
    lecture.confirmed_at = utcnow()
    statuses = {
        report.students[row.student_id].student_number: row.status.value for row in report.result.students
    }
    record(
        db,
        actor,
        "attendance.confirm",
        ENTITY,
        lecture.id,
        before=before,
        after={
            "status": SessionStatus.CONFIRMED.value,
            "confirmed_by": actor.email,
            "confirmed_at": iso(lecture.confirmed_at),
            "attendance": statuses,
        },
    )


# ----------------------------------------------------------------------------- unknown faces


def sync_unknown_faces(db: Session, lecture: LectureSession, report: SessionReport) -> int:
    """Add a pending review row for each unknown face (device, track) of the session not yet listed.

    Returns how many were added (not committed). Rows are never removed: a decision stays
    on record even when its sightings change."""
    existing = {
        (device_id, track_id)
        for device_id, track_id in db.execute(
            select(UnknownFaceReview.device_id, UnknownFaceReview.track_id).where(
                UnknownFaceReview.session_id == lecture.id
            )
        )
    }
    added = 0
    for face in report.result.unknown_faces:
        key = (int(face.device_id), str(face.track_id))
        if key not in existing:
            db.add(UnknownFaceReview(session_id=lecture.id, device_id=key[0], track_id=key[1]))
            existing.add(key)
            added += 1
    return added + resolve_named_tracks(db, lecture)


def resolve_named_tracks(db: Session, lecture: LectureSession) -> int:
    """Close the pending reviews of tracks the device itself named a student later (engine rule 7).

    The edge retries an unknown track and, once a view matches, reports it under the student: the
    review listed before that has nothing left to decide. It is marked assigned to that student by
    the system (no actor), audited as ``unknown_face.recognised_by_device``; its unlabelled sightings
    stay as they are (the device re-sent them under the student). Returns how many were closed."""
    pending = {
        (review.device_id, review.track_id): review
        for review in db.scalars(
            select(UnknownFaceReview).where(
                UnknownFaceReview.session_id == lecture.id,
                UnknownFaceReview.decision == ReviewDecision.PENDING,
            )
        )
    }
    if not pending:
        return 0
    named = db.execute(
        select(Sighting.device_id, Sighting.track_id, Sighting.student_id)
        .where(Sighting.session_id == lecture.id, Sighting.student_id.is_not(None))
        .distinct()
    ).all()
    closed = 0
    for device_id, track_id, student_id in sorted(named, key=lambda row: (row[0], row[1], row[2])):
        review = pending.pop((device_id, track_id), None)
        if review is None:
            continue
        review.decision = ReviewDecision.ASSIGNED
        review.student_id = student_id
        review.decided_at = utcnow()
        record(
            db,
            None,
            "unknown_face.recognised_by_device",
            ENTITY,
            lecture.id,
            before={
                "review_id": review.id,
                "decision": "pending",
                "device_id": device_id,
                "track_id": track_id,
            },
            after={
                "review_id": review.id,
                "decision": "assigned",
                "student_id": student_id,
                "student_number": db.get(Student, student_id).student_number,
            },
        )
        closed += 1
    return closed


def relabel_track(db: Session, review: UnknownFaceReview, student: Student) -> list[str]:
    """Give the unlabelled sightings of the review's (session, device, track) to `student`; their
    event ids, sorted (what the audit entry lists)."""
    where = (
        Sighting.session_id == review.session_id,
        Sighting.device_id == review.device_id,
        Sighting.track_id == review.track_id,
        Sighting.student_id.is_(None),
    )
    relabelled = sorted(db.scalars(select(Sighting.event_id).where(*where)))
    db.execute(update(Sighting).where(*where).values(student_id=student.id))
    return relabelled


def decide_unknown_face(
    db: Session,
    review: UnknownFaceReview,
    actor: User,
    *,
    decision: Any,
    student_id: Any = None,
    reason: Any = None,
) -> int:
    """Assign an unknown face to a roster student, or mark it "not a student".

    Assigning re-labels the session's unlabelled sightings of that device track with the
    student, so the next computation counts them; the audit entry lists their event ids.
    An assigned face cannot be re-decided (409): correct the student's attendance with an
    override instead. Returns how many sightings were re-labelled."""
    parse_decision(decision)
    why = parse_reason(reason, required=False)
    lecture = review.session
    if review.decision == ReviewDecision.ASSIGNED:
        name = review.student.name if review.student else gettext("a student")
        raise ReviewError(
            gettext(
                "this face is already assigned to %(name)s;"
                " correct that student's attendance with an override",
                name=name,
            ),
            409,
        )
    if review.decision.value == decision:
        raise ReviewError(gettext("this face is already marked as not a student"), 409)
    sid = None
    student = None
    if decision == ReviewDecision.ASSIGNED.value:
        if student_id is None or student_id == "":
            raise ReviewError(
                "'student_id' is required: choose the student this face is (none is pre-selected)"
            )
        sid = parse_id(student_id, "student_id")
        _on_roster(db, lecture, sid, "student_id")
        student = db.get(Student, sid)
    elif student_id is not None:
        raise ReviewError("'student_id' is only for the decision 'assigned'")

    before = {
        "review_id": review.id,
        "decision": review.decision.value,
        "device_id": review.device_id,
        "track_id": review.track_id,
    }
    relabelled = relabel_track(db, review, student) if student is not None else []
    review.decision = ReviewDecision(decision)
    review.student_id = sid
    review.student = student
    review.actor_id = actor.id
    review.decided_at = utcnow()
    after: dict[str, Any] = {"review_id": review.id, "decision": decision}
    if student is not None:
        after.update(
            student_id=student.id,
            student_number=student.student_number,
            relabelled=len(relabelled),
            event_ids=relabelled,
        )
    if lecture.status == SessionStatus.CONFIRMED:
        after["after_confirmation"] = True
    record(db, actor, f"unknown_face.{decision}", ENTITY, lecture.id, before=before, after=after, reason=why)
    return len(relabelled)


# ----------------------------------------------------------------------------- clusters


@dataclass(frozen=True)
class ClusterDecision:
    reviews: list[int]  # the member reviews decided now
    relabelled: int  # sightings re-labelled with the student (assign)
    sessions: list[int]  # the sessions whose audit trail got an entry


def parse_version_number(value: Any) -> int:
    """A cluster `version` as a decision sends it: its member count, a non-negative integer."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT_MAX:
        raise ReviewError(
            "'version' must be the cluster's member count as shown with the face (a non-negative integer);"
            f" got {str(value)[:30]}"
        )
    return value


def parse_version(value: Any, cluster: UnknownCluster) -> None:
    """The cluster's size as the page showed it: a different size means it changed since (409)."""
    value = parse_version_number(value)
    if value != cluster.size:
        raise ReviewError(
            gettext(
                "this person's faces changed since the page was shown: the cluster now has %(size)d face(s),"
                " you saw %(seen)d; look at them again and decide",
                size=cluster.size,
                seen=value,
            ),
            409,
        )


def decide_cluster(
    db: Session,
    cluster: UnknownCluster,
    actor: User,
    *,
    decision: Any,
    student_id: Any = None,
    version: Any = None,
    reason: Any = None,
) -> ClusterDecision:
    """Assign every face of a cluster to a roster student, or mark them all "not a student".

    Applies to each member review still pending (assign also overrides "not a student"), in every
    session of the course: their unlabelled sightings are re-labelled with the student. `version`
    must be the cluster's size as the instructor saw it (a face that joined since is a 409). One
    audit entry per affected session and one for the cluster; nothing is written when any check fails.
    An assigned cluster cannot be given to someone else or marked "not a student" (409); faces that
    joined it later are assigned to the same student by deciding again."""
    parse_decision(decision)
    why = parse_reason(reason, required=False)
    student = None
    if decision == ReviewDecision.ASSIGNED.value:
        if student_id is None or student_id == "":
            raise ReviewError(
                "'student_id' is required: choose the student this person is (none is pre-selected)"
            )
        sid = parse_id(student_id, "student_id")
        if sid not in set(roster_ids(db, cluster.course_id)):
            raise ReviewError(
                gettext(
                    "%(field)s: student %(id)s is not on the roster of %(course)s",
                    field="student_id",
                    id=sid,
                    course=cluster.course.code,
                )
            )
        student = db.get(Student, sid)
    elif student_id is not None and student_id != "":
        raise ReviewError("'student_id' is only for the decision 'assigned'")
    parse_version(version, cluster)
    if cluster.decision == ReviewDecision.ASSIGNED and (student is None or student.id != cluster.student_id):
        name = cluster.student.name if cluster.student else gettext("a student")
        raise ReviewError(
            gettext(
                "this person is already assigned to %(name)s; correct attendance with an override instead",
                name=name,
            ),
            409,
        )
    undecided = {ReviewDecision.PENDING} | ({ReviewDecision.NOT_A_STUDENT} if student is not None else set())
    targets = [
        m.review
        for m in db.scalars(select(UnknownClusterMember).where(UnknownClusterMember.cluster_id == cluster.id))
        if m.review.decision in undecided
    ]
    if not targets:
        raise ReviewError(
            gettext(
                "every face of this person is already decided (%(decision)s)", decision=cluster.decision.value
            ),
            409,
        )

    now = utcnow()
    relabelled_total = 0
    by_session: dict[int, list[tuple[UnknownFaceReview, str, list[str]]]] = {}
    for face in sorted(targets, key=lambda r: r.id):
        relabelled = relabel_track(db, face, student) if student is not None else []
        before_decision = face.decision.value
        face.decision = ReviewDecision(decision)
        face.student_id = student.id if student else None
        face.student = student
        face.actor_id = actor.id
        face.decided_at = now
        relabelled_total += len(relabelled)
        by_session.setdefault(face.session_id, []).append((face, before_decision, relabelled))
    cluster_before = {
        "decision": cluster.decision.value,
        "student_id": cluster.student_id,
        "size": cluster.size,
    }
    cluster.decision = ReviewDecision(decision)
    cluster.student_id = student.id if student else None
    cluster.student = student
    cluster.actor_id = actor.id
    cluster.decided_at = now
    who = {"student_id": student.id, "student_number": student.student_number} if student is not None else {}
    for session_id, faces in sorted(by_session.items()):
        lecture = db.get(LectureSession, session_id)
        assert lecture is not None
        after: dict[str, Any] = {
            "cluster_id": cluster.id,
            "review_ids": [face.id for face, _, _ in faces],
            "decision": decision,
            **who,
        }
        if student is not None:
            events = sorted(e for _, _, rel in faces for e in rel)
            after.update(relabelled=len(events), event_ids=events)
        if lecture.status == SessionStatus.CONFIRMED:
            after["after_confirmation"] = True
        record(
            db,
            actor,
            f"unknown_face.{decision}",
            ENTITY,
            session_id,
            before={
                "cluster_id": cluster.id,
                "decisions": {str(face.id): before for face, before, _ in faces},
            },
            after=after,
            reason=why,
        )
    record(
        db,
        actor,
        f"unknown_cluster.{decision}",
        CLUSTER_ENTITY,
        cluster.id,
        before=cluster_before,
        after={
            "decision": decision,
            **who,
            "size": cluster.size,
            "review_ids": sorted(face.id for face in targets),
            "sessions": sorted(by_session),
            "relabelled": relabelled_total,
        },
        reason=why,
    )
    db.flush()
    return ClusterDecision(sorted(face.id for face in targets), relabelled_total, sorted(by_session))
