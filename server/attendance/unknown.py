"""A session's unknown faces as the review shows them: each track with its cluster (the person the
server believes it is, across the course's sessions), the roster ranked by similarity to it, and
the faces the instructor taught the enrolment from this session.

The page and the API render the same dictionaries (`unknown_face_json` plus `cluster` and
`suggestions`), so both show the same suggestions, and the cluster's `version` that a decision
must send back.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.api.io import iso
from server.attendance import clusters, suggestions
from server.attendance.learning import best_crop, learned_in
from server.attendance.loading import reviews_of
from server.attendance.serialize import unknown_face_json
from server.attendance.service import SessionReport
from server.db.enums import ReviewDecision
from server.db.models import (
    LearnedFace,
    LectureSession,
    UnknownCluster,
    UnknownClusterMember,
    UnknownFaceReview,
)


def cluster_json(db: Session, cluster: UnknownCluster) -> dict[str, Any]:
    """The cluster as a decision needs it: `version` must come back with the decision."""
    rows = db.execute(
        select(UnknownFaceReview.session_id, UnknownFaceReview.decision)
        .join(UnknownClusterMember, UnknownClusterMember.review_id == UnknownFaceReview.id)
        .where(UnknownClusterMember.cluster_id == cluster.id)
    ).all()
    return {
        "id": cluster.id,
        "version": cluster.size,
        "faces": cluster.size,
        "sessions": len({session_id for session_id, _ in rows}),
        "pending": sum(1 for _, decision in rows if decision == ReviewDecision.PENDING),
        "decision": cluster.decision.value,
        "student_id": cluster.student_id,
        "student_name": cluster.student.name if cluster.student else None,
        "decided_by": cluster.actor.display_name if cluster.actor else None,
        "decided_at": iso(cluster.decided_at),
        "model": cluster.model,
    }


def unknown_faces_json(db: Session, lecture: LectureSession, report: SessionReport) -> list[dict[str, Any]]:
    """Every review row of the session with its cluster and top-3 roster suggestions."""
    reviews = reviews_of(db, lecture)
    members = clusters.membership(db, [r.id for r in reviews])
    rosters: dict[str, dict[int, Any]] = {}
    by_cluster: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    out = []
    for review in reviews:
        face = unknown_face_json(review, report)
        member = members.get(review.id)
        face["cluster"], face["suggestions"] = None, []
        if member is not None:
            if member.cluster_id not in by_cluster:
                cluster = member.cluster
                roster = rosters.setdefault(
                    cluster.model, suggestions.roster_vectors(db, lecture.course_id, cluster.model)
                )
                ranked = suggestions.rank(clusters.cluster_vectors_of(db, cluster.id), roster)
                by_cluster[cluster.id] = (cluster_json(db, cluster), [s.as_json() for s in ranked])
            face["cluster"], face["suggestions"] = by_cluster[member.cluster_id]
        if face["thumbnail_url"] is None:  # assigned since: its sightings are no longer unknown
            crop = best_crop(db, review)
            if crop is not None:
                face["thumbnail_url"] = url_for("api.get_sighting_thumbnail", sighting_id=crop.id)
        out.append(face)
    return out


def learned_json(learned: LearnedFace) -> dict[str, Any]:
    return {
        "id": learned.id,
        "student_id": learned.student_id,
        "student_name": learned.student.name,
        "student_number": learned.student.student_number,
        "session_id": learned.session_id,
        "sighting_id": learned.sighting_id,
        "template_id": learned.template_id,
        "created_at": iso(learned.created_at),
        "thumbnail_url": (
            url_for("api.get_sighting_thumbnail", sighting_id=learned.sighting_id)
            if learned.sighting_id is not None and learned.session_id is not None
            else None
        ),
    }


def learned_faces_json(db: Session, lecture: LectureSession) -> list[dict[str, Any]]:
    return [learned_json(row) for row in learned_in(db, lecture)]
