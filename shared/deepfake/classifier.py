"""The deepfake face classifier behind a small interface, so the pipeline can score with any model.

`FaceClassifier` is what the pipeline needs: how to cut the face (`input_size`, `margin`) and
`predict(crops) -> P(fake)`. `OnnxFaceClassifier` serves the project's own model; its
preprocessing comes from the ONNX metadata written at training time (input size, mean, std, crop
margin, version), never from constants here, so a retrained model with another recipe needs no
code change. A benchmark can plug in another detector (MesoNet) by writing a class with the same
five attributes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import onnxruntime as ort

from shared.deepfake.aggregation import AGGREGATIONS
from shared.model_registry import ModelError, ModelRegistry, sha256_file
from shared.runtime import RuntimeOptions, create_session

MODEL_NAME = "deepfake_sbi"
TRAIN_HINT = "train it with `python scripts/train_deepfake.py` (see docs/deepfake.md)"
BATCH = 32  # crops per run: bounds memory on long videos with many faces


@runtime_checkable
class FaceClassifier(Protocol):
    """Scores square RGB face crops; higher means more likely fake."""

    name: str
    version: str
    input_size: int
    margin: float

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """N x S x S x 3 uint8 RGB crops (S = input_size) -> N float probabilities of 'fake'."""
        ...


def _json_value(metadata: Mapping[str, str], key: str, path: Path) -> object:
    if key not in metadata:
        raise ModelError(f"Model {path.name} lacks the metadata '{key}'; {TRAIN_HINT}.")
    raw = metadata[key]
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        try:  # tolerate "0.5,0.5,0.5"
            return [float(part) for part in raw.split(",")]
        except ValueError:
            raise ModelError(
                f"Model {path.name}: metadata '{key}' = {raw!r} is not a number or list."
            ) from None


def _triple(value: object, key: str, path: Path) -> np.ndarray:
    array = np.asarray(value, dtype=np.float32).reshape(-1)
    if array.size == 1:
        array = np.repeat(array, 3)
    if array.size != 3:
        raise ModelError(f"Model {path.name}: metadata '{key}' must hold 3 values, got {value!r}.")
    return array


class OnnxFaceClassifier:
    """The ONNX classifier of docs/deepfake.md: input `input` [N,3,S,S], output `logit` [N]."""

    def __init__(self, session: ort.InferenceSession, path: Path, sha256: str | None = None):
        self.session = session
        self.path = path
        metadata = session.get_modelmeta().custom_metadata_map
        size = _json_value(metadata, "input_size", path)
        if isinstance(size, list):
            size = size[0]
        self.input_size = int(size)  # type: ignore[arg-type]
        self.mean = _triple(_json_value(metadata, "mean", path), "mean", path)
        self.std = _triple(_json_value(metadata, "std", path), "std", path)
        self.margin = float(_json_value(metadata, "margin", path))  # type: ignore[arg-type]
        self.version = metadata.get("version", "unknown")
        # Chosen on validation at training time (shared/deepfake/aggregation.py); older models: confident.
        self.aggregation = metadata.get("aggregation", "confident")
        if self.aggregation not in AGGREGATIONS:
            raise ModelError(f"Model {path.name}: unknown aggregation {self.aggregation!r}.")
        self.backbone = metadata.get("backbone", "lite0")
        has_t = "temperature" in metadata
        self.temperature = float(_json_value(metadata, "temperature", path)) if has_t else 1.0  # type: ignore[arg-type]
        self.name = path.stem
        self.sha256 = sha256
        inputs = [i.name for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]
        self.input_name = "input" if "input" in inputs else inputs[0]
        self.output_name = "logit" if "logit" in outputs else outputs[0]

    @classmethod
    def from_path(cls, path: Path | str, options: RuntimeOptions | None = None) -> OnnxFaceClassifier:
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"The deepfake model {path} is missing; {TRAIN_HINT}.")
        return cls(create_session(path, options), path, sha256_file(path))

    @classmethod
    def from_registry(
        cls, registry: ModelRegistry | None = None, name: str = MODEL_NAME
    ) -> OnnxFaceClassifier:
        """$VISAGE_DEEPFAKE_MODEL if set (a retrained model tried without touching models/), else the
        model listed in models/manifest.json (sha256 verified), else models/<name>.onnx."""
        registry = registry or ModelRegistry()
        override = os.environ.get("VISAGE_DEEPFAKE_MODEL", "").strip()
        if override:
            return cls.from_path(override, registry.options)
        if name in registry.manifest["models"]:
            path = registry.path(name)
            return cls(registry.session(name), path, registry.entry(name)["sha256"])
        return cls.from_path(registry.models_dir / f"{name}.onnx", registry.options)

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "input_size": self.input_size,
            "margin": self.margin,
            "sha256": self.sha256,
            "aggregation": self.aggregation,
            "temperature": self.temperature,
        }

    def predict(self, crops: np.ndarray) -> np.ndarray:
        crops = np.asarray(crops)
        size = self.input_size
        if crops.ndim != 4 or crops.shape[1:] != (size, size, 3):
            raise ValueError(f"expected N x {size} x {size} x 3 RGB crops, got shape {crops.shape}")
        out = np.zeros(len(crops), dtype=np.float64)
        for start in range(0, len(crops), BATCH):
            batch = crops[start : start + BATCH].astype(np.float32) / 255.0
            batch = (batch - self.mean) / self.std
            tensor = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
            logits = self.session.run([self.output_name], {self.input_name: tensor})[0]
            out[start : start + len(batch)] = np.asarray(logits, dtype=np.float64).reshape(-1)
        return 1.0 / (1.0 + np.exp(-np.clip(out, -60.0, 60.0)))
