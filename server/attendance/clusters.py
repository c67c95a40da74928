"""Unknown faces that cluster: the same stranger in several tracks and sessions becomes one decision.

The rule is Immich's incremental core rule, applied one face at a time as unknown tracks appear
(`ClusterIndex.place`): a face joins the cluster of its nearest clustered face when that similarity
reaches the embedder's cluster threshold *and* the face has enough close neighbours in that cluster
(at least `min_neighbours` members at the threshold, or all of them while the cluster is smaller);
otherwise it starts a new cluster. The neighbour count keeps one borderline face from chaining two
people together; faces are never moved once placed, so an instructor's decision never changes
meaning under them.

Scope: a course and an embedder (`UnknownCluster.course_id`, `.model`); a track's face is the
embedding of its best view, which the device sends with the track's sightings
(`Sighting.embedding`, little-endian float32). Tracks without an embedding stay unclustered and
are decided alone, as before.

Thresholds (cosine) were calibrated on real faces with `bench/cluster_unknowns.py` (same-person vs
different-person pairs of ../shared/data/lfw_east_asian_dev and lfw_subset_10x10, and the purity of
the clusters this rule builds from them); the figures are in docs/attendance.md, "Unknown faces".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import (
    LectureSession,
    Sighting,
    UnknownCluster,
    UnknownClusterMember,
    UnknownFaceReview,
)
from shared.embed import embedder_id, embedder_name, require_embedder
from shared.similarity import l2_normalize

DTYPE = np.dtype("<f4")
# Cosine thresholds per embedder for joining a cluster (see the module docstring and docs/attendance.md).
CLUSTER_THRESHOLDS = {"sface": 0.43, "dlib_resnet": 0.93, "fused": 0.78}
MIN_NEIGHBOURS = 2


def cluster_threshold(model: str, config: Mapping[str, Any] | None = None) -> float:
    """The join threshold for `model` (an embedder without a measured one: its strict 1:N threshold).

    `config` is accepted for a per-deployment setting to come; none is read yet."""
    name = embedder_name(model)
    return CLUSTER_THRESHOLDS.get(name, float(require_embedder(name)["strict_threshold"]))


def vector_of(data: bytes | None) -> np.ndarray | None:
    """A stored embedding as a unit float32 vector (None when absent, empty or not finite)."""
    if not data or len(data) % DTYPE.itemsize:
        return None
    vector = np.frombuffer(data, dtype=DTYPE).astype(np.float32)
    if not np.all(np.isfinite(vector)) or not np.any(vector):
        return None
    return l2_normalize(vector)


def model_id(name: str | None) -> str | None:
    """The embedder id (`sface@2021dec`) for a stored model name, None for one this server lacks."""
    if not name:
        return None
    try:
        return embedder_id(name)
    except ValueError:
        return None


# ----------------------------------------------------------------------------- the rule


@dataclass
class Placement:
    cluster: int | None  # the joined cluster's key; None: start a new one
    similarity: float | None  # to the nearest clustered face (None when there is none)


@dataclass
class ClusterIndex:
    """The clustered faces of one scope (course, embedder) as unit vectors with their cluster keys."""

    threshold: float
    min_neighbours: int = MIN_NEIGHBOURS
    vectors: list[np.ndarray] = field(default_factory=list)
    keys: list[Any] = field(default_factory=list)

    def place(self, vector: np.ndarray) -> Placement:
        """Where the core rule puts `vector` (a unit vector); does not add it."""
        if not self.vectors:
            return Placement(None, None)
        sims = np.stack(self.vectors) @ vector
        nearest = int(np.argmax(sims))
        best = float(sims[nearest])
        if best < self.threshold:
            return Placement(None, best)
        key = self.keys[nearest]
        members = [i for i, k in enumerate(self.keys) if k == key]
        close = sum(1 for i in members if sims[i] >= self.threshold)
        if close >= min(self.min_neighbours, len(members)):
            return Placement(key, best)
        return Placement(None, best)

    def add(self, vector: np.ndarray, key: Any) -> None:
        self.vectors.append(vector)
        self.keys.append(key)


def cluster_vectors(vectors: np.ndarray, threshold: float, min_neighbours: int = MIN_NEIGHBOURS) -> list[int]:
    """The rule over faces in the given order: a cluster number per face (what the bench measures)."""
    index = ClusterIndex(threshold, min_neighbours)
    labels: list[int] = []
    for vector in l2_normalize(np.asarray(vectors, dtype=np.float32)):
        placed = index.place(vector)
        label = placed.cluster if placed.cluster is not None else (max(labels, default=-1) + 1)
        index.add(vector, label)
        labels.append(label)
    return labels


# ----------------------------------------------------------------------------- the database


def best_views(
    db: Session, lecture: LectureSession, tracks: list[str] | None = None
) -> dict[tuple[int, str], Sighting]:
    """Per (device, track) of the session, the unknown sighting carrying the best-view embedding.

    Every event of an unknown track carries the embedding of the track's best view *so far*
    (docs/mqtt.md, "Faces of unknown tracks"), so the latest event that carries one holds the
    track's best view overall. `tracks`: only these track ids (None: all)."""
    query = select(Sighting).where(
        Sighting.session_id == lecture.id,
        Sighting.student_id.is_(None),
        Sighting.embedding.is_not(None),
    )
    if tracks is not None:
        query = query.where(Sighting.track_id.in_(sorted(set(tracks))))
    rows = db.scalars(query)
    best: dict[tuple[int, str], Sighting] = {}
    for row in rows:
        key = (row.device_id, row.track_id)
        held = best.get(key)
        if held is None or (row.captured_at, row.id) > (held.captured_at, held.id):
            best[key] = row
    return best


