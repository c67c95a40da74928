"""How frame scores become one video score: the rules compared on validation (docs/deepfake.md).

A frame's score is the maximum over its faces (a swapped face beside a real one must not be
averaged away). Over frames, three rules were compared on held-out identities:

* `confident`: the DFDC winner's rule (Seferbekov, 2020): if more than 40% of the frames score
  above 0.8, the mean of those; else if more than 90% score below 0.2, the mean of those; else
  the mean of all. Confident frames dominate, one or two spurious peaks do not.
* `mean`: the plain mean of the frame scores.
* `max`: the highest face score of the video (one face decides).

numpy only: the same code runs in training's validation and in the scoring pipeline.
"""

from __future__ import annotations

import numpy as np

AGGREGATIONS = ("confident", "mean", "max")
DESCRIPTIONS = {
    "confident": "max over faces per frame, then the DFDC winner's confident mean over frames",
    "mean": "max over faces per frame, then the mean over frames",
    "max": "the highest face score of all sampled frames",
}


def confident_mean(scores: np.ndarray, high: float = 0.8, low: float = 0.2) -> float:
    """The DFDC winner's aggregation of per-frame scores (see the module docstring)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        raise ValueError("no scores to aggregate")
    confident_fake = scores > high
    if confident_fake.sum() > 0.4 * scores.size:
        return float(scores[confident_fake].mean())
    confident_real = scores < low
    if confident_real.sum() > 0.9 * scores.size:
        return float(scores[confident_real].mean())
    return float(scores.mean())


def aggregate(scores: np.ndarray, rule: str = "confident", high: float = 0.8, low: float = 0.2) -> float:
    """One probability from per-frame probabilities by `rule` (one of AGGREGATIONS)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        raise ValueError("no scores to aggregate")
    if rule == "confident":
        return confident_mean(scores, high, low)
    if rule == "mean":
        return float(scores.mean())
    if rule == "max":
        return float(scores.max())
    raise ValueError(f"unknown aggregation {rule!r}; expected one of {', '.join(AGGREGATIONS)}")
