"""SFace: graph rewrites exact on their own, the exported model equal to OpenCV's run of the published
one on real faces, the 112 ArcFace alignment, the fused embedder's arithmetic, and bad input."""

from __future__ import annotations

import math

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from shared.align import ARCFACE_CHIP_SIZE, ARCFACE_TEMPLATE, align_face
from shared.analysis import FaceAnalyzer
from shared.embed import (
    EMBEDDERS,
    FaceEmbedder,
    FusedEmbedder,
    embedder_id,
    fuse,
    load_embedder,
    model_files,
    require_embedder,
)
from shared.export import onnx_graph
from shared.export.sface import SFACE_SOURCE, chips_to_input, opencv_reference_features
from shared.media import read_image
from shared.model_registry import ModelRegistry
from tests.conftest import data_path


def _run(model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feed)[0]


def _conv_bn_prelu_model(rng: np.random.Generator) -> onnx.ModelProto:
    """Conv -> BatchNorm -> PRelu -> Dropout, with the weight listed as a graph input too (as published)."""
    weight = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    inits = [
        numpy_helper.from_array(weight, "w"),
        numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "gamma"),
        numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "beta"),
        numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "mean"),
        numpy_helper.from_array(rng.uniform(0.5, 2, size=4).astype(np.float32), "var"),
        numpy_helper.from_array(rng.uniform(0.05, 0.3, size=(4, 1, 1)).astype(np.float32), "slope"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["b"], epsilon=1e-3),
        helper.make_node("PRelu", ["b", "slope"], ["p"]),
        helper.make_node("Dropout", ["p"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 8, 8]),
            helper.make_tensor_value_info("w", onnx.TensorProto.FLOAT, [4, 3, 3, 3]),
        ],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4, 8, 8])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_graph_rewrites_are_exact_and_remove_what_they_promise():
    rng = np.random.default_rng(0)
    model = _conv_bn_prelu_model(rng)
    x = rng.normal(size=(1, 3, 8, 8)).astype(np.float32) * 50
    before = _run(model, {"x": x, "w": numpy_helper.to_array(model.graph.initializer[0])})
    assert onnx_graph.drop_initializer_inputs(model) == 1
    assert [value.name for value in model.graph.input] == ["x"]
    assert onnx_graph.remove_dropout(model) == 1
    assert onnx_graph.fold_batchnorm(model) == 1
    assert onnx_graph.rewrite_prelu(model) == 1
    onnx_graph.dynamic_batch(model)
    ops = [node.op_type for node in model.graph.node]
    assert "BatchNormalization" not in ops and "PRelu" not in ops and "Dropout" not in ops
    after = _run(model, {"x": x})
    assert np.abs(after - before).max() < 1e-3 * np.abs(before).max()
    batch = np.concatenate([x, x[:, :, ::-1]])  # the batch axis is dynamic now
    assert _run(model, {"x": batch}).shape == (2, 4, 8, 8)


def test_fold_constants_computes_block_dequantization():
    q = np.arange(-8, 8, dtype=np.int8).reshape(2, 8)
    scale = np.array([[0.5, 2.0], [1.0, 0.25]], dtype=np.float32)
    zero = np.zeros((2, 2), dtype=np.int8)
    node = helper.make_node("DequantizeLinear", ["q", "s", "z"], ["w"], axis=1, block_size=4)
    graph = helper.make_graph(
        [node, helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 8])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 8])],
        [numpy_helper.from_array(v, n) for v, n in ((q, "q"), (scale, "s"), (zero, "z"))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    assert onnx_graph.fold_constants(model) == 1
    assert [node.op_type for node in model.graph.node] == ["Add"]
    folded = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}["w"]
    expected = q.astype(np.float32) * np.repeat(scale, 4, axis=1)
    assert np.array_equal(folded, expected)


@pytest.fixture(scope="module")
def registry():
    registry = ModelRegistry()
    if not registry.has("sface"):
        pytest.fail("models/ has no SFace: run `visage models export`")
    return registry


@pytest.fixture(scope="module")
def real_faces(registry):
    """(image, face) of real photos, one face each, from the identity set."""
    analyzer = FaceAnalyzer(registry, embedder="sface").prepare()
    folder = data_path("lfw_east_asian_dev", "people")
    found = []
    for person in sorted(folder.iterdir())[:6]:
        for path in sorted(person.glob("*.jpg"))[:2]:
            image = read_image(path)
            faces = analyzer.detect(image)
            if faces:
                found.append((person.name, image, max(faces, key=lambda f: f.size)))
    assert len(found) >= 10
    return found