def course_index(db: Session, course_id: int, model: str, threshold: float) -> ClusterIndex:
    """Every clustered face of the course for `model`, oldest member first."""
    index = ClusterIndex(threshold)
    rows = db.execute(
        select(UnknownClusterMember.cluster_id, Sighting.embedding)
        .join(UnknownCluster, UnknownCluster.id == UnknownClusterMember.cluster_id)
        .join(Sighting, Sighting.id == UnknownClusterMember.sighting_id)
        .where(UnknownCluster.course_id == course_id, UnknownCluster.model == model)
        .order_by(UnknownClusterMember.joined_at, UnknownClusterMember.review_id)
    )
    for cluster_id, data in rows:
        vector = vector_of(data)
        if vector is not None:
            index.add(vector, cluster_id)
    return index


def cluster_session(db: Session, lecture: LectureSession, config: Mapping[str, Any] | None = None) -> int:
    """Place every unclustered unknown track of the session that has an embedding; returns how many.

    Writes (not committed) the new clusters, memberships and sizes of one pass: the caller commits
    them together or rolls all of them back, so no cluster is ever half-built. A concurrent pass
    that placed the same review first makes the commit fail on the membership's primary key."""
    reviews = list(
        db.scalars(
            select(UnknownFaceReview)
            .outerjoin(UnknownClusterMember, UnknownClusterMember.review_id == UnknownFaceReview.id)
            .where(UnknownFaceReview.session_id == lecture.id, UnknownClusterMember.review_id.is_(None))
            .order_by(UnknownFaceReview.id)
        )
    )
    if not reviews:
        return 0
    views = best_views(db, lecture, [review.track_id for review in reviews])
    indexes: dict[str, ClusterIndex] = {}
    clusters: dict[int, UnknownCluster] = {}
    placed = 0
    pending: dict[str, list[tuple[UnknownFaceReview, Sighting, np.ndarray]]] = defaultdict(list)
    for review in reviews:
        sighting = views.get((review.device_id, review.track_id))
        model = model_id(sighting.embedding_model) if sighting is not None else None
        vector = vector_of(sighting.embedding) if sighting is not None else None
        if sighting is None or model is None or vector is None:
            continue
        pending[model].append((review, sighting, vector))
    for model, faces in pending.items():
        index = indexes.setdefault(
            model, course_index(db, lecture.course_id, model, cluster_threshold(model, config))
        )
        for review, sighting, vector in faces:
            where = index.place(vector)
            if where.cluster is None:
                cluster = UnknownCluster(course_id=lecture.course_id, model=model, size=0)
                db.add(cluster)
                db.flush()
                clusters[cluster.id] = cluster
            else:
                cluster = clusters.get(where.cluster) or db.get(UnknownCluster, where.cluster)
                assert cluster is not None
                clusters[cluster.id] = cluster
            cluster.size += 1
            db.add(
                UnknownClusterMember(
                    review_id=review.id,
                    cluster_id=cluster.id,
                    sighting_id=sighting.id,
                    similarity=where.similarity,
                )
            )
            index.add(vector, cluster.id)
            placed += 1
    db.flush()
    return placed


def membership(db: Session, review_ids: list[int]) -> dict[int, UnknownClusterMember]:
    """review id -> its cluster membership, for the reviews that have one."""
    if not review_ids:
        return {}
    rows = db.scalars(select(UnknownClusterMember).where(UnknownClusterMember.review_id.in_(review_ids)))
    return {row.review_id: row for row in rows}


def members_of(db: Session, cluster: UnknownCluster) -> list[UnknownClusterMember]:
    return list(
        db.scalars(
            select(UnknownClusterMember)
            .where(UnknownClusterMember.cluster_id == cluster.id)
            .order_by(UnknownClusterMember.joined_at, UnknownClusterMember.review_id)
        )
    )


def cluster_vectors_of(db: Session, cluster_id: int) -> list[np.ndarray]:
    """The unit embeddings of a cluster's members."""
    rows = db.scalars(
        select(Sighting.embedding)
        .join(UnknownClusterMember, UnknownClusterMember.sighting_id == Sighting.id)
        .where(UnknownClusterMember.cluster_id == cluster_id)
    )
    return [v for v in (vector_of(data) for data in rows) if v is not None]
