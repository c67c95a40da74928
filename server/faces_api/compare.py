"""Compare the faces of two pictures, the way `visage faces compare` and Rekognition's CompareFaces do.

Every face of the source is paired with every face of the target (similarity and the decision at the
embedder's 1:1 threshold, `shared.embed.EMBEDDERS[...]["threshold"]`: SFace's 0.43 by default, the
same the CLI applies). Like CompareFaces and the CLI, the *largest* source face is the one the verdict
is about: `face_matches` are the target faces it matches and `unmatched_faces` the others. A source
without a face is an error (there is nothing to compare); a target without one is an empty answer.

Images are analysed at full size, as the CLI does, so that both give the same numbers on the same
files (uploads are bounded in bytes and pixels before they get here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from flask_babel import gettext

from server.errors import Unprocessable
from shared.analysis import AnalyzedFace, FaceAnalyzer
from shared.embed import require_embedder
from shared.similarity import same_person, similarity, to_display


@dataclass(frozen=True)
class Picture:
    """One decoded picture (HxWx3 RGB) and the name to use in messages."""

    name: str
    image: np.ndarray


def compare(analyzer: FaceAnalyzer, source: Picture, target: Picture) -> dict[str, Any]:
    """The comparison as the API answers it (see the module docstring)."""
    source_faces = analyzer.get(source.image)
    if not source_faces:
        raise Unprocessable(
            gettext(
                "%(name)s: no face found in the source image, so there is nothing to compare",
                name=source.name,
            )
        )
    target_faces = analyzer.get(target.image)
    spec = require_embedder(analyzer.embedder_name)
    metric, threshold = str(spec["metric"]), float(spec["threshold"])
    sizes = [face.face.width * face.face.height for face in source_faces]
    largest = sizes.index(max(sizes))  # the CLI's choice: the first of the largest
    pairs = []
    for index, face in enumerate(source_faces):
        for target_index, value in enumerate(_scores(face, target_faces, metric)):
            pairs.append(
                {
                    "source_face": index,
                    "target_face": target_index,
                    "similarity": round(value, 4),  # as the CLI prints it; decided unrounded, as it does
                    "same_person": same_person(value, metric, threshold),  # type: ignore[arg-type]
                }
            )
    verdicts = [pair for pair in pairs if pair["source_face"] == largest]
    matched = {pair["target_face"] for pair in verdicts if pair["same_person"]}
    return {
        "embedder": analyzer.embedder_name,
        "metric": metric,
        "threshold": threshold,
        "source": _picture(source, source_faces),
        "target": _picture(target, target_faces),
        "source_face": largest,
        "pairs": pairs,
        "face_matches": [pair for pair in verdicts if pair["target_face"] in matched],
        "unmatched_faces": [pair for pair in verdicts if pair["target_face"] not in matched],
        "any_match": bool(matched),
    }


def _scores(face: AnalyzedFace, targets: list[AnalyzedFace], metric: str) -> list[float]:
    """One source face against every target face, in the metric's natural unit."""
    if not targets:
        return []
    scores = similarity(face.embedding[None], np.stack([t.embedding for t in targets]), metric)[0]  # type: ignore[arg-type]
    return [to_display(float(score), metric) for score in scores]  # type: ignore[arg-type]


def _picture(picture: Picture, faces: list[AnalyzedFace]) -> dict[str, Any]:
    return {
        "filename": picture.name,
        "width": int(picture.image.shape[1]),
        "height": int(picture.image.shape[0]),
        "faces": [face.face.to_dict() for face in faces],
    }
