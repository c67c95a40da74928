"""Face embeddings from aligned chips, batched, with optional flip test-time augmentation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from shared.similarity import Metric

if TYPE_CHECKING:
    import onnxruntime as ort

    from shared.registry import ModelRegistry

# Chip size, metric and same-person threshold per embedder. dlib's authors compare with
# Euclidean distance < 0.6; on LFW (docs/face-core.md) cosine similarity separates this
# model's embeddings better (99.2% vs 99.0% on View-1 DevTest, TAR 0.96 vs 0.93 at
# FAR 1e-3), and 0.91 is its accuracy-peak threshold there, confirmed on View-2 fold 1.
EMBEDDERS: dict[str, dict[str, object]] = {
    "dlib_resnet": {
        "chip_size": 150,
        "dim": 128,
        "metric": "cosine",
        "threshold": 0.91,
        # The false-accept-rate 1e-3 point on LFW DevTest: for 1:N search, where impostors abound.
        "strict_threshold": 0.92,
        "crop": "landmarks",
    },
    # facenet-pytorch feeds MTCNN box crops (no landmark alignment); threshold from its authors' LFW
    # examples (cosine ~0.5), to be recalibrated with `visage faces eval-lfw` on the operator's weights.
    "facenet_vggface2": {
        "chip_size": 160,
        "dim": 512,
        "metric": "cosine",
        "threshold": 0.5,
        "strict_threshold": 0.6,
        "crop": "box",
    },
}


class FaceEmbedder:
    """One ONNX embedder: chips (N,H,W,3) uint8 RGB in, (N,D) float32 out."""

    def __init__(self, session: ort.InferenceSession, name: str = "dlib_resnet", batch_size: int = 32):
        if name not in EMBEDDERS:
            raise ValueError(f"Unknown embedder '{name}': choose one of {', '.join(EMBEDDERS)}.")
        self.session = session
        self.name = name
        self.batch_size = batch_size
        spec = EMBEDDERS[name]
        self.chip_size = int(spec["chip_size"])  # type: ignore[call-overload]
        self.dim = int(spec["dim"])  # type: ignore[call-overload]
        self.metric: Metric = spec["metric"]  # type: ignore[assignment]
        self.crop: str = str(spec["crop"])
        self._input = session.get_inputs()[0].name

    @classmethod
    def from_registry(cls, registry: ModelRegistry, name: str = "dlib_resnet", **kwargs: int) -> FaceEmbedder:
        return cls(registry.session(name), name=name, **kwargs)

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

    def _run(self, chips: np.ndarray) -> np.ndarray:
        tensor = np.ascontiguousarray(chips.transpose(0, 3, 1, 2), dtype=np.float32)
        parts = [
            self.session.run(None, {self._input: tensor[start : start + self.batch_size]})[0]
            for start in range(0, len(tensor), self.batch_size)
        ]
        return np.concatenate(parts).astype(np.float32)
