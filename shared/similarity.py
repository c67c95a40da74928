"""Distances between embeddings and thresholds calibrated from labelled pairs.

Every comparison in Visage is a *similarity* (higher means more alike): cosine similarity
for L2-normalised embeddings, or minus the Euclidean distance (dlib's native metric,
threshold 0.6). Calibration picks the accuracy-peak threshold and the thresholds that
hold a target false-accept rate, the two figures an operator actually chooses between.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

Metric = Literal["cosine", "euclidean"]


def l2_normalize(vectors: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, eps)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity: (N,D) x (M,D) -> (N,M)."""
    return l2_normalize(np.atleast_2d(a)) @ l2_normalize(np.atleast_2d(b)).T


def euclidean_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distance: (N,D) x (M,D) -> (N,M)."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float32))
    b = np.atleast_2d(np.asarray(b, dtype=np.float32))
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(squared, 0.0))


def similarity(a: np.ndarray, b: np.ndarray, metric: Metric) -> np.ndarray:
    """Pairwise similarity under `metric`; higher is more alike for both metrics."""
    if metric == "cosine":
        return cosine_similarity(a, b)
    if metric == "euclidean":
        return -euclidean_distance(a, b)
    raise ValueError(f"Unknown metric '{metric}': use 'cosine' or 'euclidean'.")


def paired_similarity(a: np.ndarray, b: np.ndarray, metric: Metric) -> np.ndarray:
    """Row-wise similarity of two aligned (N,D) arrays -> (N,)."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if metric == "cosine":
        return (l2_normalize(a) * l2_normalize(b)).sum(1)
    if metric == "euclidean":
        return -np.linalg.norm(a - b, axis=1)
    raise ValueError(f"Unknown metric '{metric}': use 'cosine' or 'euclidean'.")


def to_display(score: float, metric: Metric) -> float:
    """Similarity back to the metric's natural unit (Euclidean distance is shown positive)."""
    return -score if metric == "euclidean" else score


def same_person(value: float, metric: Metric, threshold: float) -> bool:
    """Decision in the metric's natural unit: distance below, or cosine above, the threshold."""
    return value <= threshold if metric == "euclidean" else value >= threshold


def best_accuracy_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """Threshold (midpoint between neighbouring scores) that maximises accuracy of `score >= t`."""
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    if scores.size == 0:
        raise ValueError("No pairs to calibrate on.")
    order = np.argsort(scores)
    sorted_scores = scores[order]
    sorted_same = same[order]
    # Candidate i: everything from index i upward is called "same".
    same_at_or_above = np.concatenate([np.cumsum(sorted_same[::-1])[::-1], [0]])
    diff_below = np.concatenate([[0], np.cumsum(~sorted_same)])
    correct = same_at_or_above + diff_below
    # Only cut between distinct scores.
    valid = np.ones(correct.shape, dtype=bool)
    valid[1:-1] = sorted_scores[1:] != sorted_scores[:-1]
    correct = np.where(valid, correct, -1)
    best = int(np.argmax(correct))
    if best == 0:
        threshold = sorted_scores[0] - 1e-6
    elif best == len(sorted_scores):
        threshold = sorted_scores[-1] + 1e-6
    else:
        threshold = 0.5 * (sorted_scores[best - 1] + sorted_scores[best])
    return float(threshold), float(correct[best] / scores.size)


def threshold_for_far(scores: np.ndarray, same: np.ndarray, far: float) -> float:
    """Lowest threshold whose false-accept rate on the different-person pairs is <= `far`."""
    scores = np.asarray(scores, dtype=np.float64)
    impostor = np.sort(scores[~np.asarray(same, dtype=bool)])[::-1]
    if impostor.size == 0:
        raise ValueError("No different-person pairs to measure a false-accept rate on.")
    allowed = int(np.floor(far * impostor.size))
    if allowed >= impostor.size:
        return float(impostor[-1])
    return float(np.nextafter(impostor[allowed], np.inf))


def rates_at(scores: np.ndarray, same: np.ndarray, threshold: float) -> tuple[float, float]:
    """(true-accept rate, false-accept rate) of `score >= threshold`."""
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    accepted = scores >= threshold
    tar = float(accepted[same].mean()) if same.any() else float("nan")
    far = float(accepted[~same].mean()) if (~same).any() else float("nan")
    return tar, far


@dataclass
class Calibration:
    """Thresholds in similarity units (for Euclidean: minus the distance)."""

    metric: str
    threshold: float
    accuracy: float
    pairs: int
    far_thresholds: dict[str, float] = field(default_factory=dict)
    tar_at_far: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def calibrate(
    scores: np.ndarray, same: np.ndarray, metric: Metric, fars: Sequence[float] = (1e-2, 1e-3)
) -> Calibration:
    """Accuracy-peak threshold plus the threshold and true-accept rate for each target FAR."""
    threshold, accuracy = best_accuracy_threshold(scores, same)
    far_thresholds: dict[str, float] = {}
    tar_at_far: dict[str, float] = {}
    for far in fars:
        t = threshold_for_far(scores, same, far)
        far_thresholds[f"{far:g}"] = t
        tar_at_far[f"{far:g}"] = rates_at(scores, same, t)[0]
    return Calibration(metric, threshold, accuracy, int(np.size(scores)), far_thresholds, tar_at_far)


def kfold_accuracy(
    scores: np.ndarray, same: np.ndarray, folds: Sequence[np.ndarray]
) -> tuple[float, float, list[float], list[float]]:
    """LFW protocol: per fold, pick the threshold on the other folds and score this one.

    Returns (mean accuracy, sample standard deviation over folds, per-fold accuracies, thresholds);
    LFW's "standard error" is that deviation divided by sqrt(number of folds).
    """
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    accuracies: list[float] = []
    thresholds: list[float] = []
    for fold in folds:
        test = np.zeros(scores.size, dtype=bool)
        test[fold] = True
        threshold, _ = best_accuracy_threshold(scores[~test], same[~test])
        accuracies.append(float(((scores[test] >= threshold) == same[test]).mean()))
        thresholds.append(threshold)
    mean = float(np.mean(accuracies))
    std = float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else 0.0
    return mean, std, accuracies, thresholds
