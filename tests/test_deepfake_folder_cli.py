"""`visage deepfake score DIR`: every file of a folder scored, unreadable ones listed with their
reason, CSV or JSON out, exit codes with a sentence."""

from __future__ import annotations

import csv
import json
import shutil

from tests.conftest import data_path
from tests.test_cli import _models, run  # noqa: F401  (_models: the autouse fixture pointing at models/)

SAMPLES = "deepfake_dfdc_ffpp_samples"


def _folder(tmp_path):
    folder = tmp_path / "uploads"
    (folder / "more").mkdir(parents=True)
    shutil.copy(data_path(SAMPLES, "dfdc_notebook_samples", "mqzvfufzoq_fr0.jpg"), folder / "frame.jpg")
    video = data_path(SAMPLES, "dfdc_kaggle_sample", "videos", "abqwwspghj.mp4").read_bytes()
    (folder / "more" / "cut.mp4").write_bytes(video[: len(video) // 3])  # truncated: corrupt
    (folder / "notes.txt").write_text("not a picture\n" * 20)
    (folder / ".hidden.jpg").write_bytes(b"skipped")
    return folder


def test_folder_to_csv_lists_good_corrupt_and_non_media_files(capsys, tmp_path):
    folder = _folder(tmp_path)
    out = tmp_path / "scores.csv"
    code, stdout, err = run(
        capsys, "deepfake", "score", str(folder), "--out", str(out), "--frames", "4", "--no-progress"
    )
    assert code == 1 and stdout == ""
    assert "scored 1 of 3 file(s); 2 could not be read" in err and str(out) in err
    with open(out, newline="") as handle:
        rows = {row["file"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"frame.jpg", "more/cut.mp4", "notes.txt"}
    good = rows["frame.jpg"]
    assert good["status"] == "scored" and 0.0 <= float(good["probability"]) <= 1.0
    assert good["kind"] == "image" and good["verdict"] in ("likely_real", "uncertain", "likely_fake")
    notes = rows["notes.txt"]
    assert notes["status"] == "unreadable" and "not an image or a video" in notes["reason"]
    assert rows["more/cut.mp4"]["status"] == "unreadable" and rows["more/cut.mp4"]["reason"]
    assert rows["notes.txt"]["probability"] == ""


def test_folder_to_json_on_stdout_with_progress_bar(capsys, tmp_path):
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(data_path(SAMPLES, "dfdc_notebook_samples", "mqzvfufzoq_fr0.jpg"), folder / "a.jpg")
    code, stdout, err = run(capsys, "deepfake", "score", str(folder))
    assert code == 0 and "scored all 1 file(s)" in err and "scoring" in err  # the tqdm bar
    rows = json.loads(stdout)
    assert [row["file"] for row in rows] == ["a.jpg"] and rows[0]["status"] == "scored"
    out = tmp_path / "rows.json"
    code, stdout, _ = run(capsys, "deepfake", "score", str(folder), "--out", str(out), "--no-progress")
    assert code == 0 and stdout == "" and json.loads(out.read_text())[0]["file"] == "a.jpg"


def test_folder_bad_input_exits_2_with_a_sentence(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "deepfake", "score", str(empty))
    assert code == 2 and "holds no files" in err
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.txt").write_text("hello\n" * 30)
    code, _, err = run(capsys, "deepfake", "score", str(junk), "--no-progress")
    assert code == 2 and "none of the 1 file(s)" in err
    code, _, err = run(capsys, "deepfake", "score", str(junk), "--out", str(tmp_path / "x.xlsx"))
    assert code == 2 and ".csv or .json" in err
    code, _, err = run(capsys, "deepfake", "score", str(junk), "--out", str(tmp_path / "no" / "x.csv"))
    assert code == 2 and "does not exist" in err
    assert not (tmp_path / "x.xlsx").exists()
