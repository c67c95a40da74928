"""YuNet, the optional second detector: its decoding against OpenCV's own FaceDetectorYN, the faces and
landmarks it finds against MTCNN's on real photos, the analyzer and edge config switch, and any size.

Device-side: onnxruntime + numpy + opencv only (no exporter, no torch, no server).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.config import ConfigError, parse_config
from shared.analysis import FaceAnalyzer
from shared.detect import MTCNN
from shared.detectors import DETECTORS, QUALITY_MIN_SCORE, load_detector, quality_thresholds
from shared.embed import EMBEDDERS
from shared.media import read_image
from shared.model_registry import ModelRegistry
from shared.yunet import YuNet, padded_shape
from tests.conftest import data_path, unavailable

pytestmark = pytest.mark.device_profile

# name: (path under the data folder, faces in the photo), as in tests/test_mtcnn.py.
PHOTOS = {
    "multiface": ("facenet_pytorch_data/multiface.jpg", 6),
    "t1": ("insightface_sample_images/t1.jpg", 6),
    "couple": ("deepface_unit_dataset/couple.jpg", 2),
    "obama": ("face_recognition_examples/examples/obama.jpg", 1),
    "two_people": ("face_recognition_examples/examples/two_people.jpg", 2),
}
CONFIDENT = 0.95  # MTCNN's real faces here all score above this (tests/test_mtcnn.py)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def _boxes(faces) -> np.ndarray:
    return np.array([f.box for f in faces], dtype=np.float64).reshape(-1, 4)


@pytest.fixture(scope="module")
def models() -> ModelRegistry:
    registry = ModelRegistry()
    if not all(registry.has(name) for name in ("yunet", "mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet", "sface")):
        unavailable(f"{registry.models_dir} lacks yunet, MTCNN or SFace: run `visage models export`")
    return registry


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return {name: read_image(data_path(rel)) for name, (rel, _) in PHOTOS.items()}


@pytest.fixture(scope="module")
def pairs(models, photos):
    """Per photo: (MTCNN's confident faces, YuNet's face matched to each, YuNet's faces)."""
    mtcnn, yunet = MTCNN.from_registry(models), YuNet.from_registry(models)
    out = {}
    for name, image in photos.items():
        reference = [f for f in mtcnn.detect(image) if f.score >= CONFIDENT]
        found = yunet.detect(image)
        iou = _iou(_boxes(reference), _boxes(found))
        out[name] = (reference, [found[int(row.argmax())] for row in iou], found, iou)
    return out


def test_decoding_equals_opencvs_facedetectoryn_on_the_installed_model(models, photos):
    """FaceDetectorYN does no channel swap, so fed RGB it runs the installed (RGB) graph as we do."""
    if not hasattr(cv2, "FaceDetectorYN"):
        pytest.skip(f"OpenCV {cv2.__version__} has no FaceDetectorYN")
    detector = YuNet.from_registry(models)
    path = str(models.path("yunet"))
    compared = 0
    for image in photos.values():
        height, width = image.shape[:2]
        reference = cv2.FaceDetectorYN.create(path, "", (width, height), detector.score_threshold, 0.3, 5000)
        _, expected = reference.detect(np.ascontiguousarray(image))
        ours = detector.raw(image)
        assert expected is not None and expected.shape == ours.shape
        order = np.argsort(-expected[:, 14], kind="stable")
        assert np.abs(expected[order, :14] - ours[:, :14]).max() < 0.05  # pixels
        assert np.abs(expected[order, 14] - ours[:, 14]).max() < 1e-4
        compared += len(ours)
    assert compared >= 17


def test_yunet_finds_the_faces_mtcnn_finds_on_real_photos(pairs):
    for name, (reference, matched, found, iou) in pairs.items():
        expected = PHOTOS[name][1]
        assert len(reference) == expected, name
        assert len(found) == expected, (name, [round(f.score, 2) for f in found])
        # The same face: YuNet's box lies on MTCNN's (its boxes are drawn a little differently).
        assert iou.max(axis=1).min() >= 0.6, (name, iou.max(axis=1))
        assert len({id(f) for f in matched}) == expected  # one YuNet face per MTCNN face


def test_landmarks_come_in_mtcnns_order(pairs):
    """YuNet's rows pair with MTCNN's as they are, not mirrored (image-left eye and mouth corner first)."""
    mirror = [1, 0, 2, 4, 3]
    checked = 0
    for name, (reference, matched, _, _) in pairs.items():
        for mt, yn in zip(reference, matched, strict=True):
            eyes = float(np.linalg.norm(mt.landmarks[0] - mt.landmarks[1]))
            same = np.linalg.norm(yn.landmarks - mt.landmarks, axis=1)
            mirrored = np.linalg.norm(yn.landmarks[mirror] - mt.landmarks, axis=1)
            assert same.sum() < mirrored.sum(), (name, yn.landmarks, mt.landmarks)
            assert same.mean() < 0.2 * mt.size, (name, same / mt.size)
            if eyes > 0.3 * mt.size:  # a face turned well away puts both eyes on one side
                assert yn.landmarks[0, 0] < yn.landmarks[1, 0] and yn.landmarks[3, 0] < yn.landmarks[4, 0]
            checked += 1
    assert checked == sum(count for _, count in PHOTOS.values())


def test_yunet_analyzer_embeds_the_same_people_as_the_mtcnn_analyzer(models, photos):
    """Same person on every face; nearly the same vector on upright faces. YuNet's landmarks understate
    a head's roll (t1: MTCNN -29 and -37 degrees, YuNet -3), so a tilted head's chip stays tilted and
    its vector moves further (cosine ~0.6, still a match): docs/face-core.md, Detectors."""
    mtcnn = FaceAnalyzer(models).prepare()
    yunet = FaceAnalyzer(models, detector="yunet").prepare()
    assert isinstance(yunet.detector, YuNet) and yunet.detector_name == "yunet"
    assert yunet.thresholds.min_score == QUALITY_MIN_SCORE["yunet"]
    match = float(EMBEDDERS[mtcnn.embedder_name]["threshold"])
    frontal, passed = [], 0
    for image in photos.values():
        ours, theirs = yunet.get(image), mtcnn.get(image)
        passed += sum(f.quality.passed for f in ours)
        iou = _iou(_boxes([f.face for f in theirs]), _boxes([f.face for f in ours]))
        for i, reference in enumerate(theirs):
            if reference.face.score < CONFIDENT:
                continue
            other = ours[int(iou[i].argmax())]
            a, b = (v / np.linalg.norm(v) for v in (reference.embedding, other.embedding))
            cosine = float(a @ b)
            assert cosine > match  # the same person by the embedder's own 1:1 threshold
            pose = reference.quality.pose
            if abs(pose.roll) < 15 and abs(pose.yaw) < 30:
                frontal.append(cosine)
    assert len(frontal) >= 10 and min(frontal) > 0.85, frontal
    assert passed >= 12  # YuNet's faces pass the quality check as MTCNN's do


def test_unknown_detectors_are_refused_with_the_valid_names(models):
    assert DETECTORS == ("mtcnn", "yunet")
    with pytest.raises(ValueError, match="mtcnn, yunet"):
        FaceAnalyzer(models, detector="retinaface")
    with pytest.raises(ValueError, match="mtcnn, yunet"):
        load_detector(models, "haar")
    with pytest.raises(ValueError, match="mtcnn, yunet"):
        quality_thresholds("haar")
    base = {"device_id": "room-101"}
    assert parse_config(base).detector == "mtcnn"
    assert parse_config({**base, "detector": "yunet"}).detector == "yunet"
    with pytest.raises(ConfigError, match="mtcnn, yunet"):
        parse_config({**base, "detector": "YuNet"})


def test_any_image_size_and_the_input_scale(models, photos):
    detector = YuNet.from_registry(models, min_face_size=40)
    assert padded_shape(720, 1280) == (736, 1280) and padded_shape(1, 33) == (32, 64)
    assert detector.input_scale((720, 1280)) == pytest.approx(16 / 40)
    assert YuNet.from_registry(models, min_face_size=10).input_scale((720, 1280)) == 1.0
    capped = YuNet.from_registry(models, min_face_size=10, max_side=640)
    assert capped.input_scale((720, 1280)) == pytest.approx(0.5)
    for shape in [(1, 1, 3), (31, 47, 3), (333, 517, 3)]:
        assert detector.detect(np.zeros(shape, dtype=np.uint8)) == []
    # An odd crop of a real photo: faces map back into the crop's own pixels.
    image = photos["multiface"][7:600, 3:1191]
    faces = YuNet.from_registry(models).detect(np.ascontiguousarray(image))
    assert len(faces) == 6
    whole = YuNet.from_registry(models).detect(photos["multiface"])
    moved = _boxes(whole) - [3, 7, 3, 7]  # the same faces, in the crop's coordinates
    # Not identical: a shift off the 32 px grid changes what the network sees, a little.
    iou = _iou(_boxes(faces), moved)
    assert iou.max(axis=1).min() > 0.85
    shift = _boxes(faces) - moved[iou.argmax(axis=1)]
    assert np.abs(shift.mean(axis=0)).max() < 2.0  # no offset left over from the mapping
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(np.zeros((64, 64, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="score_threshold"):
        YuNet(None, score_threshold=1.5)


def test_the_class_frame_scale_keeps_faces_of_min_face_size(models, photos):
    """At min_face_size 40 the network sees a 1280x720 frame at 0.4x: a ~45 px face must survive."""
    image = photos["two_people"]
    faces = YuNet.from_registry(models).detect(image)
    target = 45.0 / min(f.size for f in faces)
    small = cv2.resize(image, None, fx=target, fy=target, interpolation=cv2.INTER_AREA)
    canvas = np.full((720, 1280, 3), 128, dtype=np.uint8)
    canvas[: small.shape[0], : small.shape[1]] = small[:720, :1280]
    found = YuNet.from_registry(models, min_face_size=40).detect(canvas)
    assert len(found) == 2, [(round(f.size), round(f.score, 2)) for f in found]
