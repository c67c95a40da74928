"""FaceNet export: strict facenet-pytorch key layout, ONNX parity on real face chips, clear load errors.

The real VGGFace2 checkpoint cannot be downloaded here, so a seeded random network saved with the same
key layout (plus the classifier keys that the loader must drop) stands in for it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch

from shared.export.facenet import InceptionResnetV1, export_facenet, load_facenet_checkpoint

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CHIP_DIR = DATA / "facenet_pytorch_data" / "test_images_aligned"


def _real_chips() -> list[np.ndarray]:
    """The aligned 160x160 crops shipped with facenet-pytorch's tests, as RGB uint8."""
    paths = sorted(CHIP_DIR.glob("*/1.png"))
    if not paths:
        message = f"facenet-pytorch aligned test faces not found under {CHIP_DIR}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    chips = []
    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert bgr is not None, f"unreadable image {path}"
        chips.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return chips


def _random_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded random weights in facenet-pytorch's layout, with non-trivial BatchNorm statistics."""
    torch.manual_seed(seed)
    model = InceptionResnetV1()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.1, 0.1)
    state = dict(model.state_dict())
    state["logits.weight"] = torch.randn(8631, 512) * 0.01  # VGGFace2 classifier head, must be dropped
    state["logits.bias"] = torch.zeros(8631)
    return state


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list[np.ndarray], float]:
    chips = _real_chips()
    work = tmp_path_factory.mktemp("facenet")
    checkpoint = work / "20180402-114759-vggface2.pt"
    torch.save(_random_state_dict(), checkpoint)
    onnx_path = work / "facenet.onnx"
    start = time.perf_counter()
    report = export_facenet(checkpoint, onnx_path, chips)
    return onnx_path, report, chips, time.perf_counter() - start


def test_export_parity_on_real_chips(exported: tuple[Path, dict, list[np.ndarray], float]) -> None:
    onnx_path, report, chips, seconds = exported
    print(f"facenet export+parity: {seconds:.1f}s, {report}")
    assert onnx_path.is_file()
    assert not list(onnx_path.parent.glob("*.tmp")), "temporary export file left behind"
    assert report["n_inputs"] == len(chips) >= 2
    assert report["max_abs_diff"] < 1e-4
    assert 0.0 <= report["mean_abs_diff"] <= report["max_abs_diff"]
    assert report["reference"].startswith(f"torch {torch.__version__} InceptionResnetV1")


def test_onnx_output_is_unit_norm_512d_with_dynamic_batch(
    exported: tuple[Path, dict, list[np.ndarray], float],
) -> None:
    onnx_path, _, chips, _ = exported
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["chips"]
    assert [o.name for o in session.get_outputs()] == ["embeddings"]
    batch = np.stack([c.astype(np.float32).transpose(2, 0, 1) for c in chips])
    for n in (1, len(chips)):
        (emb,) = session.run(["embeddings"], {"chips": batch[:n]})
        assert emb.shape == (n, 512)
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    (emb,) = session.run(["embeddings"], {"chips": batch})
    assert not np.allclose(emb[0], emb[1]), "different faces gave identical embeddings"


def test_checkpoint_with_missing_key_is_rejected_clearly(tmp_path: Path) -> None:
    state = _random_state_dict()
    del state["last_bn.running_var"]
    path = tmp_path / "broken.pt"
    torch.save({"state_dict": state}, path)
    with pytest.raises(ValueError, match=r"1 missing: last_bn\.running_var"):
        load_facenet_checkpoint(path)


def test_checkpoint_with_unexpected_key_is_rejected_clearly(tmp_path: Path) -> None:
    state = _random_state_dict()
    state["repeat_4.0.conv2d.weight"] = torch.zeros(1)
    path = tmp_path / "extra.pt"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"unexpected: repeat_4\.0\.conv2d\.weight"):
        load_facenet_checkpoint(path)
