"""Distances, threshold calibration and the k-fold protocol on controlled scores."""

from __future__ import annotations

import numpy as np
import pytest

from shared.similarity import (
    best_accuracy_threshold,
    calibrate,
    cosine_similarity,
    euclidean_distance,
    kfold_accuracy,
    paired_similarity,
    rates_at,
    same_person,
    threshold_for_far,
)

pytestmark = pytest.mark.device_profile


def test_distances_agree_with_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 8)), rng.normal(size=(7, 8))
    expected = np.linalg.norm(a[:, None] - b[None], axis=2)
    assert np.allclose(euclidean_distance(a, b), expected, atol=1e-4)
    cos = cosine_similarity(a, b)
    assert np.allclose(cos[2, 3], a[2] @ b[3] / np.linalg.norm(a[2]) / np.linalg.norm(b[3]), atol=1e-5)
    assert np.allclose(
        paired_similarity(a[:5], b[:5], "euclidean"), -expected[np.arange(5), np.arange(5)], atol=1e-4
    )


def test_separable_scores_give_perfect_accuracy():
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    same = np.array([False, False, False, True, True, True])
    threshold, accuracy = best_accuracy_threshold(scores, same)
    assert accuracy == 1.0
    assert 0.3 < threshold < 0.7


def test_overlap_gives_the_best_possible_cut():
    scores = np.array([0.1, 0.5, 0.4, 0.9, 0.35, 0.8])
    same = np.array([False, False, True, True, False, True])
    threshold, accuracy = best_accuracy_threshold(scores, same)
    brute = max(((scores >= t) == same).mean() for t in np.linspace(0, 1, 1001))
    assert accuracy == pytest.approx(brute)
    assert ((scores >= threshold) == same).mean() == pytest.approx(accuracy)


def test_far_threshold_holds_the_rate():
    rng = np.random.default_rng(1)
    impostors = rng.normal(0.0, 1.0, 10_000)
    genuine = rng.normal(3.0, 1.0, 1_000)
    scores = np.concatenate([impostors, genuine])
    same = np.concatenate([np.zeros(10_000, bool), np.ones(1_000, bool)])
    for far in (1e-2, 1e-3):
        t = threshold_for_far(scores, same, far)
        measured_far = rates_at(scores, same, t)[1]
        assert measured_far <= far
        assert measured_far > far / 3  # not absurdly strict either


def test_calibrate_reports_everything():
    scores = np.array([0.1, 0.2, 0.8, 0.9])
    same = np.array([False, False, True, True])
    result = calibrate(scores, same, "cosine")
    assert result.accuracy == 1.0 and result.pairs == 4
    assert set(result.far_thresholds) == {"0.01", "0.001"}
    assert result.tar_at_far["0.01"] == 1.0


def test_kfold_chooses_threshold_out_of_fold():
    # Fold 0 would need a different threshold than folds 1-2: out-of-fold choice must cost accuracy.
    scores = np.array([0.9, 0.8, 0.1, 0.2, 0.9, 0.8, 0.1, 0.2, 0.45, 0.5, 0.3, 0.35])
    same = np.array([1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0], bool)
    folds = [np.arange(8, 12), np.arange(0, 4), np.arange(4, 8)]
    _mean, std, per_fold, thresholds = kfold_accuracy(scores, same, folds)
    assert per_fold[1] == per_fold[2] == 1.0
    assert per_fold[0] < 1.0
    assert std > 0 and len(thresholds) == 3


def test_same_person_direction():
    assert same_person(0.5, "euclidean", 0.6) and not same_person(0.7, "euclidean", 0.6)
    assert same_person(0.7, "cosine", 0.6) and not same_person(0.5, "cosine", 0.6)


def test_unknown_metric():
    with pytest.raises(ValueError, match="Unknown metric"):
        paired_similarity(np.ones((1, 2)), np.ones((1, 2)), "manhattan")  # type: ignore[arg-type]
