"""A session's unknown faces as the review shows them: each track with its cluster (the person the
server believes it is, across the course's sessions), the roster ranked by similarity to it, and
the faces the instructor taught the enrolment from this session.

The page and the API render the same models (`server.attendance.schemas.UnknownFace` with its
`cluster` and `suggestions`), so both show the same suggestions, and the cluster's `version` that a
decision must send back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.attendance import clusters, suggestions
from server.attendance.learning import best_crop, learned_in
from server.attendance.loading import reviews_of
from server.attendance.schemas import (
    LearnedFace,
    StudentSuggestion,
    UnknownCluster,
    UnknownFace,
    thumbnail_url,
)
from server.attendance.service import SessionReport
from server.db.enums import ReviewDecision
from server.db.models import (
    LectureSession,
    UnknownClusterMember,
    UnknownFaceReview,
)
from server.db.models import UnknownCluster as ClusterRow


def cluster_shape(db: Session, cluster: ClusterRow) -> UnknownCluster:
    """The cluster as a decision needs it: `version` must come back with the decision."""
    rows = db.execute(
        select(UnknownFaceReview.session_id, UnknownFaceReview.decision)
        .join(UnknownClusterMember, UnknownClusterMember.review_id == UnknownFaceReview.id)
        .where(UnknownClusterMember.cluster_id == cluster.id)
    ).all()
    return UnknownCluster(
        id=cluster.id,
        version=cluster.size,
        faces=cluster.size,
        sessions=len({session_id for session_id, _ in rows}),
        pending=sum(1 for _, decision in rows if decision == ReviewDecision.PENDING),
        decision=cluster.decision,
        student_id=cluster.student_id,
        student_name=cluster.student.name if cluster.student else None,
        decided_by=cluster.actor.display_name if cluster.actor else None,
        decided_at=cluster.decided_at,
        model=cluster.model,
    )


def unknown_faces(db: Session, lecture: LectureSession, report: SessionReport) -> list[UnknownFace]:
    """Every review row of the session with its cluster and top-3 roster suggestions."""
    reviews = reviews_of(db, lecture)
    members = clusters.membership(db, [r.id for r in reviews])
    rosters: dict[str, dict[int, Any]] = {}
    by_cluster: dict[int, tuple[UnknownCluster, list[StudentSuggestion]]] = {}
    out = []
    for review in reviews:
        face = UnknownFace.of(review, report)
        face.cluster, face.suggestions = None, []
        member = members.get(review.id)
        if member is not None:
            if member.cluster_id not in by_cluster:
                cluster = member.cluster
                roster = rosters.setdefault(
                    cluster.model, suggestions.roster_vectors(db, lecture.course_id, cluster.model)
                )
                ranked = suggestions.rank(clusters.cluster_vectors_of(db, cluster.id), roster)
                by_cluster[cluster.id] = (
                    cluster_shape(db, cluster),
                    [StudentSuggestion.model_validate(s.as_json()) for s in ranked],
                )
            face.cluster, face.suggestions = by_cluster[member.cluster_id]
        if face.thumbnail_url is None:  # assigned since: its sightings are no longer unknown
            crop = best_crop(db, review)
            if crop is not None:
                face.thumbnail_url = thumbnail_url(crop.id)
        out.append(face)
    return out


def learned_faces(db: Session, lecture: LectureSession) -> list[LearnedFace]:
    return [LearnedFace.of(row) for row in learned_in(db, lecture)]
