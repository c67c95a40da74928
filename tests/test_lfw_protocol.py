"""Parsing of the official LFW pairs files and the protocol's bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from shared.lfw import PairsFormatError, central_face, fallback_box, read_pairs, score_pairs
from tests.conftest import data_path

pytestmark = pytest.mark.device_profile


def test_dev_test_file():
    root = data_path("lfw_deepfunneled_pairs")
    pairs, folds = read_pairs(root / "pairsDevTest.txt", root / "images")
    assert folds == 1 and len(pairs) == 1000
    assert sum(p.same for p in pairs) == 500
    assert all(p.a.is_file() and p.b.is_file() for p in pairs)
    assert pairs[0].same and pairs[0].a.parent == pairs[0].b.parent


def test_full_view2_file_has_ten_folds():
    root = data_path("lfw_deepfunneled_pairs")
    pairs, folds = read_pairs(root / "pairs.txt", root / "images")
    assert folds == 10 and len(pairs) == 6000
    per_fold = np.bincount([p.fold for p in pairs])
    assert per_fold.tolist() == [600] * 10
    fold0 = [p for p in pairs if p.fold == 0]
    assert [p.same for p in fold0] == [True] * 300 + [False] * 300


def test_fold1_matches_pairs_txt():
    root = data_path("lfw_deepfunneled_pairs")
    fold1, folds = read_pairs(root / "pairs_fold1.txt", root / "images")
    full, _ = read_pairs(root / "pairs.txt", root / "images")
    assert folds == 1 and fold1 == [p for p in full if p.fold == 0]


@pytest.mark.parametrize(
    "text,message",
    [("", "empty"), ("abc\n", "counts"), ("2\nA 1 2\n", "promises"), ("1\nA 1\nB 1 C\n", "fields")],
)
def test_malformed_pairs_files(tmp_path, text, message):
    path = tmp_path / "pairs.txt"
    path.write_text(text)
    with pytest.raises(PairsFormatError, match=message):
        read_pairs(path, tmp_path)


def test_score_pairs_ten_folds_separable(tmp_path):
    from pathlib import Path

    from shared.lfw import Pair

    rng = np.random.default_rng(0)
    pairs, embeddings = [], {}
    for fold in range(10):
        for k in range(20):
            same = k < 10
            a, b = Path(f"{fold}-{k}-a"), Path(f"{fold}-{k}-b")
            base = rng.normal(size=16)
            embeddings[a] = base
            embeddings[b] = base + rng.normal(scale=0.05 if same else 3.0, size=16)
            pairs.append(Pair(a, b, same, fold))
    result = score_pairs(pairs, 10, embeddings, "euclidean")
    assert result["accuracy"] == 1.0 and result["folds"] == 10 and result["pairs"] == 200
    assert result["threshold"] > 0  # shown as a distance


def test_central_face_prefers_the_middle():
    from shared.detect import Face

    def face(x1, y1, x2, y2):
        return Face(
            box=np.array([x1, y1, x2, y2], np.float32), score=0.99, landmarks=np.zeros((5, 2), np.float32)
        )

    middle, corner = face(80, 80, 170, 170), face(0, 0, 100, 100)
    assert central_face([corner, middle], 250, 250) is middle
    assert central_face([], 250, 250) is None
    box = fallback_box(250, 250)
    assert box[0] < 125 < box[2] and box[1] < 125 < box[3]
