"""Per-course recognition thresholds calibrated from the course's own enrolment photos (issue 15, X4).

Why: one global threshold is set on pooled public faces; a course may hold look-alikes (siblings,
one cohort from one region) whose impostor scores sit higher, or faces the embedder separates
better than the pooled set. The course's accepted photos are labelled pairs already: every two
photos of one student are a *genuine* pair, every two photos of different students an *impostor*
pair. `shared.similarity.calibrate` turns their scores into thresholds at a target false-accept
rate (FAR); devices then get them with the course's gallery.

The rule (docs/attendance.md, "Per-course thresholds"):
* Scores: every accepted enrolment photo (FaceTemplate kind=photo) of the roster under the gallery's
  embedder, all pairs (at most MAX_FACES photos, oldest first).
* Match threshold: the lowest score whose FAR over the impostor pairs is <= TARGET_FAR (1e-3);
  unknown threshold: the same at UNKNOWN_FAR (1e-2), never above the match threshold.
* Small samples are refused, with the reason shown: fewer than MIN_GENUINE_PAIRS genuine pairs
  (the false-reject rate would be a guess), or fewer than 3 / TARGET_FAR impostor pairs (the rule
  of three: with no false accept among N pairs, the 95% upper bound on the FAR is 3/N, so a FAR of
  1e-3 cannot be shown with fewer than 3,000 pairs).
* Never below the safe global default silently: a proposal under the deployment's threshold
  (GALLERY_THRESHOLD, else the embedder's `strict_threshold`) is flagged, and an administrator must
  confirm it explicitly to accept it; one at or above it is accepted as is. Course impostor pairs
  are students against students; a stranger walking in is not in them, which is why lower is
  never the default.
* Accept and revert are administrators' (audited, `course.calibration.accept` / `.revert`); the
  proposal is recomputed when accepting (never taken from the client), and the course's gallery is
  rebuilt in the same transaction: its version moves (the thresholds are part of its content), so
  devices receive the new thresholds at the next publish.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from flask_babel import gettext, ngettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.audit import record
from server.db.enums import FaceKind
from server.db.models import Course, CourseThreshold, FaceTemplate, User, course_students
from server.db.types import utcnow
from server.enrolment import gallery
from server.faces import embeddings
from server.school import access
from server.school.errors import Conflict, Forbidden, Invalid
from shared.embed import require_embedder
from shared.similarity import Metric, calibrate, rates_at, similarity

TARGET_FAR = 1e-3
UNKNOWN_FAR = 1e-2
MIN_GENUINE_PAIRS = 10
MAX_FACES = 3000  # 4.5 million pairs, ~36 MB of scores: a course of 600 students x 5 photos


def min_impostor_pairs(far: float) -> int:
    """The rule of three: fewer impostor pairs than 3/far cannot show a FAR of `far` (95%)."""
    return math.ceil(3.0 / far - 1e-9)


@dataclass
class CalibrationProposal:
    """The course's calibration from its accepted enrolment photos: genuine pairs are two photos of one
    student, impostor pairs photos of two students. `refused` says why no threshold is proposed (too
    few pairs); `below_global` means accepting needs `confirm_below_global`. `at_proposed` and
    `at_global`: the false-accept rate over the impostor pairs and the false-reject rate over the
    genuine pairs at that threshold (`far`, `frr`; empty without genuine pairs)."""

    # The API's `CalibrationProposal` component as it is (server/school/schemas.py): this docstring is
    # its description there.

    model: str
    metric: str
    students: int
    students_with_photos: int
    faces: int
    genuine_pairs: int
    impostor_pairs: int
    target_far: float
    unknown_far: float
    min_genuine_pairs: int
    min_impostor_pairs: int
    global_threshold: float
    global_unknown_threshold: float
    refused: str | None = None
    genuine_range: list[float] | None = None
    impostor_range: list[float] | None = None
    accuracy_threshold: float | None = None  # calibrate()'s accuracy peak, for reference
    threshold: float | None = None
    unknown_threshold: float | None = None
    below_global: bool = False
    at_proposed: dict[str, float] = field(default_factory=dict)  # {"far": ..., "frr": ...}
    at_global: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pair_scores(owners: np.ndarray, vectors: np.ndarray, metric: Metric) -> tuple[np.ndarray, np.ndarray]:
    """Scores and same-student flags of every unordered pair of faces (i < j)."""
    if len(vectors) < 2:
        return np.zeros(0), np.zeros(0, dtype=bool)
    matrix = similarity(vectors, vectors, metric)
    upper = np.triu_indices(len(vectors), k=1)
    return matrix[upper].astype(np.float64), owners[upper[0]] == owners[upper[1]]


def propose(
    owners: np.ndarray,
    vectors: np.ndarray,
    model: str,
    global_threshold: float,
    students: int | None = None,
    target_far: float = TARGET_FAR,
    unknown_far: float = UNKNOWN_FAR,
) -> CalibrationProposal:
    """The calibration of these faces (`owners[i]` is face i's student) against the global default."""
    spec = require_embedder(model)
    metric: Metric = spec["metric"]
    owners = np.asarray(owners)
    scores, same = pair_scores(owners, np.asarray(vectors, np.float32), metric)
    genuine, impostor = int(same.sum()), int((~same).sum())
    proposal = CalibrationProposal(
        model=model,
        metric=metric,
        students=len(set(owners.tolist())) if students is None else students,
        students_with_photos=len(set(owners.tolist())),
        faces=len(owners),
        genuine_pairs=genuine,
        impostor_pairs=impostor,
        target_far=target_far,
        unknown_far=unknown_far,
        min_genuine_pairs=MIN_GENUINE_PAIRS,
        min_impostor_pairs=min_impostor_pairs(target_far),
        global_threshold=round(float(global_threshold), 4),
        global_unknown_threshold=round(float(global_threshold) - float(spec["unknown_gap"]), 4),
    )
    if genuine:
        proposal.genuine_range = [round(float(scores[same].min()), 4), round(float(scores[same].max()), 4)]
    if impostor:
        proposal.impostor_range = [round(float(scores[~same].min()), 4), round(float(scores[~same].max()), 4)]
    if genuine:
        proposal.at_global = _rates(scores, same, proposal.global_threshold)
    if genuine < MIN_GENUINE_PAIRS:
        proposal.refused = ngettext(
            "only %(num)d same-student pair (students with two or more photos); calibration needs"
            " at least %(needed)s: enrol more photos per student",
            "only %(num)d same-student pairs (students with two or more photos); calibration needs"
            " at least %(needed)s: enrol more photos per student",
            genuine,
            needed=MIN_GENUINE_PAIRS,
        )
        return proposal
    if impostor < proposal.min_impostor_pairs:
        proposal.refused = gettext(
            "only %(pairs)s different-student pairs; showing a false-accept rate of %(far)s needs at least"
            " %(needed)s (with no false accept among N pairs the rate is only known to be below 3/N): enrol"
            " more students or more photos",
            pairs=f"{impostor:,}",
            far=f"{target_far:g}",
            needed=f"{proposal.min_impostor_pairs:,}",
        )
        return proposal
    result = calibrate(scores, same, metric, fars=(target_far, unknown_far))
    threshold = round(float(result.far_thresholds[f"{target_far:g}"]), 4)
    # Rounded up, never down: the stored value must not accept an impostor the exact one refused.
    if rates_at(scores, same, threshold)[1] > target_far:
        threshold = round(threshold + 1e-4, 4)
    unknown = round(min(float(result.far_thresholds[f"{unknown_far:g}"]), threshold), 4)
    proposal.accuracy_threshold = round(float(result.threshold), 4)
    proposal.threshold = threshold
    proposal.unknown_threshold = unknown
    proposal.below_global = threshold < proposal.global_threshold
    proposal.at_proposed = _rates(scores, same, threshold)
    return proposal


def _rates(scores: np.ndarray, same: np.ndarray, threshold: float) -> dict[str, float]:
    tar, far = rates_at(scores, same, threshold)
    return {"far": round(far, 6), "frr": round(1.0 - tar, 6)}


# --- the course in the database ----------------------------------------------------------------


def global_threshold(model: str) -> float:
    """The deployment's 1:N threshold for `model`: GALLERY_THRESHOLD, else the embedder's strict one."""
    configured = gallery.configured()[1]
    return float(configured if configured is not None else require_embedder(model)["strict_threshold"])


def course_faces(session: Session, course_id: int, model: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(owner student ids, embeddings, roster size) of the course's accepted photos under `model`."""
    roster = list(
        session.scalars(select(course_students.c.student_id).where(course_students.c.course_id == course_id))
    )
    owners: list[int] = []
    vectors: list[np.ndarray] = []
    for start in range(0, len(roster), 500):
        rows = session.execute(
            select(FaceTemplate.student_id, FaceTemplate.embedding, FaceTemplate.dim)
            .where(
                FaceTemplate.student_id.in_(roster[start : start + 500]),
                FaceTemplate.kind == FaceKind.PHOTO,
                FaceTemplate.model == model,
            )
            .order_by(FaceTemplate.id)
        )
        for student_id, data, dim in rows:
            owners.append(student_id)
            vectors.append(embeddings.from_bytes(data, dim))
    if not owners:
        return np.zeros(0, np.int64), np.zeros((0, 1), np.float32), len(roster)
    owners, vectors = owners[:MAX_FACES], vectors[:MAX_FACES]
    return np.asarray(owners, dtype=np.int64), np.stack(vectors), len(roster)


def course_proposal(session: Session, course: Course) -> CalibrationProposal:
    """The course's calibration now, under the gallery's configured embedder."""
    model = gallery.configured()[0]
    owners, vectors, roster = course_faces(session, course.id, model)
    return propose(owners, vectors, model, global_threshold(model), students=roster)


def accepted(session: Session, course_id: int) -> CourseThreshold | None:
    return session.scalar(select(CourseThreshold).where(CourseThreshold.course_id == course_id))


def accepted_json(row: CourseThreshold | None, model: str) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "model": row.model,
        "applies": row.model == model,  # another embedder's scores mean something else
        "threshold": row.threshold,
        "unknown_threshold": row.unknown_threshold,
        "target_far": row.target_far,
        "genuine_pairs": row.genuine_pairs,
        "impostor_pairs": row.impostor_pairs,
        "global_threshold": row.global_threshold,
        "accepted_by": row.accepted_by.display_name if row.accepted_by else None,
        "accepted_at": row.accepted_at.isoformat(),
    }


def calibration_json(session: Session, course: Course) -> dict[str, Any]:
    """What the course page and the API show: the proposal, what is accepted, what devices get."""
    proposal = course_proposal(session, course)
    row = accepted(session, course.id)
    applies = row is not None and row.model == proposal.model
    in_use = {
        "source": "course" if applies else "global",
        "threshold": row.threshold if applies and row else proposal.global_threshold,
        "unknown_threshold": row.unknown_threshold if applies and row else proposal.global_unknown_threshold,
    }
    return {
        "course_id": course.id,
        "proposal": proposal.to_dict(),
        "accepted": accepted_json(row, proposal.model),
        "in_use": in_use,
    }


def _require_admin(actor: User) -> None:
    if not access.is_admin(actor):
        raise Forbidden("only an administrator may change a course's recognition threshold")


def _snapshot(row: CourseThreshold | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"model": row.model, "threshold": row.threshold, "unknown_threshold": row.unknown_threshold}


def accept(
    session: Session,
    actor: User,
    course: Course,
    confirm_below_global: bool = False,
    expected_threshold: float | None = None,
) -> CourseThreshold:
    """Store the course's current proposal as its thresholds (audited) and rebuild its gallery.

    Refused: not an administrator (403), nothing to accept (409 with the reason), a proposal that
    changed since `expected_threshold` was shown (409), one below the global default without
    `confirm_below_global` (400). Nothing is written then."""
    _require_admin(actor)
    proposal = course_proposal(session, course)
    if proposal.refused or proposal.threshold is None or proposal.unknown_threshold is None:
        raise Conflict(
            gettext(
                "no calibration to accept for %(code)s: %(reason)s", code=course.code, reason=proposal.refused
            )
        )
    if expected_threshold is not None and abs(expected_threshold - proposal.threshold) > 5e-5:
        raise Conflict(
            gettext(
                "the calibration changed since it was shown (%(then)s then, %(now)s now): look at it again"
                " before accepting",
                then=f"{expected_threshold:g}",
                now=f"{proposal.threshold:g}",
            )
        )
    if proposal.below_global and not confirm_below_global:
        raise Invalid(
            gettext(
                "the calibrated threshold %(threshold)s is below the global default %(default)s: confirm"
                " explicitly that this course may use the lower one",
                threshold=f"{proposal.threshold:g}",
                default=f"{proposal.global_threshold:g}",
            )
        )
    row = accepted(session, course.id)
    before = _snapshot(row)
    if row is None:
        row = CourseThreshold(course_id=course.id)
        session.add(row)
    row.model = proposal.model
    row.threshold = proposal.threshold
    row.unknown_threshold = proposal.unknown_threshold
    row.target_far = proposal.target_far
    row.genuine_pairs = proposal.genuine_pairs
    row.impostor_pairs = proposal.impostor_pairs
    row.global_threshold = proposal.global_threshold
    row.accepted_by_id = actor.id
    row.accepted_at = utcnow()
    session.flush()
    built = gallery.build_gallery(session, course.id)
    record(
        session,
        actor,
        "course.calibration.accept",
        "course",
        course.id,
        before=before,
        after={
            **(_snapshot(row) or {}),
            "target_far": proposal.target_far,
            "genuine_pairs": proposal.genuine_pairs,
            "impostor_pairs": proposal.impostor_pairs,
            "global_threshold": proposal.global_threshold,
            "below_global": proposal.below_global,
            "gallery_version": built["version"],
        },
    )
    return row


def revert(session: Session, actor: User, course: Course) -> int:
    """Back to the global default (audited); rebuilds the gallery. Returns its version.

    Refused: not an administrator (403), nothing accepted (409)."""
    _require_admin(actor)
    row = accepted(session, course.id)
    if row is None:
        raise Conflict(
            gettext(
                "%(code)s already uses the global threshold: there is nothing to revert", code=course.code
            )
        )
    before = _snapshot(row)
    session.delete(row)
    session.flush()
    built = gallery.build_gallery(session, course.id)
    record(
        session,
        actor,
        "course.calibration.revert",
        "course",
        course.id,
        before=before,
        after={"threshold": built["threshold"], "source": "global", "gallery_version": built["version"]},
    )
    return int(built["version"])
