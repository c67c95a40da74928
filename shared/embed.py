"""Face embedders behind one interface: aligned chips in, one vector per face out.

Three are shipped (see docs/face-core.md for how each number was measured):
- `dlib_resnet`: dlib's ResNet, 150x150 chips on dlib's own template, 128-d.
- `sface`: OpenCV Zoo's SFace (MobileFaceNet), 112x112 ArcFace chips, 128-d.
- `fused` (the default): both, each L2-normalised and weighted, concatenated (256-d). The cosine of
  two fused vectors is w_dlib^2 * cos_dlib + w_sface^2 * cos_sface, a weighted score fusion, so the
  album's ANN index and the devices' galleries work on it unchanged. With the weights set inversely
  to each model's impostor-score spread, it is exactly z-normalised score fusion up to an affine
  change of the threshold.

Each embedder carries an id and version; every stored embedding records both, and embeddings of
different embedders are never compared (the re-embedding job converts stored ones after a switch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.align import (
    ARCFACE_CHIP_SIZE,
    ARCFACE_TEMPLATE,
    CHIP_SIZE,
    DLIB_CHIP_TEMPLATE,
    align_face,
    crop_box,
)
from shared.similarity import Metric

if TYPE_CHECKING:
    import onnxruntime as ort

    from shared.detect import Face
    from shared.model_registry import ModelRegistry

DEFAULT_EMBEDDER = "sface"

# Per embedder: version (bumped whenever its vectors change), output dimension, metric, how chips are
# cut, and thresholds, all chosen on pooled impostors (every different-person pair among the 2,600
# LFW and East-Asian-set images, 3.0 million pairs) rather than on any one group: `threshold` is the
# 1:1 point (false accepts 1e-3), `strict_threshold` the 1:N point galleries ship to devices and
# `album_threshold` the album's search and grouping cut (both 1e-4). dlib's keep their earlier LFW
# values (0.931 / 0.948 on the pooled set). Per-group rates at these points: docs/face-core.md.
EMBEDDERS: dict[str, dict[str, Any]] = {
    "dlib_resnet": {
        "version": "1",
        "chip_size": CHIP_SIZE,
        "template": DLIB_CHIP_TEMPLATE,
        "template_size": CHIP_SIZE,
        "dim": 128,
        "metric": "cosine",
        "threshold": 0.91,
        "strict_threshold": 0.92,
        "album_threshold": 0.93,
        # The edge recognizer's undecided band below the match threshold and its lead over the second.
        "unknown_gap": 0.04,
        "margin": 0.01,
        "crop": "landmarks",
    },
    "sface": {
        "version": "2021dec",
        "chip_size": ARCFACE_CHIP_SIZE,
        "template": ARCFACE_TEMPLATE,
        "template_size": ARCFACE_CHIP_SIZE,
        "dim": 128,
        "metric": "cosine",
        "threshold": 0.37,
        "strict_threshold": 0.43,
        "album_threshold": 0.43,
        # SFace's impostor scores spread ~2.5x wider than dlib's (std 0.093 vs 0.037 on LFW DevTest).
        "unknown_gap": 0.10,
        "margin": 0.025,
        "crop": "landmarks",
    },
    "fused": {
        "version": "1",
        # (part, weight): weights squared sum to 1, so the fused vector is a unit vector.
        # Derived from LFW DevTest impostor spreads alone (weight^2 ~ 1/std), see measure_embedders.py.
        "parts": (("dlib_resnet", 0.8476), ("sface", 0.5306)),
        "dim": 256,
        "metric": "cosine",
        "threshold": 0.75,
        "strict_threshold": 0.78,
        "album_threshold": 0.78,
        "unknown_gap": 0.05,
        "margin": 0.012,
        "crop": "landmarks",
    },
    # facenet-pytorch feeds MTCNN box crops (no landmark alignment); threshold from its authors' LFW
    # examples (cosine ~0.5), to be recalibrated with `visage faces eval-lfw` on the operator's weights.
    "facenet_vggface2": {
        "version": "operator",
        "chip_size": 160,
        "dim": 512,
        "metric": "cosine",
        "threshold": 0.5,
        "strict_threshold": 0.6,
        "album_threshold": 0.6,
        "unknown_gap": 0.08,
        "margin": 0.02,
        "crop": "box",
    },
}


def embedder_id(name: str) -> str:
    """`name@version`: what stored embeddings, galleries and telemetry carry to say whose vectors they are."""
    name = embedder_name(name)
    return f"{name}@{require_embedder(name)['version']}"


def embedder_name(model: str) -> str:
    """The embedder's name from a name or an id (`sface@2021dec` -> `sface`)."""
    return model.partition("@")[0]


