"""Grouping faces into people, incrementally, the way Immich does it.

Immich's rule (docs "Facial Recognition", server `handleRecognizeFaces`): a face only *starts* a new
person when it is a core point, i.e. at least `min_core` faces (itself included) lie within the
same-person threshold of it (DBSCAN's core points); a face with a person nearby joins that person;
anything else is left unassigned and retried on the next run, when more photos may have made it
part of a core. This keeps one odd photo from spawning a "person" while never forcing a face into
the wrong person.

One deliberate difference: Immich joins the person of the *nearest* face; here, by default, a face
joins the nearby person whose *mean* embedding is most similar (`join_rule="centroid"`). A single
odd face of a person then no longer pulls look-alikes in after it: on 1,403 LFW faces of 485 people
purity rises from 0.71 to 0.78 at threshold 0.93, min_core 2 (bench/measure_album.py), for a little
completeness. `join_rule="nearest"` is Immich's rule.

Each run goes in rounds: (1) unassigned faces first try the existing people (and people
confirmed earlier in the run); (2) the faces still free form tentative new people around core
points, where only *free* faces count toward a core (faces of assigned people are evidence for
their person, not for a new one); (3) tentative people with fewer than `min_core` faces release
their faces, which go back to step 1 in the next round (a round only follows one that confirmed a
new person). Without step 1 first, a face the user took out of a person ("not this person") sits
among that person's faces, seeds a tentative person, captures the person's next photo and both
end up unassigned.

Here it is a pure function over numpy arrays and ids, deterministic (faces are visited by id when
joining, densest first when seeding, ties by id), with the user's corrections taken into account:

* "not this person" pairs (face id, person id): that face never joins that person again;
* hidden people: faces that match them join them quietly (so the person does not come back as a
  "new" one), or, with `join_hidden=False`, stay unassigned; either way no new person is seeded
  from faces whose nearest person is hidden.

The caller (the album's indexing job) stores the result: creates rows for `new_people`, writes
`assignments`, and keeps `leftovers` for the next run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

UNASSIGNED = -1
# Cosine similarity at which two faces count as one person *for grouping*, per embedder; see
# bench/measure_album.py and the "Measured" section of docs/album.md for how 0.93 was chosen
# (0.94 is purer on very large libraries of look-alikes, at the cost of more faces left over).
_BLOCK = 2048  # rows per block of the exact similarity product (bounds memory at 2048 x N floats)


class GroupingError(ValueError):
    """Inconsistent input to the grouping (shapes, duplicate face ids, bad parameters)."""


class NeighbourSearch(Protocol):
    """Anything that answers radius queries over the same faces, e.g. `server.album.ann.FaceIndex`."""

    def search_many(
        self, queries: np.ndarray, k: int | None = ..., min_similarity: float | None = ...
    ) -> list[list]: ...  # list of hits with `.id` and `.similarity`


@dataclass(frozen=True)
class GroupingParams:
    """Cosine-similarity thresholds and the core size.

    `threshold` is the neighbourhood radius for core points; `join_threshold` (default: the same)
    is how close a face must be to a face of an existing person to join it.
    """

    threshold: float
    min_core: int = 3
    join_threshold: float | None = None
    join_hidden: bool = True
    join_rule: Literal["centroid", "nearest"] = "centroid"

    def __post_init__(self) -> None:
        if self.min_core < 1:
            raise GroupingError("min_core must be at least 1.")
        if not -1.0 <= self.threshold <= 1.0:
            raise GroupingError("threshold is a cosine similarity, between -1 and 1.")

    @property
    def join(self) -> float:
        return self.threshold if self.join_threshold is None else self.join_threshold

    @classmethod
    def for_embedder(cls, name: str = "dlib_resnet", *, min_core: int = 3) -> GroupingParams:
        """Grouping parameters for an embedder (name or id): its `album_threshold`, docs/album.md.

        Stricter than the embedder's pair threshold: grouping compares every face with every other,
        so impostor pairs are many and one false link merges two people. On 1,403 LFW faces of 485
        look-alike people (core of 3) purity is 0.34 at 0.92, 0.70 at 0.93 and 0.92 at 0.94, for
        completeness 0.84 / 0.69 / 0.56; on the small family-sized sets it is 1.00 from 0.93 on,
        with completeness 0.90-0.99 at 0.93 and 0.84-0.98 at 0.94 (dlib ResNet figures).
        """
        from shared.embed import require_embedder

        return cls(threshold=float(require_embedder(name)["album_threshold"]), min_core=min_core)


@dataclass(frozen=True)
class NewPerson:
    """Faces that form a person not in the database yet; `key` numbers them within one result."""

    key: int
    face_ids: tuple[int, ...]


@dataclass
class GroupingResult:
    """What one grouping run decided. Faces already assigned before the run are not repeated."""

    assignments: dict[int, int] = field(default_factory=dict)  # face id -> existing person id
    new_people: list[NewPerson] = field(default_factory=list)
    leftovers: list[int] = field(default_factory=list)  # face ids still unassigned, sorted

    def labels(self, existing: Mapping[int, int] | None = None) -> dict[int, str]:
        """Face id -> a person label ("p<id>" existing, "n<key>" new) for every assigned face."""
        out = {f: f"p{p}" for f, p in (existing or {}).items()}
        out.update({f: f"p{p}" for f, p in self.assignments.items()})
        for person in self.new_people:
            out.update({f: f"n{person.key}" for f in person.face_ids})
        return out


def _radius_exact(
    queries: np.ndarray, base: np.ndarray, threshold: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each query row: (positions in base, similarities) of rows with similarity >= threshold."""
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for start in range(0, queries.shape[0], _BLOCK):
        sims = queries[start : start + _BLOCK] @ base.T
        for row in sims:
            pos = np.flatnonzero(row >= threshold)
            out.append((pos, row[pos]))
    return out


