"""Optional FaceNet embedder: facenet-pytorch's InceptionResnetV1 (VGGFace2) exported to ONNX.

The operator supplies the checkpoint (``20180402-114759-vggface2.pt``); nothing is downloaded here.
The architecture below mirrors facenet-pytorch's module tree so that its state-dict key names load
strictly, but it is inference-only: no classification head, BatchNorm always on running statistics,
and the pixel standardisation and L2 normalisation live inside the graph so that the ONNX model takes
raw RGB chips and returns ready-to-compare embeddings.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from shared.export.onnx_io import export_with_parity

CHIP_SIZE = 160
EMBEDDING_DIM = 512
PARITY_TOLERANCE = 1e-4
INPUT_NAME = "chips"
OUTPUT_NAME = "embeddings"

# facenet-pytorch's fixed_image_standardization: (x - 127.5) / 128.
_PIXEL_MEAN = 127.5
_PIXEL_SCALE = 128.0
# The TensorFlow-trained weights expect this BatchNorm epsilon, not PyTorch's default 1e-5.
_BN_EPS = 1e-3
# Checkpoint keys we do not build: the VGGFace2 8631-way classifier.
_DROPPED_PREFIXES = ("logits.",)


class _ConvBnRelu(nn.Module):
    """facenet-pytorch's BasicConv2d: bias-free conv, BatchNorm, ReLU (keys: conv.*, bn.*)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size=kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_ch, eps=_BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class _ResidualInception(nn.Module):
    """Block35 / Block17 / Block8: parallel branches, 1x1 projection, scaled residual add.

    Branches are registered as ``branch0``, ``branch1``, ... and the projection as ``conv2d`` so that
    the reference key names load unchanged.
    """

    def __init__(
        self, channels: int, branches: list[nn.Module], branch_out: int, scale: float, relu: bool = True
    ) -> None:
        super().__init__()
        self.n_branches = len(branches)
        for i, branch in enumerate(branches):
            self.add_module(f"branch{i}", branch)
        self.conv2d = nn.Conv2d(branch_out, channels, kernel_size=1)
        self.scale = scale
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [getattr(self, f"branch{i}")(x) for i in range(self.n_branches)]
        out = self.conv2d(torch.cat(parts, dim=1)) * self.scale + x
        return F.relu(out) if self.relu else out


class _Reduction(nn.Module):
    """Mixed_6a / Mixed_7a: stride-2 branches concatenated; the last branch is a parameter-free max-pool."""

    def __init__(self, branches: list[nn.Module]) -> None:
        super().__init__()
        self.n_branches = len(branches)
        for i, branch in enumerate(branches):
            self.add_module(f"branch{i}", branch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.n_branches)], dim=1)


def _block35(scale: float = 0.17) -> _ResidualInception:
    return _ResidualInception(
        256,
        [
            _ConvBnRelu(256, 32, 1),
            nn.Sequential(_ConvBnRelu(256, 32, 1), _ConvBnRelu(32, 32, 3, padding=1)),
            nn.Sequential(
                _ConvBnRelu(256, 32, 1), _ConvBnRelu(32, 32, 3, padding=1), _ConvBnRelu(32, 32, 3, padding=1)
            ),
        ],
        branch_out=96,
        scale=scale,
    )


def _block17(scale: float = 0.10) -> _ResidualInception:
    return _ResidualInception(
        896,
        [
            _ConvBnRelu(896, 128, 1),
            nn.Sequential(
                _ConvBnRelu(896, 128, 1),
                _ConvBnRelu(128, 128, (1, 7), padding=(0, 3)),
                _ConvBnRelu(128, 128, (7, 1), padding=(3, 0)),
            ),
        ],
        branch_out=256,
        scale=scale,
    )


