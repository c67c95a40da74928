"""MesoNet (Afchar et al., WIFS 2018) as a benchmark peer: a NumPy forward pass of the Keras weights.

The weights live in ../shared/data/mesonet/ (weights-only Keras 2.1.5 HDF5, Apache-2.0) and are
read at bench time with h5py; they are never committed or shipped. Keras layout throughout:
NHWC, "same" padding, kernels (kh, kw, in, out), conv -> ReLU -> BatchNorm (eps 1e-3) -> max-pool,
flatten in NHWC order. The sigmoid output is P(real) (class order df=0, real=1), so `predict`
returns 1 - output to match the pipeline's P(fake). Input: 256x256 RGB / 255.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

INPUT_SIZE = 256
BN_EPS = 1e-3
# MesoNet's own pipeline crops detected faces with a margin; 0.2 of the box on each side is our choice.
MARGIN = 0.2


def _load(path: Path) -> dict[str, dict[str, np.ndarray]]:
    import h5py

    layers: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(path, "r") as handle:
        for name in handle:
            group = handle[name]
            params: dict[str, np.ndarray] = {}
            group.visit(
                lambda key, g=group, p=params: (
                    p.__setitem__(key.split("/")[-1].split(":")[0], np.asarray(g[key]))
                    if hasattr(g[key], "shape")
                    else None
                )
            )
            if params:
                layers[name] = params
    return layers


def _dilate(kernel: np.ndarray, rate: int) -> np.ndarray:
    if rate == 1:
        return kernel
    kh, kw, cin, cout = kernel.shape
    out = np.zeros(((kh - 1) * rate + 1, (kw - 1) * rate + 1, cin, cout), kernel.dtype)
    out[::rate, ::rate] = kernel
    return out


def conv_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, rate: int = 1) -> np.ndarray:
    """NHWC 'same' convolution (cross-correlation, stride 1) by im2col + matmul."""
    kernel = _dilate(kernel, rate)
    kh, kw, cin, cout = kernel.shape
    top, left = (kh - 1) // 2, (kw - 1) // 2
    padded = np.pad(x, ((0, 0), (top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))
    windows = sliding_window_view(padded, (kh, kw), axis=(1, 2))  # N, H, W, C, kh, kw
    n, h, w = x.shape[:3]
    cols = windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * h * w, kh * kw * cin)
    out = cols @ kernel.reshape(kh * kw * cin, cout) + bias
    return out.reshape(n, h, w, cout)


def max_pool(x: np.ndarray, size: int) -> np.ndarray:
    n, h, w, c = x.shape
    return x.reshape(n, h // size, size, w // size, size, c).max(axis=(2, 4))


def _bn(x: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
    return (x - p["moving_mean"]) / np.sqrt(p["moving_variance"] + BN_EPS) * p["gamma"] + p["beta"]


class MesoNet:
    """Meso4 or MesoInception4 from a weights file; `predict` follows the pipeline's classifier API."""

    version = "DariusAf/MesoNet 2144d56"
    input_size = INPUT_SIZE
    margin = MARGIN

    def __init__(self, weights: Path):
        self.path = Path(weights)
        self.layers = _load(self.path)
        self.inception = any(name == "conv2d_16" for name in self.layers)
        self.name = self.path.stem
        names = sorted(self.layers, key=lambda n: (n.rsplit("_", 1)[0], int(n.rsplit("_", 1)[1])))
        self.convs = [n for n in names if n.startswith("conv2d_")]
        self.bns = [n for n in names if n.startswith("batch_normalization_")]
        self.denses = [n for n in names if n.startswith("dense_")]

    def _conv(self, x: np.ndarray, name: str, rate: int = 1) -> np.ndarray:
        p = self.layers[name]
        return np.maximum(conv_same(x, p["kernel"], p["bias"], rate), 0.0)

    def _inception(self, x: np.ndarray, names: list[str]) -> np.ndarray:
        a = self._conv(x, names[0])
        b = self._conv(self._conv(x, names[1]), names[2])
        c = self._conv(self._conv(x, names[3]), names[4], rate=2)
        d = self._conv(self._conv(x, names[5]), names[6], rate=3)
        return np.concatenate([a, b, c, d], axis=3)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """NHWC float input in [0, 1] -> P(real) per image."""
        convs, bns = self.convs, [self.layers[n] for n in self.bns]
        if self.inception:
            x = max_pool(_bn(self._inception(x, convs[0:7]), bns[0]), 2)
            x = max_pool(_bn(self._inception(x, convs[7:14]), bns[1]), 2)
            x = max_pool(_bn(self._conv(x, convs[14]), bns[2]), 2)
            x = max_pool(_bn(self._conv(x, convs[15]), bns[3]), 4)
        else:
            for i, pool in enumerate((2, 2, 2, 4)):
                x = max_pool(_bn(self._conv(x, convs[i]), bns[i]), pool)
        x = x.reshape(len(x), -1)
        hidden, out = (self.layers[n] for n in self.denses)
        x = x @ hidden["kernel"] + hidden["bias"]
        x = np.where(x > 0, x, 0.1 * x)
        x = x @ out["kernel"] + out["bias"]
        return 1.0 / (1.0 + np.exp(-x[:, 0]))

    def predict(self, crops: np.ndarray, batch: int = 8) -> np.ndarray:
        """N x 256 x 256 x 3 uint8 RGB crops -> P(fake) = 1 - P(real)."""
        crops = np.asarray(crops)
        out = [
            self.forward(crops[i : i + batch].astype(np.float32) / 255.0) for i in range(0, len(crops), batch)
        ]
        return 1.0 - np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "input_size": self.input_size,
            "margin": self.margin,
        }


def resize_nearest(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_NEAREST)
