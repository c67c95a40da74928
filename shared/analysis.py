"""FaceAnalyzer: detect -> align -> quality -> embed in one call (insightface's FaceAnalysis style).

The edge agent, the album indexer and the CLI all use this, so enrolment and queries go
through exactly the same alignment and the same model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.align import CHIP_SIZE, align_face, jitter_templates
from shared.detect import Face
from shared.detectors import DEFAULT_DETECTOR, Detector, load_detector, quality_thresholds, require_detector
from shared.embed import DEFAULT_EMBEDDER, Embedder, embedder_name, load_embedder, require_embedder
from shared.model_registry import ModelRegistry
from shared.quality import Quality, QualityThresholds, assess


@dataclass
class AnalyzedFace:
    face: Face
    chip: np.ndarray
    quality: Quality
    embedding: np.ndarray | None = None

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {**self.face.to_dict(), "quality": self.quality.to_dict()}
        if self.embedding is not None:
            data["embedding"] = [round(float(v), 6) for v in self.embedding]
        return data


class FaceAnalyzer:
    """Call `prepare()` once (loads and verifies the models), then `get(image)` per image."""

    def __init__(
        self,
        registry: ModelRegistry | None = None,
        embedder: str = DEFAULT_EMBEDDER,
        min_face_size: int = 20,
        flip: bool = False,
        thresholds: QualityThresholds | None = None,
        jitter: int = 0,
        detector: str = DEFAULT_DETECTOR,
        max_face_size: int | None = None,
    ):
        require_detector(detector)
        require_embedder(embedder)
        embedder = embedder_name(embedder)
        self.registry = registry or ModelRegistry()
        self.embedder_name = embedder
        self.detector_name = detector
        self.min_face_size = min_face_size
        self.max_face_size = max_face_size  # MTCNN: no pyramid levels for larger faces (camera geometry)
        self.flip = flip
        if jitter < 0:
            raise ValueError("The number of jitters cannot be negative.")
        self.jitter = jitter
        self._jitter_templates = jitter_templates(jitter)
        self.thresholds = thresholds or quality_thresholds(detector)
        self._detector: Detector | None = None
        self._embedder: Embedder | None = None

    def prepare(self) -> FaceAnalyzer:
        options = {"min_face_size": self.min_face_size}
        if self.max_face_size and self.detector_name == "mtcnn":
            options["max_face_size"] = self.max_face_size
        self._detector = load_detector(self.registry, self.detector_name, **options)
        self._embedder = load_embedder(self.registry, self.embedder_name)
        return self

    @property
    def detector(self) -> Detector:
        if self._detector is None:
            self.prepare()
        assert self._detector is not None
        return self._detector

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self.prepare()
        assert self._embedder is not None
        return self._embedder

    def detect(self, image: np.ndarray) -> list[Face]:
        return self.detector.detect(image)

    def align(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """The 150x150 chip on dlib's template of each face: what quality is judged on and thumbnails show.

        The same cut whatever the embedder, so quality verdicts do not change when the embedder does;
        the embedder cuts its own chips (reusing these where its cut is the same).
        """
        chips = [align_face(image, face.landmarks) for face in faces]
        return np.stack(chips) if chips else np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)

    def embed(self, image: np.ndarray, faces: list[Face], chips: np.ndarray | None = None) -> np.ndarray:
        """Embeddings of `faces` in `image` (N, dim), with the analyzer's flip and jitter settings.

        `chips` are the faces' `align()` chips when the caller has them (reused, not cut again). With
        `jitter` > 0 each face is also cut with that many slightly moved templates and the embeddings
        are averaged (dlib's num_jitters): ~(1 + jitter) times the cost, for enrolment and offline
        evaluation rather than every video frame.
        """
        return self.embedder.embed_faces(
            image, faces, flip=self.flip, chips=chips, jitter=self._jitter_templates or None
        )

    def get(self, image: np.ndarray, embed: bool = True, max_faces: int | None = None) -> list[AnalyzedFace]:
        """All faces of an RGB image, largest-score first, each with chip, quality and embedding."""
        faces = self.detect(image)
        if max_faces is not None:
            faces = sorted(faces, key=lambda f: -f.size)[:max_faces]
        chips = self.align(image, faces)
        embeddings = self.embed(image, faces, chips) if embed and len(faces) else None
        results = []
        for index, face in enumerate(faces):
            results.append(
                AnalyzedFace(
                    face=face,
                    chip=chips[index],
                    quality=assess(face, chips[index], self.thresholds),
                    embedding=None if embeddings is None else embeddings[index],
                )
            )
        return results