def require_embedder(name: str) -> dict[str, Any]:
    """The spec of an embedder given by name or id; ValueError naming the valid ones otherwise."""
    name = embedder_name(name)
    if name not in EMBEDDERS:
        raise ValueError(f"Unknown embedder '{name}': choose one of {', '.join(EMBEDDERS)}.")
    return EMBEDDERS[name]


def model_files(name: str) -> tuple[str, ...]:
    """The registry models an embedder needs (a fused one needs each part's)."""
    spec = require_embedder(name)
    return tuple(part for part, _ in spec["parts"]) if "parts" in spec else (name,)


@dataclass(frozen=True)
class ChipCut:
    """How one model wants its faces cut: landmark template (or detector box) and chip size."""

    size: int
    template: np.ndarray | None
    template_size: int

    @classmethod
    def of(cls, name: str) -> ChipCut:
        spec = require_embedder(name)
        template = spec.get("template") if spec["crop"] == "landmarks" else None
        return cls(int(spec["chip_size"]), template, int(spec.get("template_size", spec["chip_size"])))

    def cut(self, image: np.ndarray, face: Face, template: np.ndarray | None = None) -> np.ndarray:
        if self.template is None:
            return crop_box(image, face.box, self.size)
        chosen = self.template if template is None else template
        return align_face(image, face.landmarks, chosen, self.size, self.template_size)

    def same_as(self, other: ChipCut) -> bool:
        if self.size != other.size or self.template_size != other.template_size:
            return False
        if self.template is None or other.template is None:
            return self.template is None and other.template is None
        return bool(np.array_equal(self.template, other.template))


DLIB_CUT = ChipCut(CHIP_SIZE, DLIB_CHIP_TEMPLATE, CHIP_SIZE)


class FaceEmbedder:
    """One ONNX model: chips (N,H,W,3) uint8 RGB in, (N,D) float32 out (not normalised)."""

    def __init__(self, session: ort.InferenceSession, name: str = "dlib_resnet", batch_size: int = 32):
        spec = require_embedder(name)
        if "parts" in spec:
            raise ValueError(f"'{name}' combines several models: load it with load_embedder().")
        self.session = session
        self.name = name
        self.batch_size = batch_size
        self.chip_size = int(spec["chip_size"])
        self.dim = int(spec["dim"])
        self.metric: Metric = spec["metric"]
        self.crop: str = str(spec["crop"])
        self.cut = ChipCut.of(name)
        self._input = session.get_inputs()[0].name

    @classmethod
    def from_registry(cls, registry: ModelRegistry, name: str = "dlib_resnet", **kwargs: int) -> FaceEmbedder:
        return cls(registry.session(name), name=name, **kwargs)

    @property
    def id(self) -> str:
        return embedder_id(self.name)

    def embed(self, chips: np.ndarray, flip: bool = False) -> np.ndarray:
        """Embed aligned chips; with `flip`, average each chip with its mirror image."""
        chips = np.asarray(chips)
        if chips.ndim == 3:
            chips = chips[None]
        if chips.ndim != 4 or chips.shape[1:] != (self.chip_size, self.chip_size, 3):
            raise ValueError(
                f"Expected chips of shape (N, {self.chip_size}, {self.chip_size}, 3), got {chips.shape}."
            )
        if len(chips) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        embeddings = self._run(chips)
        if flip:
            embeddings = (embeddings + self._run(chips[:, :, ::-1, :])) / 2.0
        return embeddings

    def embed_faces(
        self,
        image: np.ndarray,
        faces: list[Face],
        *,
        flip: bool = False,
        chips: np.ndarray | None = None,
        jitter: list[np.ndarray] | None = None,
    ) -> np.ndarray:
        """Cut and embed `faces` of `image`. `chips` may hold the faces' 150x150 dlib-template chips
        (FaceAnalyzer.align), reused where this model's cut is that one instead of cutting again.

        `jitter` templates (in dlib chip coordinates, see shared.align.jitter_templates) add moved
        cuts whose embeddings are averaged with the first (dlib's num_jitters).
        """
        if not faces:
            return np.zeros((0, self.dim), dtype=np.float32)
        reuse = chips is not None and len(chips) == len(faces) and self.cut.same_as(DLIB_CUT)
        base = chips if reuse else np.stack([self.cut.cut(image, face) for face in faces])
        if not jitter or self.cut.template is None:
            return self.embed(base, flip=flip)
        moved = [self.cut.cut(image, face, _retarget(t, self.cut)) for face in faces for t in jitter]
        embedded = self.embed(np.concatenate([base, np.stack(moved)]), flip=flip)
        first = embedded[: len(faces)]
        rest = embedded[len(faces) :].reshape(len(faces), len(jitter), -1)
        return ((first + rest.sum(axis=1)) / (1 + len(jitter))).astype(np.float32)

    def _run(self, chips: np.ndarray) -> np.ndarray:
        tensor = np.ascontiguousarray(chips.transpose(0, 3, 1, 2), dtype=np.float32)
        parts = [
            self.session.run(None, {self._input: tensor[start : start + self.batch_size]})[0]
            for start in range(0, len(tensor), self.batch_size)
        ]
        return np.concatenate(parts).astype(np.float32)


