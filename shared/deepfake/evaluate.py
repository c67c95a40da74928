"""Evaluate a deepfake pipeline on a labelled list of files: AUC, log loss, accuracy.

The labels file is a CSV with at least the columns `path` and `label` (REAL or FAKE, any case;
other columns are ignored), paths relative to a root folder, images and videos mixed. Each file
is scored once (video-level for videos). A file with no face counts as 0.5, the prior the DFDC
challenge also used, so it costs log(2) instead of vanishing from the figures; a file that
cannot be decoded at all is reported and left out.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.media import MediaError

NO_FACE_PROBABILITY = 0.5
EPS = 1e-15  # log loss clipping, as scikit-learn and the DFDC leaderboard did


class LabelsError(ValueError):
    """The labels CSV is unusable; the message says which line and why."""


@dataclass(frozen=True)
class LabelledFile:
    path: Path
    relative: str
    fake: bool


def read_labels(csv_path: Path | str, root: Path | str) -> list[LabelledFile]:
    csv_path, root = Path(csv_path), Path(root)
    if not csv_path.is_file():
        raise LabelsError(f"{csv_path}: no such labels file.")
    if not root.is_dir():
        raise LabelsError(f"{root}: the root folder does not exist.")
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {name.strip().lower() for name in reader.fieldnames or []}
        if not {"path", "label"} <= columns:
            raise LabelsError(
                f"{csv_path}: the CSV needs the columns 'path' and 'label' (found: {sorted(columns)})."
            )
        rows = []
        for line, row in enumerate(reader, start=2):
            row = {(key or "").strip().lower(): (value or "").strip() for key, value in row.items()}
            label = row["label"].upper()
            if label not in ("REAL", "FAKE"):
                raise LabelsError(
                    f"{csv_path}, line {line}: label {row['label']!r} is neither REAL nor FAKE."
                )
            if not row["path"]:
                raise LabelsError(f"{csv_path}, line {line}: the path is empty.")
            rows.append(LabelledFile(root / row["path"], row["path"], label == "FAKE"))
    if not rows:
        raise LabelsError(f"{csv_path}: the CSV lists no files.")
    return rows


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with tied ranks averaged); None with one class only."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):
        stop = start
        while stop + 1 < len(scores) and sorted_scores[stop + 1] == sorted_scores[start]:
            stop += 1
        ranks[order[start : stop + 1]] = (start + stop) / 2.0 + 1.0
        start = stop + 1
    u = ranks[labels].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def log_loss(labels: np.ndarray, scores: np.ndarray, eps: float = EPS) -> float:
    """Binary cross-entropy of probabilities `scores`, clipped to [eps, 1 - eps] so one confident
    mistake costs a finite amount."""
    labels = np.asarray(labels, dtype=np.float64)
    p = np.clip(np.asarray(scores, dtype=np.float64), eps, 1 - eps)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def summarize(labels: list[bool], scores: list[float], errors: list[dict[str, str]]) -> dict[str, Any]:
    y, p = np.asarray(labels, dtype=bool), np.asarray(scores, dtype=np.float64)
    auc = roc_auc(y, p) if len(y) else None
    return {
        "auc": None if auc is None else round(auc, 6),
        "log_loss": round(log_loss(y, p), 6) if len(y) else None,
        "accuracy": round(float(np.mean((p >= 0.5) == y)), 6) if len(y) else None,
        "n": len(y),
        "n_fake": int(y.sum()),
        "n_real": int((~y).sum()),
        "errors": errors,
    }


def evaluate(score: Callable[[Path], dict[str, Any]], files: list[LabelledFile]) -> Iterator[dict[str, Any]]:
    """One dict per file (path, label, probability or error), then the summary as the last item."""
    labels: list[bool] = []
    scores: list[float] = []
    errors: list[dict[str, str]] = []
    for item in files:
        label = "FAKE" if item.fake else "REAL"
        try:
            result = score(item.path)
        except MediaError as exc:
            errors.append({"path": item.relative, "error": str(exc)})
            yield {"path": item.relative, "label": label, "error": str(exc)}
            continue
        probability = result["probability"]
        used = NO_FACE_PROBABILITY if probability is None else float(probability)
        if not math.isfinite(used):
            raise ValueError(f"{item.relative}: the pipeline returned a probability of {used}")
        labels.append(item.fake)
        scores.append(used)
        yield {
            "path": item.relative,
            "label": label,
            "probability": probability,
            "verdict": result["verdict"],
            "scored_as": round(used, 6),
        }
    yield summarize(labels, scores, errors)
