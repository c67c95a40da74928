"""ONNX Runtime sessions: one place that picks execution providers and thread counts.

The edge device (Jetson) wants TensorRT, then CUDA, then CPU; this machine has only CPU.
We ask for the preferred order and keep the ones this onnxruntime build actually offers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import onnxruntime as ort

PREFERRED_PROVIDERS: tuple[str, ...] = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)


def _env_int(name: str) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else 0


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run models: provider preference and threading (0 = let onnxruntime decide)."""

    providers: tuple[str, ...] = field(default_factory=lambda: _providers_from_env())
    intra_op_threads: int = field(default_factory=lambda: _env_int("VISAGE_INTRA_OP_THREADS"))
    inter_op_threads: int = 0

    def available_providers(self) -> list[str]:
        """The requested providers this onnxruntime build offers, in the requested order."""
        offered = set(ort.get_available_providers())
        chosen = [p for p in self.providers if p in offered]
        return chosen or ["CPUExecutionProvider"]


def _providers_from_env() -> tuple[str, ...]:
    raw = os.environ.get("VISAGE_PROVIDERS", "").strip()
    if not raw:
        return PREFERRED_PROVIDERS
    names = []
    for item in raw.split(","):
        item = item.strip()
        if item and not item.endswith("ExecutionProvider"):
            item = f"{item[:1].upper()}{item[1:]}ExecutionProvider".replace("Tensorrt", "Tensorrt")
        if item:
            names.append(item)
    return tuple(names)


def create_session(path: Path | str, options: RuntimeOptions | None = None) -> ort.InferenceSession:
    """Open an ONNX model with the configured providers and threads."""
    options = options or RuntimeOptions()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if options.intra_op_threads:
        so.intra_op_num_threads = options.intra_op_threads
    if options.inter_op_threads:
        so.inter_op_num_threads = options.inter_op_threads
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=so, providers=options.available_providers())
