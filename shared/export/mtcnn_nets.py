"""MTCNN's three networks as torch modules, and their export to ONNX with a parity check.

The modules load facenet-pytorch's state dicts unchanged (same parameter names), but fold in
what the runtime would otherwise have to repeat on every call: the pixel normalisation
(x - 127.5) / 128 and the face-probability softmax. The ONNX inputs are therefore plain float32
RGB 0..255 NCHW, and each net returns the face probability directly.

Parity is measured on real inputs (pyramid levels of real photos for P-Net, the detector's own
24x24 / 48x48 face crops for R-Net / O-Net), because random noise never exercises the
confident-face regime that the thresholds act on.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

PARITY_TOLERANCE = 1e-4
_MEAN = 127.5
_SCALE = 0.0078125


def _normalise(x: torch.Tensor) -> torch.Tensor:
    """The Caffe-era MTCNN pixel normalisation, kept inside the graph."""
    return (x - _MEAN) * _SCALE


def _face_probability(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over (background, face), keeping only the face channel (dim 1 kept)."""
    return torch.softmax(logits, dim=1)[:, 1:2]


def _caffe_flatten(x: torch.Tensor) -> torch.Tensor:
    """Flatten as Caffe did (N, W, H, C order): the dense weights were trained on that layout."""
    return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


class PNet(nn.Module):
    """Proposal net: fully convolutional, 12x12 receptive field, stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(_normalise(image))))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return _face_probability(self.conv4_1(x)), self.conv4_2(x)


class RNet(nn.Module):
    """Refinement net on 24x24 crops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(_normalise(crops))))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.dense4(_caffe_flatten(x)))
        return _face_probability(self.dense5_1(x))[:, 0], self.dense5_2(x)


class ONet(nn.Module):
    """Output net on 48x48 crops: final score, box regression and five landmarks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(_normalise(crops))))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(_caffe_flatten(x)))
        return _face_probability(self.dense6_1(x))[:, 0], self.dense6_2(x), self.dense6_3(x)


# name -> (module class, state dict file, input name, output names, dynamic axes of the input)
NETS: dict[str, tuple[type[nn.Module], str, str, tuple[str, ...], dict[int, str]]] = {
    "mtcnn_pnet": (PNet, "pnet.pt", "image", ("prob", "reg"), {0: "batch", 2: "height", 3: "width"}),
    "mtcnn_rnet": (RNet, "rnet.pt", "crops", ("prob", "reg"), {0: "batch"}),
    "mtcnn_onet": (ONet, "onet.pt", "crops", ("prob", "reg", "landmarks"), {0: "batch"}),
}
_EXAMPLE_SHAPES = {"mtcnn_pnet": (1, 3, 64, 80), "mtcnn_rnet": (2, 3, 24, 24), "mtcnn_onet": (2, 3, 48, 48)}


def facenet_weights_dir() -> Path:
    """Where the installed facenet-pytorch keeps pnet.pt / rnet.pt / onet.pt (without importing it)."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("facenet-pytorch is not installed; its MTCNN weights are needed for the export.")
    return Path(spec.origin).parent / "data"


def load_net(name: str, weights_dir: Path) -> nn.Module:
    """Build one net and load its state dict strictly, so a renamed layer fails loudly."""
    cls, filename, *_ = NETS[name]
    path = Path(weights_dir) / filename
    if not path.is_file():
        raise FileNotFoundError(f"MTCNN weights {path} are missing.")
    net = cls()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    return net.eval()


def _export_one(name: str, net: nn.Module, out_path: Path, opset: int) -> None:
    """Export to a temp file in the target folder, check it, then rename: never a half-written model."""
    _, _, input_name, output_names, axes = NETS[name]
    dynamic_axes = {input_name: axes, **{out: {0: "batch"} for out in output_names}}
    if name == "mtcnn_pnet":
        dynamic_axes.update({out: {0: "batch", 2: "out_height", 3: "out_width"} for out in output_names})
    example = torch.full(_EXAMPLE_SHAPES[name], 127.0)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".onnx.tmp", dir=out_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with torch.no_grad():
            torch.onnx.export(
                net, (example,), str(tmp), dynamo=False, opset_version=opset,
                input_names=[input_name], output_names=list(output_names), dynamic_axes=dynamic_axes,
            )
        onnx.checker.check_model(onnx.load(str(tmp)), full_check=True)
        tmp.replace(out_path)
    finally:
        tmp.unlink(missing_ok=True)