def test_exported_sface_matches_opencv_on_the_published_graph(registry, real_faces):
    chips = np.stack(
        [
            align_face(image, face.landmarks, ARCFACE_TEMPLATE, ARCFACE_CHIP_SIZE, ARCFACE_CHIP_SIZE)
            for _, image, face in real_faces
        ]
    )
    reference = opencv_reference_features(SFACE_SOURCE.fetch(), chips)
    ours = registry.session("sface").run(None, {"data": chips_to_input(chips)})[0]
    assert np.abs(ours - reference).max() < 1e-4
    entry = registry.entry("sface")
    assert entry["parity"]["max_abs_diff"] < 1e-4 and entry["source"]["sha256"] == SFACE_SOURCE.member_sha256


@pytest.mark.parametrize("scale,angle", [(1.5, 20), (4.0, -12)])
def test_arcface_alignment_puts_landmarks_on_the_112_template(scale, angle):
    a = math.radians(angle)
    rotation = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    landmarks = (ARCFACE_TEMPLATE - ARCFACE_CHIP_SIZE / 2) @ rotation.T + np.array([300.0, 260.0])
    image = np.zeros((700, 700, 3), dtype=np.uint8)
    for x, y in landmarks:
        cv2.circle(image, (round(x), round(y)), max(2, round(2 * scale)), (255, 255, 255), -1)
    chip = align_face(image, landmarks, ARCFACE_TEMPLATE, ARCFACE_CHIP_SIZE, ARCFACE_CHIP_SIZE)
    assert chip.shape == (112, 112, 3)
    gray = chip[..., 0]
    for x, y in ARCFACE_TEMPLATE:
        assert gray[int(y) - 3 : int(y) + 4, int(x) - 3 : int(x) + 4].max() > 100
    assert gray[:15, :15].max() == 0


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_fused_cosine_is_the_weighted_sum_of_the_parts_cosines():
    rng = np.random.default_rng(1)
    a1, b1, a2, b2 = (rng.normal(size=128) * rng.uniform(0.5, 3) for _ in range(4))
    w1, w2 = (float(w) for _, w in EMBEDDERS["fused"]["parts"])
    fa, fb = fuse([a1, a2], [w1, w2])[0], fuse([b1, b2], [w1, w2])[0]
    assert abs(np.linalg.norm(fa) - 1.0) < 1e-3  # weights squared sum to one: unit vectors
    assert abs(_cos(fa, fb) - (w1**2 * _cos(a1, b1) + w2**2 * _cos(a2, b2))) < 1e-5


def test_fused_embedder_concatenates_its_parts_on_real_faces(registry, real_faces):
    fused = load_embedder(registry, "fused")
    assert isinstance(fused, FusedEmbedder) and model_files("fused") == ("dlib_resnet", "sface")
    _, image, face = real_faces[0]
    vector = fused.embed_faces(image, [face])[0]
    parts = [part.embed_faces(image, [face])[0] for part, _ in fused.parts]
    expected = fuse(parts, [w for _, w in fused.parts])[0]
    assert vector.shape == (256,) and np.allclose(vector, expected, atol=1e-6)


def test_sface_tells_the_same_person_from_others_at_its_threshold(registry, real_faces):
    embedder = load_embedder(registry, "sface")
    vectors = [(name, embedder.embed_faces(image, [face])[0]) for name, image, face in real_faces]
    threshold = float(EMBEDDERS["sface"]["strict_threshold"])
    same = [_cos(a, b) for i, (n, a) in enumerate(vectors) for m, b in vectors[i + 1 :] if n == m]
    other = [_cos(a, b) for i, (n, a) in enumerate(vectors) for m, b in vectors[i + 1 :] if n != m]
    assert same and other
    assert max(other) < threshold < np.median(same)


def test_embedder_ids_and_bad_input(registry):
    assert embedder_id("sface") == embedder_id("sface@old") == f"sface@{EMBEDDERS['sface']['version']}"
    assert require_embedder("dlib_resnet@1") is EMBEDDERS["dlib_resnet"]
    with pytest.raises(ValueError, match="Unknown embedder 'nope'"):
        require_embedder("nope@3")
    sface = FaceEmbedder.from_registry(registry, "sface")
    with pytest.raises(ValueError, match=r"\(N, 112, 112, 3\)"):
        sface.embed(np.zeros((2, 150, 150, 3), np.uint8))
    assert sface.embed(np.zeros((0, 112, 112, 3), np.uint8)).shape == (0, 128)
    with pytest.raises(ValueError, match="embed_faces"):
        load_embedder(registry, "fused").embed(np.zeros((1, 150, 150, 3), np.uint8))
    with pytest.raises(ValueError, match="load_embedder"):
        FaceEmbedder(registry.session("sface"), name="fused")
