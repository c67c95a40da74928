"""dlib ResNet -> ONNX: the parser reads the real .dat, and the export matches dlib on real faces."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from shared.export import dlib_resnet
from shared.export.dlib_resnet import (
    CHIP_SIZE,
    DLIB_MEANS_RGB,
    AffineLayer,
    ConvLayer,
    DlibReader,
    FcLayer,
    InputLayer,
    ParityError,
    chips_to_input,
    dlib_model_path,
    export_dlib_resnet,
    read_dlib_resnet,
    reference_chips,
)
from tests.conftest import DATA, data_path

# The legacy TorchScript exporter is chosen on purpose (see export_dlib_resnet); its deprecation is known.
pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:You are using the legacy TorchScript-based ONNX export:DeprecationWarning"
    ),
    pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning"),
]

LFW = DATA / "lfw_subset_10x10"
EXAMPLES = DATA / "face_recognition_examples" / "examples"
# Three people, two photos each; every same-person pair is clearly under 0.6 with dlib.
IDENTITIES = ("Colin_Powell", "George_W_Bush", "Vladimir_Putin")
SAME_PERSON_THRESHOLD = 0.6  # dlib's documented decision threshold for this model


@pytest.fixture(scope="module")
def dat_path() -> Path:
    return dlib_model_path("dlib_face_recognition_resnet_model_v1.dat")


@pytest.fixture(scope="module")
def data_dir() -> Path:
    return data_path()


@pytest.fixture(scope="module")
def identity_chips(data_dir: Path) -> dict[tuple[str, int], np.ndarray]:
    chips = {}
    for person, number in itertools.product(IDENTITIES, (1, 2)):
        found = reference_chips([LFW / person / f"{person}_{number:04d}.jpg"], max_chips=1)
        assert found, f"dlib found no face in {person} #{number}"
        chips[person, number] = found[0]
    return chips


@pytest.fixture(scope="module")
def parity_chips(data_dir: Path, identity_chips: dict[tuple[str, int], np.ndarray]) -> list[np.ndarray]:
    others = [*sorted(LFW.glob("*/*_0001.jpg")), EXAMPLES / "biden.jpg", EXAMPLES / "obama.jpg"]
    return list(identity_chips.values()) + reference_chips(others, max_chips=12)


@pytest.fixture(scope="module")
def exported(
    tmp_path_factory: pytest.TempPathFactory, dat_path: Path, parity_chips: list[np.ndarray]
) -> tuple[Path, dict]:
    onnx_path = tmp_path_factory.mktemp("dlib") / "dlib_resnet.onnx"
    return onnx_path, export_dlib_resnet(dat_path, onnx_path, parity_chips)


def test_reader_decodes_dlib_integers() -> None:
    reader = DlibReader(bytes([0x01, 0x20, 0x02, 0x00, 0x01, 0x81, 0x05, 0x01, 0x00]))
    assert [reader.read_int() for _ in range(4)] == [32, 256, -5, 0]


def test_parser_finds_the_whole_network(dat_path: Path) -> None:
    layers = read_dlib_resnet(dat_path)
    convs = [layer for layer in layers if isinstance(layer, ConvLayer)]
    affines = [layer for layer in layers if isinstance(layer, AffineLayer)]
    fcs = [layer for layer in layers if isinstance(layer, FcLayer)]
    assert (len(convs), len(affines), len(fcs)) == (29, 29, 1)

    assert isinstance(layers[0], InputLayer)
    assert layers[0].size == (CHIP_SIZE, CHIP_SIZE)
    np.testing.assert_allclose(layers[0].means_rgb, DLIB_MEANS_RGB, atol=1e-3)

    assert convs[0].weight.shape == (32, 3, 7, 7)
    assert (convs[0].stride, convs[0].padding) == ((2, 2), (0, 0))
    assert [conv.weight.shape[0] for conv in convs[1:]] == [32] * 6 + [64] * 8 + [128] * 6 + [256] * 8
    assert sum(conv.stride == (2, 2) for conv in convs) == 5  # the stem and four ares_down
    for conv in convs[1:]:
        assert conv.weight.shape[2:] == (3, 3)
        assert conv.padding == ((0, 0) if conv.stride == (2, 2) else (1, 1))
        assert conv.bias.shape == (conv.weight.shape[0],)
    assert [a.gamma.shape for a in affines] == [c.bias.shape for c in convs]
    assert [a.beta.shape for a in affines] == [c.bias.shape for c in convs]
    assert fcs[0].weight.shape == (128, 256)
    assert isinstance(layers[-1], FcLayer)


def test_onnx_matches_dlib_on_real_faces(exported: tuple[Path, dict]) -> None:
    onnx_path, report = exported
    assert report["reference"].startswith("dlib ")
    assert report["n_inputs"] >= 8
    assert report["max_abs_diff"] < 1e-4, report
    assert report["torch_max_abs_diff"] < 1e-4, report
    assert [p.name for p in onnx_path.parent.iterdir()] == [onnx_path.name]  # no temp file left behind

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (chips_input,) = session.get_inputs()
    assert chips_input.name == "chips"
    assert chips_input.shape[1:] == [3, CHIP_SIZE, CHIP_SIZE]
    assert isinstance(chips_input.shape[0], str)  # dynamic batch
    assert [output.name for output in session.get_outputs()] == ["embeddings"]


def test_same_person_is_closer_than_threshold(
    exported: tuple[Path, dict], identity_chips: dict[tuple[str, int], np.ndarray]
) -> None:
    session = ort.InferenceSession(str(exported[0]), providers=["CPUExecutionProvider"])
    keys = list(identity_chips)
    embeddings = session.run(["embeddings"], {"chips": chips_to_input(list(identity_chips.values()))})[0]
    assert embeddings.shape == (len(keys), 128)
    for (a, ea), (b, eb) in itertools.combinations(zip(keys, embeddings, strict=True), 2):
        distance = float(np.linalg.norm(ea - eb))
        if a[0] == b[0]:
            assert distance < SAME_PERSON_THRESHOLD, (a, b, distance)
        else:
            assert distance > SAME_PERSON_THRESHOLD, (a, b, distance)


def test_failed_parity_publishes_nothing(
    tmp_path: Path,
    dat_path: Path,
    identity_chips: dict[tuple[str, int], np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dlib_resnet, "PARITY_TOLERANCE", 0.0)
    onnx_path = tmp_path / "dlib_resnet.onnx"
    with pytest.raises(ParityError, match="was not written"):
        export_dlib_resnet(dat_path, onnx_path, list(identity_chips.values())[:2])
    assert list(tmp_path.iterdir()) == []
