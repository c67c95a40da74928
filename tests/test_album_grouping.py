"""Grouping faces into people: Immich's core-point rule, the user's corrections, determinism.

Quality is checked on real embeddings of the 100 LFW photos of lfw_subset_10x10 (10 people);
the rules on small hand-made vector sets where the right answer is known by construction.
"""

from __future__ import annotations

import numpy as np
import pytest

from server.album.ann import FaceIndex
from server.album.grouping import (
    GroupingError,
    GroupingParams,
    group_faces,
    score_grouping,
)
from shared.embed import DEFAULT_EMBEDDER

PARAMS = GroupingParams(threshold=0.9, min_core=3)


def people(n_people: int, per_person: int, seed: int = 0, spread: float = 0.15) -> np.ndarray:
    """Unit vectors: `per_person` tight copies around each of `n_people` well-separated centres."""
    rng = np.random.default_rng(seed)
    centres = np.linalg.qr(rng.normal(size=(64, 64)))[0][:n_people]  # orthogonal: cos 0 between people
    x = np.repeat(centres, per_person, axis=0) + spread / 8 * rng.normal(size=(n_people * per_person, 64))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def as_sets(result) -> set[frozenset[int]]:
    return {frozenset(p.face_ids) for p in result.new_people}


def test_real_faces_group_into_pure_people(lfw10_faces):
    names, vectors = lfw10_faces
    ids = np.arange(len(names))
    truth = dict(zip(ids.tolist(), names, strict=True))
    params = GroupingParams.for_embedder(DEFAULT_EMBEDDER)
    result = group_faces(ids, vectors, [None] * len(ids), params=params)
    scores = score_grouping(truth, result.labels())
    # Measured on this set (bench/measure_album.py): purity 1.00, completeness 0.99, 10 people.
    assert scores.purity >= 0.97
    assert scores.completeness >= 0.75
    assert 8 <= scores.people <= 14
    assert set(result.leftovers) == set(ids.tolist()) - set(result.labels())


def test_real_faces_incremental_uploads_reach_the_same_quality(lfw10_faces):
    names, vectors = lfw10_faces
    ids = np.arange(len(names))
    truth = dict(zip(ids.tolist(), names, strict=True))
    params = GroupingParams.for_embedder(DEFAULT_EMBEDDER)
    persons: dict[int, int] = {}
    arrived = np.zeros(len(ids), dtype=bool)
    for chunk in np.array_split(np.random.default_rng(0).permutation(len(ids)), 5):
        arrived[chunk] = True
        seen = ids[arrived]
        result = group_faces(seen, vectors[arrived], [persons.get(int(f)) for f in seen], params=params)
        assert not set(result.assignments) & set(persons)  # earlier decisions are not revisited
        persons.update(result.assignments)
        for person in result.new_people:
            persons.update({f: 1000 + len(persons) + person.key for f in person.face_ids})
    scores = score_grouping(truth, {f: str(p) for f, p in persons.items()})
    assert scores.purity >= 0.97
    assert scores.completeness >= 0.75


def test_real_faces_a_new_photo_joins_its_person_after_one_face_was_taken_out(lfw10_faces):
    """Reported bug: the rejected face sat among its old person's faces, seeded a tentative person,
    captured the person's next photo, and both were left over (the pair was below min_core)."""
    names, vectors = lfw10_faces
    tony = [i for i, name in enumerate(names) if name == "Tony_Blair"]  # Tony_Blair_0001 .. 0010
    params = GroupingParams.for_embedder(DEFAULT_EMBEDDER)
    first = tony[:4]
    grouped = group_faces(first, vectors[first], [None] * 4, params=params)
    assert as_sets(grouped) == {frozenset(first)}  # photos 1-4 make one person
    person = 7
    rejected = first[0]
    later = [*first, tony[6]]  # Tony_Blair_0007 arrives after the user's correction
    existing = [None, person, person, person, None]
    plain = group_faces(later, vectors[later], [person] * 4 + [None], params=params)
    assert plain.assignments == {tony[6]: person}
    told = group_faces(later, vectors[later], existing, params=params, not_person=[(rejected, person)])
    assert told.assignments == {tony[6]: person}
    assert told.leftovers == [rejected] and not told.new_people


def test_a_tentative_group_below_min_core_releases_its_faces_to_a_confirmed_person():
    """Loose people (seed and spread picked so this happens): one face of the third person is first
    captured by a tentative pair that stays below min_core; released, it joins its own person,
    which a single pass left without it."""
    vectors = people(3, 5, seed=34, spread=0.3)
    result = group_faces(np.arange(15), vectors, [None] * 15, params=PARAMS)
    assert as_sets(result) == {frozenset(range(0, 5)), frozenset(range(5, 10)), frozenset(range(10, 15))}
    assert result.leftovers == [] and not result.assignments


