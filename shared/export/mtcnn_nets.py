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
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

PARITY_TOLERANCE = 1e-4
_MEAN = 127.5
_SCALE = 0.0078125


def _first_conv(conv: nn.Conv2d, x: torch.Tensor, reference: bool) -> torch.Tensor:
    """conv1 applied to the normalised pixels (x - 127.5) * 0.0078125.

    conv1 has no padding, so the normalisation folds exactly into its weights and bias: the graph
    takes 0..255 pixels without two extra elementwise passes over the image.
    reference=True normalises first, as facenet-pytorch does, for the parity check.
    """
    if reference:
        return conv((x - _MEAN) * _SCALE)
    weight = conv.weight * _SCALE
    bias = conv.bias - _MEAN * weight.sum(dim=(1, 2, 3))
    return nn.functional.conv2d(x, weight, bias)


def _face_probability(logits: nn.Module, x: torch.Tensor, reference: bool) -> torch.Tensor:
    """P(face) from the two-class (background, face) layer, channel dim kept.

    The 2-way softmax equals sigmoid(face - background), and that logit difference is itself a
    single linear layer (weights w1 - w0), so the graph computes one channel and a Sigmoid instead
    of two channels and a channel Softmax (which ONNX Runtime runs through a transpose).
    reference=True computes it exactly as facenet-pytorch does, for the parity check.
    """
    if reference:
        return torch.softmax(logits(x), dim=1)[:, 1:2]
    weight = logits.weight[1:2] - logits.weight[0:1]
    bias = logits.bias[1:2] - logits.bias[0:1]
    if isinstance(logits, nn.Conv2d):
        return torch.sigmoid(nn.functional.conv2d(x, weight, bias))
    return torch.sigmoid(nn.functional.linear(x, weight, bias))


def _caffe_flatten(x: torch.Tensor) -> torch.Tensor:
    """Flatten as Caffe did (N, W, H, C order): the dense weights were trained on that layout."""
    return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