def _max_abs_diff(net: nn.Module, session, batches: Sequence[np.ndarray]) -> float:
    """Largest elementwise difference between torch and ONNX Runtime over all outputs and inputs."""
    worst = 0.0
    input_name = session.get_inputs()[0].name
    for batch in batches:
        with torch.no_grad():
            expected = [t.numpy() for t in net(torch.from_numpy(batch))]
        actual = session.run(None, {input_name: batch})
        for e, a in zip(expected, actual, strict=True):
            if e.shape != a.shape:
                raise RuntimeError(f"shape mismatch torch {e.shape} vs onnx {a.shape}")
            worst = max(worst, float(np.max(np.abs(e - a))) if e.size else 0.0)
    return worst


def _pyramid_inputs(images: Sequence[np.ndarray], levels: int = 4) -> list[np.ndarray]:
    """A few real pyramid levels per photo (the first, the middle and the small ones)."""
    from shared.detect import pyramid_scales, resize_level

    batches = []
    for image in images:
        scales = pyramid_scales(image.shape[:2], 20, 0.709)
        picks = sorted({0, len(scales) // 3, len(scales) // 2, len(scales) - 1})[:levels]
        image_f = image.astype(np.float32)
        for k in picks:
            batches.append(resize_level(image_f, scales[k])[None].transpose(0, 3, 1, 2).copy())
    return batches


def _crop_inputs(images: Sequence[np.ndarray], sessions: dict, chunk: int = 256) -> dict[str, list[np.ndarray]]:
    """The crops R-Net and O-Net really see: run the detector's own stages on the photos."""
    from shared.detect import MTCNN, crop_patches

    detector = MTCNN(sessions["mtcnn_pnet"], sessions["mtcnn_rnet"], sessions["mtcnn_onet"])
    out: dict[str, list[np.ndarray]] = {"mtcnn_rnet": [], "mtcnn_onet": []}
    for image in images:
        proposals = detector.propose(image)
        refined = detector.refine(image, proposals)
        for name, boxes, size in (("mtcnn_rnet", proposals, 24), ("mtcnn_onet", refined, 48)):
            crops = crop_patches(image, boxes, size)
            out[name].extend(crops[i:i + chunk] for i in range(0, len(crops), chunk))
    if not out["mtcnn_onet"]:
        raise RuntimeError("The sample images produced no face crops; parity needs photos with faces.")
    return out


def _reference_note() -> str:
    try:
        facenet = importlib.metadata.version("facenet-pytorch")
    except importlib.metadata.PackageNotFoundError:
        facenet = "unknown"
    return f"torch {torch.__version__} modules, facenet-pytorch {facenet} state dicts"


def _check_samples(sample_images: Sequence[np.ndarray]) -> None:
    if not sample_images:
        raise ValueError("export_mtcnn needs at least one real photo with faces for the parity check.")
    for image in sample_images:
        if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3
                and image.dtype == np.uint8 and min(image.shape[:2]) >= 24):
            raise ValueError("Sample images must be HxWx3 uint8 RGB arrays of at least 24x24 pixels.")


def export_mtcnn(
    weights_dir: Path,
    out_dir: Path,
    sample_images: list[np.ndarray],
    opset: int = 17,
) -> dict[str, dict]:
    """Export P/R/O-Net to `out_dir` and prove ONNX Runtime matches torch on real photos.

    Returns one report per model: max_abs_diff, n_inputs (real input tensors compared) and what the
    reference was. Raises RuntimeError if any difference reaches PARITY_TOLERANCE; the files are
    left in place in that case so the failure can be inspected.
    """
    from shared.runtime import RuntimeOptions, create_session

    _check_samples(sample_images)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cpu = RuntimeOptions(providers=("CPUExecutionProvider",))
    nets = {name: load_net(name, Path(weights_dir)) for name in NETS}
    sessions = {}
    for name, net in nets.items():
        _export_one(name, net, out_dir / f"{name}.onnx", opset)
        sessions[name] = create_session(out_dir / f"{name}.onnx", cpu)

    inputs = {"mtcnn_pnet": _pyramid_inputs(sample_images), **_crop_inputs(sample_images, sessions)}
    note = _reference_note()
    report = {}
    for name, net in nets.items():
        diff = _max_abs_diff(net, sessions[name], inputs[name])
        report[name] = {"max_abs_diff": diff, "n_inputs": int(sum(len(b) for b in inputs[name])), "reference": note}
    failed = {n: r["max_abs_diff"] for n, r in report.items() if not r["max_abs_diff"] < PARITY_TOLERANCE}
    if failed:
        raise RuntimeError(f"MTCNN ONNX export does not match torch (max_abs_diff >= {PARITY_TOLERANCE}): {failed}")
    return report
