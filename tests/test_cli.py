"""The `visage` command: real photos in, useful text/JSON out; bad input gets exit 2 and a sentence."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, data_path
from visage.cli import main


@pytest.fixture(autouse=True)
def _models(registry, monkeypatch):
    monkeypatch.setenv("VISAGE_MODELS_DIR", str(registry.models_dir))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_detect_json_on_group_photo(capsys):
    photo = data_path("facenet_pytorch_data", "multiface.jpg")
    code, out, _ = run(capsys, "faces", "detect", str(photo), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["width"] == 1200 and data["height"] == 630
    faces = [f for f in data["faces"] if f["score"] >= 0.95]
    assert len(faces) == 6
    for face in faces:
        assert len(face["landmarks"]) == 5 and set(face["quality"]) >= {"passed", "sharpness", "pose"}


def test_compare_same_and_different_people(capsys):
    obama = data_path("face_recognition_examples", "examples", "obama.jpg")
    obama2 = data_path("face_recognition_examples", "examples", "obama2.jpg")
    biden = data_path("face_recognition_examples", "examples", "biden.jpg")
    code, out, _ = run(capsys, "faces", "compare", str(obama), str(obama2), "--json")
    assert code == 0 and json.loads(out)["any_match"] is True
    code, out, _ = run(capsys, "faces", "compare", str(obama), str(biden), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["any_match"] is False and data["matches"], "Biden's face should be found but not matched"


def test_compare_finds_the_person_in_a_group(capsys):
    obama = data_path("face_recognition_examples", "examples", "obama.jpg")
    group = data_path("face_recognition_examples", "examples", "knn_examples", "test", "obama_and_biden.jpg")
    code, out, _ = run(capsys, "faces", "compare", str(obama), str(group), "--json")
    data = json.loads(out)
    assert code == 0 and sum(m["same_person"] for m in data["matches"]) == 1 and len(data["matches"]) >= 2


def test_blur_flags_a_blurred_copy(capsys, tmp_path):
    import cv2

    from shared.media import read_image

    photo = data_path("face_recognition_examples", "examples", "obama.jpg")
    blurred = tmp_path / "blurred.png"
    cv2.imwrite(str(blurred), cv2.GaussianBlur(cv2.cvtColor(read_image(photo), cv2.COLOR_RGB2BGR), (0, 0), 6))
    _, sharp_out, _ = run(capsys, "faces", "blur", str(photo), "--json")
    _, blur_out, _ = run(capsys, "faces", "blur", str(blurred), "--json")
    sharp, soft = json.loads(sharp_out), json.loads(blur_out)
    assert sharp["blurred"] is False and soft["blurred"] is True
    assert soft["sharpness"] < sharp["sharpness"] / 5


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "empty"),
        (b"hello, not a picture\n" * 10, "not an image"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 50, ""),
    ],
)
def test_bad_images_exit_2_with_a_sentence(capsys, tmp_path, content, message):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    code, out, err = run(capsys, "faces", "detect", str(path))
    assert code == 2 and out == ""
    assert err.startswith("visage: ") and message in err and "Traceback" not in err


def test_missing_file_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "faces", "blur", str(tmp_path / "missing.png"))
    assert code == 2 and "no such file" in err


def test_no_face_is_an_empty_result_not_an_error(capsys, tmp_path):
    import cv2
    import numpy as np

    path = tmp_path / "wall.png"
    cv2.imwrite(str(path), np.full((300, 400, 3), 128, np.uint8))
    code, out, _ = run(capsys, "faces", "detect", str(path), "--json")
    assert code == 0 and json.loads(out)["faces"] == []
    code, _, err = run(capsys, "faces", "compare", str(path), str(path))
    assert code == 2 and "no face found" in err


def test_missing_models_named_with_the_fix(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("VISAGE_MODELS_DIR", str(tmp_path))
    photo = data_path("face_recognition_examples", "examples", "obama.jpg")
    code, _, err = run(capsys, "faces", "detect", str(photo))
    assert code == 2 and "visage models export" in err


def test_eval_lfw_rejects_bad_pairs_file(capsys, tmp_path):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("3\nA 1 2\n")
    code, _, err = run(capsys, "faces", "eval-lfw", "--pairs", str(pairs), "--images", str(tmp_path))
    assert code == 2 and "promises" in err


def test_eval_lfw_cross_validates_across_pairs_files_with_jitter(capsys, tmp_path):
    images = data_path("lfw_subset_10x10")
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text(
        "2\nColin_Powell\t1\t2\nTony_Blair\t3\t4\n"
        "Colin_Powell\t1\tTony_Blair\t3\nHugo_Chavez\t1\tVladimir_Putin\t2\n"
    )
    second.write_text(
        "2\nHugo_Chavez\t2\t5\nVladimir_Putin\t1\t6\n"
        "Ariel_Sharon\t1\tJacques_Chirac\t2\nGeorge_W_Bush\t1\tGerhard_Schroeder\t1\n"
    )
    argv = ["faces", "eval-lfw", "--pairs", str(first), "--pairs", str(second), "--images", str(images)]
    code, out, _ = run(capsys, *argv, "--jitter", "2", "--json")
    assert code == 0
    result = json.loads(out.strip().splitlines()[-1])
    # Each file is one fold: the threshold is chosen on one file and applied to the other.
    assert result["folds"] == 2 and result["pairs"] == 8 and len(result["fold_accuracies"]) == 2
    assert result["jitter"] == 2 and result["undetected"] == 0 and result["accuracy"] == 1.0
    with pytest.raises(SystemExit) as exited:  # argparse's own usage error
        run(capsys, *argv, "--jitter", "500")
    assert exited.value.code == 2 and "number of jitters" in capsys.readouterr().err


def test_console_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "visage.cli", "models", "list"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 1) and ("mtcnn_pnet" in result.stdout or "No models" in result.stdout)