class PNet(nn.Module):
    """Proposal net: fully convolutional, 12x12 receptive field, stride 2."""

    reference = False  # True: compute P(face) exactly as facenet-pytorch does (parity runs)

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
        x = self.pool1(self.prelu1(_first_conv(self.conv1, image, self.reference)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return _face_probability(self.conv4_1, x, self.reference), self.conv4_2(x)


class RNet(nn.Module):
    """Refinement net on 24x24 crops."""

    reference = False  # True: compute P(face) exactly as facenet-pytorch does (parity runs)

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
        x = self.pool1(self.prelu1(_first_conv(self.conv1, crops, self.reference)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.dense4(_caffe_flatten(x)))
        return _face_probability(self.dense5_1, x, self.reference)[:, 0], self.dense5_2(x)


class ONet(nn.Module):
    """Output net on 48x48 crops: final score, box regression and five landmarks."""

    reference = False  # True: compute P(face) exactly as facenet-pytorch does (parity runs)

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
        x = self.pool1(self.prelu1(_first_conv(self.conv1, crops, self.reference)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(_caffe_flatten(x)))
        return _face_probability(self.dense6_1, x, self.reference)[:, 0], self.dense6_2(x), self.dense6_3(x)


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
        raise FileNotFoundError("facenet-pytorch is not installed; the MTCNN export needs its weights.")
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
    """Trace one net to ONNX (legacy exporter: the dynamo one needs onnxscript) and check it."""
    _, _, input_name, output_names, axes = NETS[name]
    dynamic_axes = {input_name: axes, **{out: {0: "batch"} for out in output_names}}
    if name == "mtcnn_pnet":
        dynamic_axes.update({out: {0: "batch", 2: "out_height", 3: "out_width"} for out in output_names})
    example = torch.full(_EXAMPLE_SHAPES[name], 127.0)
    with torch.no_grad(), warnings.catch_warnings():
        for message in (".*legacy TorchScript-based ONNX export", "The feature will be removed"):
            warnings.filterwarnings("ignore", message=message, category=DeprecationWarning)
        torch.onnx.export(
            net,
            (example,),
            str(out_path),
            dynamo=False,
            opset_version=opset,
            input_names=[input_name],
            output_names=list(output_names),
            dynamic_axes=dynamic_axes,
        )
    onnx.checker.check_model(onnx.load(str(out_path)), full_check=True)


def _max_abs_diff(net: nn.Module, session, batches: Sequence[np.ndarray]) -> float:
    """Largest elementwise difference between torch and ONNX Runtime over all outputs and inputs."""
    worst = 0.0
    input_name = session.get_inputs()[0].name
    for batch in batches:
        net.reference = True
        try:
            with torch.no_grad():
                expected = [t.numpy() for t in net(torch.from_numpy(batch))]
        finally:
            net.reference = False
        actual = session.run(None, {input_name: batch})
        for e, a in zip(expected, actual, strict=True):
            if e.shape != a.shape:
                raise RuntimeError(f"shape mismatch torch {e.shape} vs onnx {a.shape}")
            worst = max(worst, float(np.max(np.abs(e - a))) if e.size else 0.0)
    return worst


def _pyramid_inputs(images: Sequence[np.ndarray], levels: int = 4) -> list[np.ndarray]:
    """A few real pyramid levels per photo (the first, the middle and the small ones)."""
    from shared.detect import build_pyramid, pyramid_scales

    batches = []
    for image in images:
        scales = pyramid_scales(image.shape[:2], 20, 0.709)
        picks = sorted({0, len(scales) // 3, len(scales) // 2, len(scales) - 1})[:levels]
        pyramid = build_pyramid(image.astype(np.float32), scales)
        batches.extend(np.ascontiguousarray(pyramid[k].transpose(2, 0, 1)[None]) for k in picks)
    return batches


def _crop_inputs(images: Sequence[np.ndarray], sessions: dict, chunk: int = 256) -> dict[str, list]:
    """The crops R-Net and O-Net really see: run the detector's own stages on the photos."""
    from shared.detect import MTCNN, crop_patches

    detector = MTCNN(sessions["mtcnn_pnet"], sessions["mtcnn_rnet"], sessions["mtcnn_onet"])
    out: dict[str, list[np.ndarray]] = {"mtcnn_rnet": [], "mtcnn_onet": []}
    for image in images:
        proposals = detector.propose(image)
        refined = detector.refine(image, proposals)
        for name, boxes, size in (("mtcnn_rnet", proposals, 24), ("mtcnn_onet", refined, 48)):
            crops = crop_patches(image, boxes, size)
            out[name].extend(crops[i : i + chunk] for i in range(0, len(crops), chunk))
    if not out["mtcnn_rnet"] or not out["mtcnn_onet"]:
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
        if not (
            isinstance(image, np.ndarray)
            and image.ndim == 3
            and image.shape[2] == 3
            and image.dtype == np.uint8
            and min(image.shape[:2]) >= 24
        ):
            raise ValueError("Sample images must be HxWx3 uint8 RGB arrays of at least 24x24 pixels.")


def export_mtcnn(
    weights_dir: Path,
    out_dir: Path,
    sample_images: list[np.ndarray],
    opset: int = 17,
) -> dict[str, dict]:
    """Export P/R/O-Net to `out_dir` and prove ONNX Runtime matches torch on real photos.

    The three models are written and checked in a staging folder inside out_dir and only renamed
    into place once all three pass, so a failed export never replaces a working model.
    Returns one report per model: max_abs_diff, n_inputs (real inputs compared: pyramid levels for
    P-Net, face crops for R/O-Net) and what the reference was. Raises RuntimeError if any
    difference reaches PARITY_TOLERANCE.
    """
    from shared.runtime import RuntimeOptions, create_session

    _check_samples(sample_images)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cpu = RuntimeOptions(providers=("CPUExecutionProvider",))
    nets = {name: load_net(name, Path(weights_dir)) for name in NETS}
    staging = Path(tempfile.mkdtemp(prefix=".mtcnn-export-", dir=out_dir))
    try:
        sessions = {}
        for name, net in nets.items():
            _export_one(name, net, staging / f"{name}.onnx", opset)
            sessions[name] = create_session(staging / f"{name}.onnx", cpu)
        inputs = {"mtcnn_pnet": _pyramid_inputs(sample_images), **_crop_inputs(sample_images, sessions)}
        note = _reference_note()
        report = {
            name: {
                "max_abs_diff": _max_abs_diff(net, sessions[name], inputs[name]),
                "n_inputs": int(sum(len(batch) for batch in inputs[name])),
                "reference": note,
            }
            for name, net in nets.items()
        }
        failed = {n: r["max_abs_diff"] for n, r in report.items() if not r["max_abs_diff"] < PARITY_TOLERANCE}
        if failed:
            raise RuntimeError(
                f"MTCNN ONNX export does not match torch (max_abs_diff >= {PARITY_TOLERANCE}): {failed}; "
                f"the previous models in {out_dir} were left untouched."
            )
        for name in nets:  # same filesystem: each rename is atomic
            (staging / f"{name}.onnx").replace(out_dir / f"{name}.onnx")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report