def _block8(scale: float = 0.20, relu: bool = True) -> _ResidualInception:
    return _ResidualInception(
        1792,
        [
            _ConvBnRelu(1792, 192, 1),
            nn.Sequential(
                _ConvBnRelu(1792, 192, 1),
                _ConvBnRelu(192, 192, (1, 3), padding=(0, 1)),
                _ConvBnRelu(192, 192, (3, 1), padding=(1, 0)),
            ),
        ],
        branch_out=384,
        scale=scale,
        relu=relu,
    )


def _mixed_6a() -> _Reduction:
    return _Reduction(
        [
            _ConvBnRelu(256, 384, 3, stride=2),
            nn.Sequential(
                _ConvBnRelu(256, 192, 1),
                _ConvBnRelu(192, 192, 3, padding=1),
                _ConvBnRelu(192, 256, 3, stride=2),
            ),
            nn.MaxPool2d(3, stride=2),
        ]
    )


def _mixed_7a() -> _Reduction:
    return _Reduction(
        [
            nn.Sequential(_ConvBnRelu(896, 256, 1), _ConvBnRelu(256, 384, 3, stride=2)),
            nn.Sequential(_ConvBnRelu(896, 256, 1), _ConvBnRelu(256, 256, 3, stride=2)),
            nn.Sequential(
                _ConvBnRelu(896, 256, 1),
                _ConvBnRelu(256, 256, 3, padding=1),
                _ConvBnRelu(256, 256, 3, stride=2),
            ),
            nn.MaxPool2d(3, stride=2),
        ]
    )


