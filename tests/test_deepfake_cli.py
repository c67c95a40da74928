"""`visage deepfake score|eval`: JSON out on real media; exit code 2 and one sentence for bad input."""

from __future__ import annotations

import itertools
import json

import pytest

from shared.deepfake.evaluate import log_loss, roc_auc
from tests.conftest import data_path
from tests.deepfake_media import wav
from tests.test_cli import _models, run  # noqa: F401  (_models: the autouse fixture pointing at models/)

SAMPLES = "deepfake_dfdc_ffpp_samples"


def test_score_prints_the_result_as_json_and_writes_crops(capsys, tmp_path):
    photo = data_path(SAMPLES, "dfdc_notebook_samples", "mqzvfufzoq_fr0.jpg")
    code, out, _ = run(capsys, "deepfake", "score", str(photo), "--crops", str(tmp_path / "crops"))
    assert code == 0
    data = json.loads(out)
    assert data["kind"] == "image" and 0.0 <= data["probability"] <= 1.0
    assert data["verdict"] in ("likely_real", "uncertain", "likely_fake") and "65%" in data["note"]
    assert len(data["crop_files"]) == len(data["top_faces"]) >= 1
    assert all(
        (tmp_path / "crops").joinpath(p.rsplit("/", 1)[-1]).stat().st_size > 500 for p in data["crop_files"]
    )


def test_score_video_with_few_frames(capsys):
    video = data_path(SAMPLES, "dfdc_kaggle_sample", "videos", "abqwwspghj.mp4")
    code, out, _ = run(capsys, "deepfake", "score", str(video), "--frames", "3")
    data = json.loads(out)
    assert code == 0 and data["kind"] == "video" and data["frames_sampled"] == 3
    assert 0.0 <= data["probability"] <= 1.0


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "empty.mp4", "empty (0 bytes)"),
        (b"Just some notes, renamed.\n" * 10, "notes.mp4", "not an image or a video"),
        (None, "voice.wav", "audio"),
    ],
)
def test_score_bad_media_exits_2_with_a_sentence(capsys, tmp_path, content, name, message):
    path = tmp_path / name
    if content is None:
        wav(path)
    else:
        path.write_bytes(content)
    code, out, err = run(capsys, "deepfake", "score", str(path))
    assert code == 2 and out == ""
    assert err.startswith("visage: ") and message in err and err.count("\n") == 1


def test_score_missing_file_and_bad_frames(capsys, tmp_path):
    code, _, err = run(capsys, "deepfake", "score", str(tmp_path / "nothing.mp4"))
    assert code == 2 and "no such file" in err
    photo = data_path(SAMPLES, "dfdc_notebook_samples", "mqzvfufzoq_fr0.jpg")
    code, _, err = run(capsys, "deepfake", "score", str(photo), "--frames", "0")
    assert code == 2 and "--frames" in err


def _pairwise_auc(labels: list[bool], scores: list[float]) -> float:
    """AUC as the share of (fake, real) pairs ranked right, ties half: the definition, brute force."""
    pairs = [
        (f, r) for f, r in itertools.product(range(len(labels)), repeat=2) if labels[f] and not labels[r]
    ]
    wins = sum(1.0 if scores[f] > scores[r] else 0.5 if scores[f] == scores[r] else 0.0 for f, r in pairs)
    return wins / len(pairs)


def test_eval_mixed_videos_and_images_ends_with_the_summary(capsys, tmp_path):
    root = data_path(SAMPLES)
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "path,kind,label,notes\n"
        "dfdc_notebook_samples/lynaeydofd.mp4,video,REAL,\n"
        "dfdc_notebook_samples/lynaeydofd_fr0.jpg,frame,real,lower case is fine\n"
        "dfdc_notebook_samples/mqzvfufzoq_fr0.jpg,frame,FAKE,\n"
        "dfdc_kaggle_sample/face_crops/fake/abqwwspghj-001-00.png,face_crop,FAKE,\n"
        "dfdc_kaggle_sample/face_crops/real/abarnvbtwb-000-00.png,face_crop,REAL,\n"
        "missing/clip.mp4,video,FAKE,not there\n"
    )
    code, out, err = run(
        capsys, "deepfake", "eval", "--labels", str(labels), "--root", str(root), "--frames", "2"
    )
    assert code == 0, err
    lines = [json.loads(line) for line in out.strip().splitlines()]
    summary, files = lines[-1], lines[:-1]
    assert set(summary) >= {"auc", "log_loss", "accuracy", "n"}
    assert len(files) == 6 and summary["n"] == 5 and (summary["n_fake"], summary["n_real"]) == (2, 3)
    assert [e["path"] for e in summary["errors"]] == ["missing/clip.mp4"] and "left out" in err
    scored = [f for f in files if "error" not in f]
    truth = [f["label"] == "FAKE" for f in scored]
    probs = [f["scored_as"] for f in scored]
    assert summary["auc"] == pytest.approx(_pairwise_auc(truth, probs), abs=1e-6)
    assert summary["log_loss"] == pytest.approx(log_loss(truth, probs), abs=1e-6)
    assert summary["accuracy"] == pytest.approx(
        sum((p >= 0.5) == t for p, t in zip(probs, truth, strict=True)) / 5, abs=1e-6
    )


def test_eval_bad_labels_exit_2(capsys, tmp_path):
    root = data_path(SAMPLES)
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\ndfdc_notebook_samples/lynaeydofd_fr0.jpg,MAYBE\n")
    code, _, err = run(capsys, "deepfake", "eval", "--labels", str(labels), "--root", str(root))
    assert code == 2 and "line 2" in err and "MAYBE" in err
    labels.write_text("file,truth\nx.mp4,REAL\n")
    code, _, err = run(capsys, "deepfake", "eval", "--labels", str(labels), "--root", str(root))
    assert code == 2 and "'path' and 'label'" in err
    code, _, err = run(
        capsys, "deepfake", "eval", "--labels", str(tmp_path / "none.csv"), "--root", str(root)
    )
    assert code == 2 and "no such labels file" in err


def test_auc_handles_ties_and_one_class():
    labels = [True, False, True, False, True]
    scores = [0.9, 0.9, 0.4, 0.1, 0.7]
    assert roc_auc(labels, scores) == pytest.approx(_pairwise_auc(labels, scores))
    assert roc_auc([True, True], [0.2, 0.3]) is None
    assert log_loss([True, False], [1.0, 0.0]) == pytest.approx(0.0, abs=1e-12)