def _radius_index(
    queries: np.ndarray, ids: np.ndarray, search: NeighbourSearch, threshold: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    where = {int(f): i for i, f in enumerate(ids.tolist())}
    out = []
    for hits in search.search_many(queries, k=None, min_similarity=threshold):
        pairs = [(where[h.id], h.similarity) for h in hits if h.id in where]
        pos = np.array([p for p, _ in pairs], dtype=np.int64)
        out.append((pos, np.array([s for _, s in pairs], dtype=np.float32)))
    return out


def _best_person(
    face: int,
    face_id: int,
    neighbours: tuple[np.ndarray, np.ndarray],
    labels: np.ndarray,
    ids: np.ndarray,
    vectors: np.ndarray,
    sums: Mapping[int, np.ndarray],
    rejected: Collection[tuple[int, int]],
    params: GroupingParams,
) -> int | None:
    """The person this face should join, or None: among people with a face in its neighbourhood,
    the nearest face's person ("nearest", Immich) or the person whose mean is most similar
    ("centroid"); either way at least `params.join` similar and not rejected by the user."""
    best: tuple[float, int, int] | None = None  # (similarity, tie-break, person)
    pos, sim = neighbours
    for p, s in zip(pos.tolist(), sim.tolist(), strict=True):
        person = int(labels[p])
        if person == UNASSIGNED or (face_id, person) in rejected:
            continue
        if params.join_rule == "nearest":
            key = (s, -int(ids[p]), person)
        else:
            mean = sums[person]
            key = (float(vectors[face] @ mean) / max(float(np.linalg.norm(mean)), 1e-12), -person, person)
        if key[0] >= params.join and (best is None or key > best):
            best = key
    return None if best is None else best[2]


def group_faces(
    face_ids: Sequence[int] | np.ndarray,
    embeddings: np.ndarray,
    person_ids: Sequence[int | None] | np.ndarray,
    *,
    params: GroupingParams,
    not_person: Iterable[tuple[int, int]] = (),
    hidden_people: Collection[int] = (),
    search: NeighbourSearch | None = None,
) -> GroupingResult:
    """Assign unassigned faces to existing or new people; see the module docstring for the rule.

    `face_ids` (N,), `embeddings` (N, D) L2-normalised, `person_ids` (N,) with None or -1 for
    "unassigned". All of a user's faces should be passed (assigned ones are the people's
    evidence). `search`, an index over exactly these faces, replaces the exact N x N comparison
    for large libraries.
    """
    ids = np.asarray(face_ids, dtype=np.int64).ravel()
    vectors = np.asarray(embeddings, dtype=np.float32)
    persons = np.array([UNASSIGNED if p is None else int(p) for p in person_ids], dtype=np.int64)
    if vectors.ndim != 2 or vectors.shape[0] != ids.size or persons.size != ids.size:
        raise GroupingError(
            f"{ids.size} face ids, {persons.size} person ids and embeddings of shape "
            f"{vectors.shape}: they must line up."
        )
    if np.unique(ids).size != ids.size:
        raise GroupingError("Face ids must be unique.")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.maximum(norms, 1e-12)

    pending = np.flatnonzero(persons == UNASSIGNED)
    result = GroupingResult()
    if not pending.size:
        return result
    radius = min(params.threshold, params.join)
    if search is not None:
        neighbours = _radius_index(vectors[pending], ids, search, radius)
    else:
        neighbours = _radius_exact(vectors[pending], vectors, radius)
    # Drop the face itself from its own neighbour list.
    neighbours = [(pos[pos != i], sim[pos != i]) for i, (pos, sim) in zip(pending, neighbours, strict=True)]

    rejected = {(int(f), int(p)) for f, p in not_person}
    hidden = {int(p) for p in hidden_people}
    labels = persons.copy()
    next_label = max(int(persons.max()), 0) + 1
    blocked: set[int] = set()  # faces whose nearest person is hidden and join_hidden is False
    confirmed: set[int] = set()  # new people that reached a core's worth of faces

    # Running sum of each person's embeddings: the person's mean direction for the centroid rule.
    sums: dict[int, np.ndarray] = {}
    for face in np.flatnonzero(labels != UNASSIGNED).tolist():
        person = int(labels[face])
        sums[person] = sums.get(person, 0.0) + vectors[face].astype(np.float64)

    def join(face: int, j: int) -> int | None:
        """Put the face with its best person (if any); returns that person."""
        person = _best_person(
            face, int(ids[face]), neighbours[j], labels, ids, vectors, sums, rejected, params
        )
        if person is None:
            return None
        if person in hidden and not params.join_hidden:
            blocked.add(face)
            return None
        labels[face] = person
        sums[person] = sums[person] + vectors[face]
        return person

    by_id = sorted(range(pending.size), key=lambda j: int(ids[pending[j]]))
    while True:
        # 1. Faces first try the people that exist (before this run or confirmed in it), so a
        #    person's new photo is not captured by a tentative group of look-alike leftovers.
        changed = True
        while changed:
            changed = False
            for j in by_id:
                face = int(pending[j])
                if labels[face] == UNASSIGNED and face not in blocked and join(face, j) is not None:
                    changed = True
        # 2. Cores among the faces still free: only they count toward a new person's core, so a
        #    face the user took out of a person is not made a "new person" by that person's faces.
        free = [j for j in by_id if labels[pending[j]] == UNASSIGNED and int(pending[j]) not in blocked]
        if not free:
            break
        is_free = np.zeros(ids.size, dtype=bool)
        is_free[pending[free]] = True
        density = {
            j: 1 + int((is_free[neighbours[j][0]] & (neighbours[j][1] >= params.threshold)).sum())
            for j in free
        }
        order = sorted(free, key=lambda j: (-density[j], int(ids[pending[j]])))
        round_start = next_label
        changed = True
        while changed:
            changed = False
            for j in order:
                face = int(pending[j])
                if labels[face] != UNASSIGNED or face in blocked:
                    continue
                if join(face, j) is not None:
                    changed = True
                elif density[j] >= params.min_core:
                    labels[face] = next_label
                    sums[next_label] = vectors[face].astype(np.float64)
                    next_label += 1
                    changed = True
        # 3. A new person must end with a core's worth of faces; smaller tentative groups release
        #    their faces, which go back to step 1 (a person confirmed here may take them).
        members = Counter(int(labels[pending[j]]) for j in free)
        grown = {label for label, n in members.items() if label >= round_start and n >= params.min_core}
        for j in free:
            label = int(labels[pending[j]])
            if label >= round_start and label not in grown:
                labels[pending[j]] = UNASSIGNED
        for label in range(round_start, next_label):
            if label not in grown:
                sums.pop(label, None)
        confirmed |= grown
        if not grown:
            break

    new_members: dict[int, list[int]] = {}
    for face in pending.tolist():
        label = int(labels[face])
        if label in confirmed:
            new_members.setdefault(label, []).append(int(ids[face]))
        elif label != UNASSIGNED:
            result.assignments[int(ids[face])] = label
    result.leftovers = sorted(int(ids[f]) for f in pending.tolist() if labels[f] == UNASSIGNED)
    for key, label in enumerate(sorted(new_members)):
        result.new_people.append(NewPerson(key, tuple(sorted(new_members[label]))))
    return result


@dataclass(frozen=True)
class GroupingScores:
    """How a grouping compares with the true identities (for docs and tests, not for the app).

    purity: share of assigned faces that belong to their person's majority identity.
    completeness: share of faces (of identities with >= 2 faces) that sit in their identity's
    largest person; unassigned faces count as misses.
    """

    purity: float
    completeness: float
    assigned: float  # share of faces assigned to any person
    people: int
    identities: int


def score_grouping(truth: Mapping[int, str], predicted: Mapping[int, str | int]) -> GroupingScores:
    """Compare predicted person labels (face id -> label; absent = unassigned) with the truth."""
    clusters: dict[str | int, Counter[str]] = {}
    for face, label in predicted.items():
        clusters.setdefault(label, Counter())[truth[face]] += 1
    assigned = sum(sum(c.values()) for c in clusters.values())
    purity = sum(max(c.values()) for c in clusters.values()) / assigned if assigned else 0.0
    by_identity: dict[str, Counter[str | int]] = {}
    sizes = Counter(truth.values())
    for face, identity in truth.items():
        if face in predicted:
            by_identity.setdefault(identity, Counter())[predicted[face]] += 1
    counted = [name for name, n in sizes.items() if n >= 2]
    total = sum(sizes[name] for name in counted)
    hit = sum(max(by_identity[name].values()) for name in counted if name in by_identity)
    return GroupingScores(
        purity=float(purity),
        completeness=float(hit / total) if total else 0.0,
        assigned=float(assigned / len(truth)) if truth else 0.0,
        people=len(clusters),
        identities=len(sizes),
    )
