"""The LFW verification protocol (Huang et al. 2007), as face-recognition papers run it.

Pairs files: a header line, then `name n1 n2` (same person) or `name1 n1 name2 n2`
(different people). `pairs.txt` has a `folds pairs_per_class` header and ten folds of
same-then-different pairs: each fold is scored with the threshold chosen on the other
nine. Dev files have a single count and are scored as one split (threshold chosen on the
same split, which is optimistic, and reported as such). No image is ever dropped: a face
the detector misses is embedded from a centred box.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.align import fallback_landmarks
from shared.detect import Face
from shared.similarity import Metric, calibrate, kfold_accuracy, paired_similarity, to_display


@dataclass(frozen=True)
class Pair:
    a: Path
    b: Path
    same: bool
    fold: int


class PairsFormatError(ValueError):
    """The pairs file is not in LFW's format; the message names the line."""


def _image_path(images: Path, name: str, number: str) -> Path:
    return images / name / f"{name}_{int(number):04d}.jpg"


def read_pairs(pairs_file: Path, images: Path) -> tuple[list[Pair], int]:
    """Parse an LFW pairs file; returns the pairs and the number of folds (1 for Dev files)."""
    lines = [line.split() for line in Path(pairs_file).read_text().splitlines() if line.strip()]
    if not lines:
        raise PairsFormatError(f"{pairs_file} is empty.")
    header = lines[0]
    try:
        folds, per_class = (int(header[0]), int(header[1])) if len(header) == 2 else (1, int(header[0]))
    except ValueError:
        raise PairsFormatError(
            f"{pairs_file}: the first line must hold counts, not {' '.join(header)!r}."
        ) from None
    body = lines[1:]
    if len(body) != folds * 2 * per_class:
        raise PairsFormatError(
            f"{pairs_file}: the header promises {folds * 2 * per_class} pairs but the file has {len(body)}."
        )
    pairs = []
    for index, fields in enumerate(body):
        fold = index // (2 * per_class)
        if len(fields) == 3:
            (name_a, number_a), (name_b, number_b), same = fields[:2], (fields[0], fields[2]), True
        elif len(fields) == 4:
            (name_a, number_a), (name_b, number_b), same = fields[:2], fields[2:], False
        else:
            raise PairsFormatError(
                f"{pairs_file}: line {index + 2} has {len(fields)} fields (expected 3 or 4)."
            )
        pairs.append(
            Pair(_image_path(images, name_a, number_a), _image_path(images, name_b, number_b), same, fold)
        )
    return pairs, folds


def central_face(faces: list[Face], width: int, height: int) -> Face | None:
    """The face an LFW image is about: the one whose box centre is nearest the image centre.

    LFW images are centred on the named person's detection by construction. Weighting by
    box area (insightface's rule) picks a larger bystander when two faces overlap the centre.
    """
    if not faces:
        return None
    centre = np.array([width / 2, height / 2])

    def offset(face: Face) -> float:
        box_centre = np.array([(face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2])
        return float(((box_centre - centre) ** 2).sum())

    return min(faces, key=offset)


def fallback_box(width: int, height: int) -> np.ndarray:
    """A centred box where LFW puts the face (its images are centred on the face by construction)."""
    side = 0.42 * min(width, height)
    cx, cy = width / 2, height / 2 + 0.02 * height
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], dtype=np.float32)


def protocol_face(image: np.ndarray, detect: Callable[[np.ndarray], list[Face]]) -> tuple[Face, bool]:
    """The face an LFW image is about and whether the detector found it.

    A missed face is never dropped (that would flatter the accuracy): a centred box, with the
    template's landmarks placed in it, stands in for it.
    """
    height, width = image.shape[:2]
    face = central_face(detect(image), width, height)
    if face is not None:
        return face, True
    box = fallback_box(width, height)
    return Face(box=box, score=0.0, landmarks=fallback_landmarks(box)), False


def embed_images(
    paths: list[Path],
    detect: Callable[[np.ndarray], list[Face]],
    embed_face: Callable[[np.ndarray, Face], np.ndarray],
    read: Callable[[Path], np.ndarray],
    progress: Callable[[list[Path]], object] = iter,
) -> tuple[dict[Path, np.ndarray], int]:
    """Embed the central face of each image (`protocol_face`); returns embeddings and how many
    needed the fallback box."""
    embeddings: dict[Path, np.ndarray] = {}
    undetected = 0
    for path in progress(paths):  # type: ignore[attr-defined]
        image = read(path)
        face, found = protocol_face(image, detect)
        undetected += not found
        embeddings[path] = embed_face(image, face)
    return embeddings, undetected


def score_pairs(
    pairs: list[Pair], folds: int, embeddings: dict[Path, np.ndarray], metric: Metric
) -> dict[str, object]:
    """Accuracy under the protocol, plus the calibration an operator would use."""
    a = np.stack([embeddings[p.a] for p in pairs])
    b = np.stack([embeddings[p.b] for p in pairs])
    same = np.array([p.same for p in pairs])
    scores = paired_similarity(a, b, metric)
    fold_ids = np.array([p.fold for p in pairs])
    calibration = calibrate(scores, same, metric)
    if folds > 1:
        mean, std, per_fold, thresholds = kfold_accuracy(
            scores, same, [np.flatnonzero(fold_ids == f) for f in range(folds)]
        )
        threshold = float(np.mean(thresholds))
        protocol = f"{folds}-fold cross-validation (threshold chosen on the other folds)"
    else:
        mean, std, per_fold = calibration.accuracy, 0.0, [calibration.accuracy]
        threshold = calibration.threshold
        protocol = "single split (threshold chosen on the same pairs: optimistic)"
    return {
        "accuracy": round(mean, 5),
        "std": round(std, 5),
        "sem": round(std / np.sqrt(folds), 5) if folds > 1 else 0.0,
        "folds": folds,
        "fold_accuracies": [round(x, 5) for x in per_fold],
        "pairs": len(pairs),
        "metric": metric,
        "threshold": round(to_display(threshold, metric), 5),
        "protocol": protocol,
        "tar_at_far": {k: round(v, 5) for k, v in calibration.tar_at_far.items()},
        "far_thresholds": {k: round(to_display(v, metric), 5) for k, v in calibration.far_thresholds.items()},
    }