class InceptionResnetV1(nn.Module):
    """FaceNet embedder with facenet-pytorch's key layout, for inference and export only.

    Input: float32 N x 3 x 160 x 160 RGB pixels in 0..255 (standardised inside, so callers and the
    ONNX graph share one preprocessing). Output: N x 512 L2-normalised embeddings, as facenet-pytorch
    returns in eval mode with ``classify=False``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv2d_1a = _ConvBnRelu(3, 32, 3, stride=2)
        self.conv2d_2a = _ConvBnRelu(32, 32, 3)
        self.conv2d_2b = _ConvBnRelu(32, 64, 3, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = _ConvBnRelu(64, 80, 1)
        self.conv2d_4a = _ConvBnRelu(80, 192, 3)
        self.conv2d_4b = _ConvBnRelu(192, 256, 3, stride=2)
        self.repeat_1 = nn.Sequential(*(_block35() for _ in range(5)))
        self.mixed_6a = _mixed_6a()
        self.repeat_2 = nn.Sequential(*(_block17() for _ in range(10)))
        self.mixed_7a = _mixed_7a()
        self.repeat_3 = nn.Sequential(*(_block8() for _ in range(5)))
        self.block8 = _block8(scale=1.0, relu=False)
        self.last_linear = nn.Linear(1792, EMBEDDING_DIM, bias=False)
        self.last_bn = nn.BatchNorm1d(EMBEDDING_DIM, eps=_BN_EPS)
        super().train(False)

    def train(self, mode: bool = True) -> InceptionResnetV1:
        """Refuse training mode: batch statistics would silently change every embedding."""
        if mode:
            raise RuntimeError(
                "InceptionResnetV1 here is inference-only; BatchNorm must use running statistics"
            )
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - _PIXEL_MEAN) / _PIXEL_SCALE
        x = self.conv2d_1a(x)
        x = self.conv2d_2a(x)
        x = self.conv2d_2b(x)
        x = self.maxpool_3a(x)
        x = self.conv2d_3b(x)
        x = self.conv2d_4a(x)
        x = self.conv2d_4b(x)
        x = self.repeat_1(x)
        x = self.mixed_6a(x)
        x = self.repeat_2(x)
        x = self.mixed_7a(x)
        x = self.repeat_3(x)
        x = self.block8(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)  # dropout is identity at inference
        x = self.last_bn(self.last_linear(x))
        return F.normalize(x, p=2.0, dim=1)


def _describe(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return f"{shown} (+{len(keys) - limit} more)" if len(keys) > limit else shown


def load_facenet_checkpoint(path: Path) -> InceptionResnetV1:
    """Load an operator-supplied facenet-pytorch checkpoint (bare state dict or {"state_dict": ...}).

    ``logits.*`` (the training classifier) is dropped. BatchNorm ``num_batches_tracked`` counters are
    filled in when absent because older checkpoints omit them and they do not affect inference; every
    other key must match exactly, so a wrong or truncated file fails loudly rather than half-loading.
    """
    path = Path(path)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # re-raised with the file name, which torch omits
        raise ValueError(f"Could not read FaceNet checkpoint {path}: {exc}") from exc
    if isinstance(raw, dict) and "state_dict" in raw and isinstance(raw["state_dict"], dict):
        raw = raw["state_dict"]
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise ValueError(
            f"FaceNet checkpoint {path} is not a state dict of tensors (got {type(raw).__name__})."
        )

    model = InceptionResnetV1()
    expected = model.state_dict()
    state = {k: v for k, v in raw.items() if not k.startswith(_DROPPED_PREFIXES)}
    for key in expected:
        if key.endswith(".num_batches_tracked") and key not in state:
            state[key] = torch.zeros((), dtype=torch.long)

    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing: {_describe(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected: {_describe(unexpected)}")
        raise ValueError(
            f"FaceNet checkpoint {path} does not match facenet-pytorch's InceptionResnetV1 keys "
            f"({'; '.join(parts)})."
        )
    wrong_shape = [
        f"{key} {tuple(state[key].shape)} != {tuple(ref.shape)}"
        for key, ref in expected.items()
        if state[key].shape != ref.shape
    ]
    if wrong_shape:
        raise ValueError(
            f"FaceNet checkpoint {path} has {len(wrong_shape)} tensors of the wrong shape: "
            f"{_describe(wrong_shape)}."
        )
    model.load_state_dict(state, strict=True)
    return model.eval()


def _chips_to_batch(chips: list[np.ndarray]) -> np.ndarray:
    """uint8 HxWx3 RGB chips -> float32 N x 3 x 160 x 160 in 0..255 (resized when not already 160)."""
    if not chips:
        raise ValueError("export_facenet needs at least one real face chip for the parity check.")
    batch = []
    for i, chip in enumerate(chips):
        chip = np.asarray(chip)
        if chip.ndim != 3 or chip.shape[2] != 3:
            raise ValueError(f"Chip {i} must be an HxWx3 RGB array, got shape {chip.shape}.")
        if chip.shape[:2] != (CHIP_SIZE, CHIP_SIZE):
            shrinking = chip.shape[0] > CHIP_SIZE or chip.shape[1] > CHIP_SIZE
            chip = cv2.resize(
                chip, (CHIP_SIZE, CHIP_SIZE), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
            )
        batch.append(chip.astype(np.float32).transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(batch))


def export_facenet(checkpoint: Path, onnx_path: Path, chips: list[np.ndarray], opset: int = 17) -> dict:
    """Export the checkpoint to ONNX (dynamic batch) and prove parity with torch on real chips.

    The file is written next to ``onnx_path`` under a temporary name and renamed only after the
    checker and the parity check pass, so a failed export never leaves a half-written model behind.
    """
    onnx_path = Path(onnx_path)
    model = load_facenet_checkpoint(Path(checkpoint))
    batch = _chips_to_batch(chips)
    max_abs, mean_abs = export_with_parity(
        model,
        batch,
        onnx_path,
        input_name=INPUT_NAME,
        output_name=OUTPUT_NAME,
        expected_shape=(len(batch), EMBEDDING_DIM),
        tolerance=PARITY_TOLERANCE,
        what="ONNX FaceNet",
        quantity="diff",
        items="chips",
        opset=opset,
    )
    return {
        "reference": f"torch {torch.__version__} InceptionResnetV1 (facenet-pytorch architecture)",
        "max_abs_diff": max_abs,
        "mean_abs_diff": mean_abs,
        "n_inputs": len(batch),
    }
