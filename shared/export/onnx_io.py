"""The steps every torch -> ONNX export here shares: write beside the target under a temporary name,
export with a dynamic batch, check the graph, compare ONNX Runtime with torch on real inputs, and
install by atomic rename only when everything passed, so a failed export never leaves a
half-written model where the registry would load it.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import torch

from shared.runtime import RuntimeOptions, create_session


@contextmanager
def staged_file(target: Path) -> Iterator[Path]:
    """A temporary file in target's folder; renamed onto target only if the block ends without error."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; a model is meant to be read by all
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def export_with_parity(
    model: torch.nn.Module,
    batch: np.ndarray,
    onnx_path: Path,
    *,
    input_name: str,
    output_name: str,
    expected_shape: tuple[int, ...],
    tolerance: float,
    what: str,
    quantity: str,
    items: str,
    opset: int = 17,
    metadata: dict[str, str] | None = None,
    producer: str | None = None,
) -> tuple[float, float]:
    """Export `model` (one input, one output, batch axis dynamic) with the metadata the runtime reads,
    run the ONNX checker, compare ONNX Runtime with torch on the real `batch`, and install the file at
    onnx_path only if all passed. Returns the max and mean |ONNX - torch|; a wrong output shape or a
    difference at or above `tolerance` raises RuntimeError, worded with `what` (the model), `quantity`
    (what is compared) and `items` (what the batch holds)."""
    onnx_path = Path(onnx_path)
    with staged_file(onnx_path) as tmp:
        # The legacy exporter is chosen on purpose (no onnxscript here); its deprecation notice is noise.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model,
                (torch.from_numpy(batch[:1]),),
                str(tmp),
                dynamo=False,  # the dynamo exporter needs onnxscript; the TorchScript path is exact here
                opset_version=opset,
                input_names=[input_name],
                output_names=[output_name],
                dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
                do_constant_folding=True,
            )
        if metadata is not None or producer is not None:
            proto = onnx.load(str(tmp))
            if metadata is not None:
                del proto.metadata_props[:]
                for key, value in metadata.items():
                    entry = proto.metadata_props.add()
                    entry.key, entry.value = key, value
            if producer is not None:
                proto.producer_name = producer
            onnx.save(proto, str(tmp))
        onnx.checker.check_model(str(tmp), full_check=True)

        with torch.inference_mode():
            reference = model(torch.from_numpy(batch)).numpy()
        session = create_session(tmp, RuntimeOptions(providers=("CPUExecutionProvider",)))
        (produced,) = session.run([output_name], {input_name: batch})
        del session
        if produced.shape != expected_shape:
            raise RuntimeError(f"{what} output has shape {produced.shape}, expected {expected_shape}.")
        diff = np.abs(produced.astype(np.float64) - reference.astype(np.float64))
        max_abs, mean_abs = float(diff.max()), float(diff.mean())
        if not max_abs < tolerance:
            raise RuntimeError(
                f"{what} export disagrees with torch: max |{quantity}| {max_abs:.3g} >= {tolerance:g} "
                f"on {len(batch)} {items}; not installing {onnx_path}."
            )
    return max_abs, mean_abs
