"""FaceAnalyzer: detect -> align -> quality -> embed in one call (insightface's FaceAnalysis style).

The edge agent, the album indexer and the CLI all use this, so enrolment and queries go
through exactly the same alignment and the same model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.align import align_face, crop_box, jitter_templates
from shared.detect import MTCNN, Face
from shared.embed import EMBEDDERS, FaceEmbedder
from shared.quality import Quality, QualityThresholds, assess
from shared.registry import ModelRegistry


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
        embedder: str = "dlib_resnet",
        min_face_size: int = 20,
        flip: bool = False,
        thresholds: QualityThresholds | None = None,
        jitter: int = 0,
    ):
        if embedder not in EMBEDDERS:
            raise ValueError(f"Unknown embedder '{embedder}': choose one of {', '.join(EMBEDDERS)}.")
        self.registry = registry or ModelRegistry()
        self.embedder_name = embedder
        self.min_face_size = min_face_size
        self.flip = flip
        if jitter < 0:
            raise ValueError("The number of jitters cannot be negative.")
        self.jitter = jitter
        self._jitter_templates = jitter_templates(jitter)
        self.thresholds = thresholds or QualityThresholds()
        self._detector: MTCNN | None = None
        self._embedder: FaceEmbedder | None = None

    def prepare(self) -> FaceAnalyzer:
        self._detector = MTCNN.from_registry(self.registry, min_face_size=self.min_face_size)
        self._embedder = FaceEmbedder.from_registry(self.registry, self.embedder_name)
        return self

    @property
    def detector(self) -> MTCNN:
        if self._detector is None:
            self.prepare()
        assert self._detector is not None
        return self._detector

    @property
    def embedder(self) -> FaceEmbedder:
        if self._embedder is None:
            self.prepare()
        assert self._embedder is not None
        return self._embedder

    def detect(self, image: np.ndarray) -> list[Face]:
        return self.detector.detect(image)

    def align(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """The chip each face is embedded from, cut the way the embedder was trained."""
        size = self.embedder.chip_size
        if self.embedder.crop == "box":
            chips = [crop_box(image, face.box, size) for face in faces]
        else:
            chips = [align_face(image, face.landmarks, size=size) for face in faces]
        return np.stack(chips) if chips else np.zeros((0, size, size, 3), dtype=np.uint8)

    def embed(self, image: np.ndarray, faces: list[Face], chips: np.ndarray | None = None) -> np.ndarray:
        """Embeddings of `faces` in `image` (N, dim), with the analyzer's flip and jitter settings.

        With `jitter` > 0 each face is also cut with that many slightly moved templates and the
        embeddings are averaged (dlib's num_jitters): ~(1 + jitter) times the cost, for enrolment
        and offline evaluation rather than every video frame.
        """
        if chips is None:
            chips = self.align(image, faces)
        if not self.jitter or self.embedder.crop == "box" or not len(faces):
            return self.embedder.embed(chips, flip=self.flip)
        size = self.embedder.chip_size
        moved = [
            align_face(image, face.landmarks, template=template, size=size)
            for face in faces
            for template in self._jitter_templates
        ]
        everything = np.concatenate([chips, np.stack(moved)])
        embedded = self.embedder.embed(everything, flip=self.flip)
        first, rest = embedded[: len(faces)], embedded[len(faces) :].reshape(len(faces), self.jitter, -1)
        return ((first + rest.sum(axis=1)) / (1 + self.jitter)).astype(np.float32)

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
