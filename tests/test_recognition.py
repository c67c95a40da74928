"""Same/different on the identity sets in ../shared/data, through the whole ONNX pipeline, with dlib's
ResNet and its published Euclidean 0.6 rule (SFace, the default, is checked in tests/test_sface.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from shared.analysis import FaceAnalyzer
from shared.lfw import central_face
from shared.media import read_image
from shared.similarity import calibrate, euclidean_distance, paired_similarity
from tests.conftest import data_path

pytestmark = pytest.mark.device_profile


def _central_embeddings(analyzer, paths, flip=False):
    embeddings = []
    for path in paths:
        image = read_image(path)
        faces = analyzer.detect(image)
        face = central_face(faces, image.shape[1], image.shape[0])
        assert face is not None, f"no face found in {path}"
        embeddings.append(analyzer.embedder.embed_faces(image, [face], flip=flip)[0])
    return np.stack(embeddings)


@pytest.fixture(scope="module")
def analyzer(registry):
    return FaceAnalyzer(registry, embedder="dlib_resnet").prepare()


@pytest.fixture(scope="module")
def lfw_subset(analyzer):
    root = data_path("lfw_subset_10x10")
    paths = sorted(root.glob("*/*.jpg"))
    labels = np.array([p.parent.name for p in paths])
    return _central_embeddings(analyzer, paths), labels


def test_lfw_subset_all_pairs_at_dlib_threshold(lfw_subset):
    embeddings, labels = lfw_subset
    assert embeddings.shape == (100, 128)
    i, j = np.triu_indices(len(labels), 1)
    same = labels[i] == labels[j]
    assert same.sum() == 450 and (~same).sum() == 4500
    distances = np.linalg.norm(embeddings[i] - embeddings[j], axis=1)
    accuracy = ((distances < 0.6) == same).mean()
    assert accuracy >= 0.97, f"accuracy {accuracy:.4f} at dlib's 0.6 threshold"


def test_lfw_subset_rank1_identification(lfw_subset):
    embeddings, labels = lfw_subset
    distances = euclidean_distance(embeddings, embeddings)
    np.fill_diagonal(distances, np.inf)
    rank1 = (labels[distances.argmin(1)] == labels).mean()
    assert rank1 >= 0.98, f"rank-1 {rank1:.3f}"


def test_calibration_on_real_pairs_is_consistent(lfw_subset):
    embeddings, labels = lfw_subset
    i, j = np.triu_indices(len(labels), 1)
    same = labels[i] == labels[j]
    scores = paired_similarity(embeddings[i], embeddings[j], "euclidean")
    result = calibrate(scores, same, "euclidean")
    assert 0.45 < -result.threshold < 0.7  # close to dlib's published 0.6
    assert result.accuracy >= 0.97
    # A stricter false-accept target can only raise the bar.
    assert result.far_thresholds["0.001"] >= result.far_thresholds["0.01"]
    assert result.tar_at_far["0.001"] <= result.tar_at_far["0.01"]


def test_known_people_found_and_unknown_rejected(analyzer):
    root = data_path("face_recognition_examples", "pr1285_people_dataset")
    gallery = {
        person.name: _central_embeddings(analyzer, sorted(person.glob("*.jpg")))
        for person in sorted((root / "train").iterdir())
    }
    for person in gallery:
        probe = _central_embeddings(analyzer, [root / "test" / f"test_{person}.jpg"])[0]
        best = {name: np.linalg.norm(vectors - probe, axis=1).min() for name, vectors in gallery.items()}
        assert min(best, key=best.get) == person and best[person] < 0.6
    unknown = _central_embeddings(analyzer, [root / "test" / "test_unknown_elon_musk.jpg"])[0]
    assert all(np.linalg.norm(vectors - unknown, axis=1).min() > 0.6 for vectors in gallery.values())


def test_flip_augmentation_keeps_identity(analyzer):
    paths = [data_path("face_recognition_examples", "examples", name) for name in ("obama.jpg", "obama2.jpg")]
    plain = _central_embeddings(analyzer, paths)
    flipped = _central_embeddings(analyzer, paths, flip=True)
    assert not np.allclose(plain, flipped)
    assert np.linalg.norm(flipped[0] - flipped[1]) < 0.6


def test_jitter_averages_moved_crops_and_keeps_identity(analyzer):
    jittered = FaceAnalyzer(analyzer.registry, embedder="dlib_resnet", jitter=6).prepare()
    same = [data_path("lfw_subset_10x10", "Colin_Powell", f"Colin_Powell_{n:04d}.jpg") for n in (1, 2)]
    other = data_path("lfw_subset_10x10", "Tony_Blair", "Tony_Blair_0001.jpg")
    plain = _central_embeddings(analyzer, [*same, other])
    image = read_image(same[0])
    face = central_face(jittered.detect(image), image.shape[1], image.shape[0])
    # Jitter moves the crop a little: the average is close to, but not, the plain embedding.
    alone = jittered.embed(image, [face])[0]
    assert not np.allclose(alone, plain[0]) and np.linalg.norm(alone - plain[0]) < 0.15
    # get() and embed() give the same jittered embedding, and the decision stays right.
    found = jittered.get(image)
    assert any(np.allclose(f.embedding, alone, atol=1e-5) for f in found)
    vectors = np.stack([alone, *(jittered.get(read_image(p))[0].embedding for p in (same[1], other))])
    assert np.linalg.norm(vectors[0] - vectors[1]) < 0.6 < np.linalg.norm(vectors[0] - vectors[2])
    with pytest.raises(ValueError, match="negative"):
        FaceAnalyzer(analyzer.registry, jitter=-2)


def test_group_photo_faces_are_distinct_people(analyzer):
    image = read_image(data_path("facenet_pytorch_data", "multiface.jpg"))
    faces = [f for f in analyzer.get(image) if f.face.score >= 0.95]
    assert len(faces) == 6
    vectors = np.stack([f.embedding for f in faces])
    for a, b in itertools.combinations(range(len(faces)), 2):
        assert np.linalg.norm(vectors[a] - vectors[b]) > 0.6, "two cast members matched each other"
    assert -paired_similarity(vectors[:1], vectors[:1], "euclidean")[0] == pytest.approx(0.0, abs=1e-5)