def test_core_rule_singletons_wait_and_join_once_a_core_exists():
    vectors = people(3, 4)
    ids = np.arange(12)
    # Person 0 has 4 faces (a core), person 1 only 2 so far, person 2 a single face.
    take = np.array([0, 1, 2, 3, 4, 5, 8])
    result = group_faces(ids[take], vectors[take], [None] * 7, params=PARAMS)
    assert as_sets(result) == {frozenset({0, 1, 2, 3})}
    assert result.leftovers == [4, 5, 8] and not result.assignments
    # More photos arrive: person 1 gets a third face, which makes a core.
    take = np.array([0, 1, 2, 3, 4, 5, 6, 8])
    existing = [7, 7, 7, 7, None, None, None, None]
    result = group_faces(ids[take], vectors[take], existing, params=PARAMS)
    assert as_sets(result) == {frozenset({4, 5, 6})}
    assert result.leftovers == [8] and not result.assignments
    # A new face of an existing person joins it instead of starting a new one.
    take = np.array([0, 1, 2, 3, 8])
    result = group_faces(ids[take], vectors[take], [7, 7, 7, None, None], params=PARAMS)
    assert result.assignments == {3: 7} and not result.new_people and result.leftovers == [8]


def test_not_this_person_is_respected():
    vectors = people(2, 5, seed=1)
    ids = np.arange(100, 110)
    existing = [1, 1, 1, 1, None, 2, 2, 2, 2, 2]
    plain = group_faces(ids, vectors, existing, params=PARAMS)
    assert plain.assignments == {104: 1}
    # The user said face 104 is not person 1: it is not put back, nor anywhere else wrong.
    told = group_faces(ids, vectors, existing, params=PARAMS, not_person=[(104, 1)])
    assert 104 not in told.assignments and told.leftovers == [104] and not told.new_people
    # Other faces are not affected by that correction.
    existing2 = [1, 1, 1, None, None, 2, 2, 2, 2, 2]
    told2 = group_faces(ids, vectors, existing2, params=PARAMS, not_person=[(104, 1)])
    assert told2.assignments == {103: 1} and told2.leftovers == [104]


def test_centroid_rule_does_not_follow_one_odd_face_where_immichs_nearest_rule_does():
    e1, e2 = np.eye(3)[0], np.eye(3)[1]
    odd = (e1 + 0.5 * e2) / np.linalg.norm(e1 + 0.5 * e2)  # a person's unusual photo (user-placed)
    lookalike = (e1 + e2) / np.linalg.norm(e1 + e2)  # 0.95 similar to that photo, 0.71 to the rest
    vectors = np.stack([e1, e1, e1, e1, odd, lookalike])
    existing = [4, 4, 4, 4, 4, None]
    nearest = group_faces(
        np.arange(6), vectors, existing, params=GroupingParams(threshold=0.9, join_rule="nearest")
    )
    centroid = group_faces(np.arange(6), vectors, existing, params=GroupingParams(threshold=0.9))
    assert nearest.assignments == {5: 4}
    assert not centroid.assignments and centroid.leftovers == [5]


def test_hidden_people_absorb_their_faces_or_block_them():
    vectors = people(1, 6, seed=2)
    ids = np.arange(6)
    existing = [9, 9, 9, None, None, None]
    joined = group_faces(ids, vectors, existing, params=PARAMS, hidden_people={9})
    assert joined.assignments == {3: 9, 4: 9, 5: 9} and not joined.new_people
    strict = GroupingParams(threshold=0.9, min_core=3, join_hidden=False)
    blocked = group_faces(ids, vectors, existing, params=strict, hidden_people={9})
    # The three new faces form a core, but they are the hidden person: no "new" person appears.
    assert not blocked.assignments and not blocked.new_people and blocked.leftovers == [3, 4, 5]


def test_deterministic_whatever_the_input_order():
    vectors = people(5, 6, seed=3, spread=0.35)  # loose: some people form, some faces are left over
    ids = np.arange(30) * 3 + 1
    first = group_faces(ids, vectors, [None] * 30, params=PARAMS)
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(30)
        again = group_faces(ids[order], vectors[order], [None] * 30, params=PARAMS)
        assert as_sets(again) == as_sets(first) and again.leftovers == first.leftovers
    assert len(first.new_people) >= 3 and first.leftovers


def test_index_search_gives_the_same_grouping_as_exact():
    vectors = people(6, 8, seed=4, spread=0.3)
    ids = np.arange(48)
    exact = group_faces(ids, vectors, [None] * 48, params=PARAMS)
    index = FaceIndex.build(ids, vectors.astype(np.float32), exact_limit=10)
    assert index.approximate
    via_index = group_faces(ids, vectors, [None] * 48, params=PARAMS, search=index)
    assert as_sets(via_index) == as_sets(exact) and len(as_sets(exact)) == 6


def test_scores_detect_merged_and_split_people():
    truth = {1: "a", 2: "a", 3: "a", 4: "b", 5: "b", 6: "b"}
    merged = score_grouping(truth, {f: "x" for f in truth})
    assert merged.purity == pytest.approx(0.5) and merged.completeness == 1.0
    split = score_grouping(truth, {1: "x", 2: "y", 4: "z", 5: "z", 6: "z"})
    assert split.purity == 1.0 and split.completeness == pytest.approx(4 / 6)
    assert split.assigned == pytest.approx(5 / 6)


def test_bad_input_is_refused():
    with pytest.raises(GroupingError, match="line up"):
        group_faces([1, 2], np.ones((3, 8)), [None, None], params=PARAMS)
    with pytest.raises(GroupingError, match="unique"):
        group_faces([1, 1], np.ones((2, 8)), [None, None], params=PARAMS)
    with pytest.raises(GroupingError, match="min_core"):
        GroupingParams(threshold=0.9, min_core=0)