class FusedEmbedder:
    """Several embedders at once: each part L2-normalised, scaled by its weight, concatenated."""

    def __init__(self, name: str, parts: list[tuple[FaceEmbedder, float]]):
        spec = require_embedder(name)
        self.name = name
        self.parts = parts
        self.dim = int(spec["dim"])
        self.metric: Metric = spec["metric"]
        self.crop = "landmarks"
        self.chip_size = parts[0][0].chip_size
        self.cut = parts[0][0].cut
        if sum(part.dim for part, _ in parts) != self.dim:
            raise ValueError(f"The parts of '{name}' do not add up to {self.dim} dimensions.")

    @property
    def id(self) -> str:
        return embedder_id(self.name)

    def embed(self, chips: np.ndarray, flip: bool = False) -> np.ndarray:
        raise ValueError(
            f"'{self.name}' needs each face cut once per model: call embed_faces(image, faces) instead."
        )

    def embed_faces(
        self,
        image: np.ndarray,
        faces: list[Face],
        *,
        flip: bool = False,
        chips: np.ndarray | None = None,
        jitter: list[np.ndarray] | None = None,
    ) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.dim), dtype=np.float32)
        pieces = []
        for part, weight in self.parts:
            vectors = part.embed_faces(image, faces, flip=flip, chips=chips, jitter=jitter)
            pieces.append(weight * normalise(vectors))
        return np.concatenate(pieces, axis=1).astype(np.float32)


Embedder = FaceEmbedder | FusedEmbedder


def load_embedder(registry: ModelRegistry, name: str = DEFAULT_EMBEDDER, batch_size: int = 32) -> Embedder:
    """The embedder called `name`, its models loaded from `registry` (sha256-checked)."""
    name = embedder_name(name)
    spec = require_embedder(name)
    if "parts" not in spec:
        return FaceEmbedder.from_registry(registry, name, batch_size=batch_size)
    parts = [
        (FaceEmbedder.from_registry(registry, part, batch_size=batch_size), float(w))
        for part, w in spec["parts"]
    ]
    return FusedEmbedder(name, parts)


def fuse(vectors: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """The fused embedding of per-model vectors (what FusedEmbedder computes), for tests and tools."""
    return np.concatenate(
        [w * normalise(np.atleast_2d(v)) for v, w in zip(vectors, weights, strict=True)], axis=1
    )


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _retarget(dlib_template: np.ndarray, cut: ChipCut) -> np.ndarray:
    """A jittered dlib-chip template moved onto `cut`'s template: the same small motion, its points."""
    if cut.template is None:
        return dlib_template
    from shared.align import estimate_similarity

    motion = estimate_similarity(DLIB_CHIP_TEMPLATE, dlib_template)
    scale = cut.template_size / CHIP_SIZE
    centred = (cut.template / scale).astype(np.float64)
    moved = centred @ motion[:, :2].T.astype(np.float64) + motion[:, 2]
    return (moved * scale).astype(np.float32)
