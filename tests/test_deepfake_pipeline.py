"""The deepfake scoring pipeline on the team's real DFDC clips and frames, and on bad media.

Fewer frames than the default (8 instead of 32) keep the suite quick; the sampling, detection,
cropping and aggregation code is the same.
"""

from __future__ import annotations

import numpy as np
import pytest

from shared.deepfake.pipeline import DeepfakePipeline, PipelineConfig, confident_mean, verdict_for
from shared.deepfake.video import load_media, sample_targets, sample_video, sniff_bytes
from shared.media import MediaError
from tests.conftest import data_path
from tests.deepfake_media import counter_video, faststart, rotated, variable_rate, wav

SAMPLES = "deepfake_dfdc_ffpp_samples"
VIDEOS = {
    "dfdc_notebook_samples/lynaeydofd.mp4": "REAL",
    "dfdc_kaggle_sample/videos/abofeumbvv.mp4": "FAKE",
}  # the third sample video, abqwwspghj.mp4 (FAKE), is scored by the CLI and API tests
FRAMES = 8


@pytest.fixture(scope="module")
def pipeline(registry) -> DeepfakePipeline:
    return DeepfakePipeline.from_registry(registry, PipelineConfig(frames=FRAMES))


@pytest.fixture(scope="module")
def scored(pipeline) -> dict:
    """Each sample video scored once, on first use (later tests reuse the result)."""
    cache: dict = {}

    def score(relative: str):
        if relative not in cache:
            cache[relative] = pipeline.score(data_path(SAMPLES, *relative.split("/")))
        return cache[relative]

    return score


def _comparable(result) -> dict:
    data = result.to_dict()
    data.pop("elapsed_s")
    return data


@pytest.mark.parametrize("relative", sorted(VIDEOS))
def test_videos_score_in_unit_interval_with_a_timeline_and_face_crops(pipeline, scored, relative):
    result = scored(relative)
    data = result.to_dict()
    assert data["kind"] == "video"
    assert 0.0 <= data["probability"] <= 1.0
    assert data["verdict"] in ("likely_real", "uncertain", "likely_fake")
    assert data["frames_sampled"] == FRAMES and data["frames_with_faces"] >= FRAMES // 2
    media = data["media"]
    assert (media["width"], media["height"]) == (1920, 1080) and 9.5 < media["duration_s"] < 10.5
    times = [point["time_s"] for point in data["timeline"]]
    assert times == sorted(times) and times[0] < 1.0 and times[-1] > 8.5  # spread over the whole clip
    assert all(p["score"] is None or 0.0 <= p["score"] <= 1.0 for p in data["timeline"])
    top = result.top_faces
    assert 1 <= len(top) <= 4 and [f.score for f in top] == sorted((f.score for f in top), reverse=True)
    size = pipeline.classifier.input_size
    assert top[0].crop.shape == (size, size, 3) and top[0].crop.dtype == np.uint8
    frame_max = max(p["score"] for p in data["timeline"] if p["score"] is not None)
    assert top[0].score == pytest.approx(frame_max, abs=1e-6)


def test_scores_are_deterministic_across_two_runs(pipeline, scored):
    relative = "dfdc_kaggle_sample/videos/abofeumbvv.mp4"
    first, second = scored(relative), pipeline.score(data_path(SAMPLES, *relative.split("/")))
    assert _comparable(first) == _comparable(second)
    assert all(np.array_equal(a.crop, b.crop) for a, b in zip(first.top_faces, second.top_faces, strict=True))


@pytest.mark.parametrize("name", ["lynaeydofd_fr0.jpg", "mqzvfufzoq_fr0.jpg"])
def test_a_photo_is_one_frame(pipeline, name):
    result = pipeline.score(data_path(SAMPLES, "dfdc_notebook_samples", name))
    data = result.to_dict()
    assert data["kind"] == "image" and data["frames_sampled"] == 1 and data["faces_scored"] >= 1
    assert data["probability"] == pytest.approx(data["timeline"][0]["score"], abs=1e-6)


def test_no_face_gives_a_no_face_result(pipeline, tmp_path):
    import cv2

    frame = cv2.imread(str(data_path(SAMPLES, "dfdc_notebook_samples", "lynaeydofd_fr0.jpg")))
    background = frame[600:1080, 0:600]  # the room below and left of the person
    path = tmp_path / "room.png"
    cv2.imwrite(str(path), background)
    data = pipeline.score(path).to_dict()
    assert data["verdict"] == "no_face" and data["probability"] is None and data["faces_scored"] == 0
    assert "no face" in data["note"].lower() and data["verdict_label"] == "No face found"


def test_frames_are_sampled_by_time_and_decoded_exactly(tmp_path):
    video = counter_video(tmp_path / "counter.mp4", frames=50, fps=10.0)
    info, frames = sample_video(video, 5)
    assert (info.frame_count, info.duration_s) == (50, 5.0)
    assert [f.index for f in frames] == [5, 15, 25, 35, 45]
    assert [f.time_s for f in frames] == pytest.approx([0.5, 1.5, 2.5, 3.5, 4.5], abs=1e-3)
    grey = [int(f.image[40, 40, 1]) for f in frames]  # green channel: frame k was painted 5k
    assert grey == pytest.approx([25, 75, 125, 175, 225], abs=6)
    _info, all_frames = sample_video(video, 200)  # more targets than frames: each frame once
    assert [f.index for f in all_frames] == list(range(50))


def test_variable_frame_rate_is_sampled_evenly_in_time(tmp_path):
    # 25 frames of 0.2 s then 25 of 0.05 s: frame numbers are not evenly spread in time.
    source = counter_video(tmp_path / "constant.mp4", frames=50, fps=10.0)
    video = variable_rate(source, tmp_path / "variable.mp4", [(25, 0.2), (25, 0.05)])
    info, frames = sample_video(video, 5)
    assert info.duration_s == pytest.approx(6.25, abs=0.01)
    targets = sample_targets(info.duration_s, 5)  # 0.625, 1.875, ... 5.625 s
    for frame, target in zip(frames, targets, strict=True):
        assert abs(frame.time_s - target) <= 0.2  # within one (long) frame of its target
    # By frame number (every 10th) the picks would be at 1.0, 3.0, 5.0, 5.5, 6.0 s instead.
    assert [f.index for f in frames] == [3, 10, 16, 22, 37]
    assert [int(f.image[40, 40, 1]) for f in frames] == pytest.approx([15, 50, 80, 110, 185], abs=6)


def test_rotation_metadata_is_honoured(tmp_path):
    video = rotated(counter_video(tmp_path / "upright.mp4", frames=10, fps=10.0), tmp_path / "rotated.mp4")
    info, frames = sample_video(video, 2)
    assert info.rotation == 90 and (info.width, info.height) == (48, 64)
    image = frames[0].image
    assert image.shape == (64, 48, 3)
    # The red corner painted top-left is top-right after a quarter turn clockwise.
    assert image[:8, -8:, 0].mean() > 200 and image[:8, :8, 0].mean() < 100


def test_sample_targets_cover_the_whole_duration():
    assert sample_targets(10.0, 4) == [1.25, 3.75, 6.25, 8.75]
    with pytest.raises(ValueError):
        sample_targets(10.0, 0)


def test_confident_aggregation_rules():
    # More than 40% confidently fake: the mean of those, not diluted by the rest.
    assert confident_mean(np.array([0.9, 0.95, 0.85, 0.1, 0.5])) == pytest.approx(0.9)
    # More than 90% confidently real: the mean of those; one spurious peak does not count.
    assert confident_mean(np.array([0.1] * 10 + [0.95])) == pytest.approx(0.1)
    # Neither: the plain mean.
    assert confident_mean(np.array([0.3, 0.5, 0.7])) == pytest.approx(0.5)
    config = PipelineConfig()
    assert [verdict_for(p, config) for p in (None, 0.1, 0.5, 0.7, 0.99)] == [
        "no_face",
        "likely_real",
        "uncertain",
        "likely_fake",
        "likely_fake",
    ]


def test_zero_bytes_and_renamed_text_are_refused_by_their_bytes(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        load_media(empty, 4)
    text = tmp_path / "notes.mp4"
    text.write_text("Meeting notes: this is not a video.\n" * 20)
    with pytest.raises(MediaError, match="not an image or a video"):
        load_media(text, 4)


def test_audio_only_is_refused(tmp_path):
    with pytest.raises(MediaError, match="audio"):
        load_media(wav(tmp_path / "voice.wav"), 4)
    renamed = tmp_path / "voice.mp4"
    renamed.write_bytes((tmp_path / "voice.wav").read_bytes())
    with pytest.raises(MediaError, match="audio"):
        load_media(renamed, 4)
    with pytest.raises(MediaError, match="audio"):
        sniff_bytes(b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00isomM4A ")


def test_truncated_mp4_is_an_error_not_a_shorter_result(tmp_path):
    clip = data_path(SAMPLES, "dfdc_kaggle_sample", "videos", "abofeumbvv.mp4")
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"  # index at the end (as the DFDC clips): nothing to open
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="corrupt, truncated"):
        load_media(cut, 4)
    streamable = faststart(clip, tmp_path / "faststart.mp4")
    info, frames = sample_video(streamable, 4)  # the rewritten file itself is whole
    assert len(frames) == 4 and info.frame_count == 300
    half = tmp_path / "half.mp4"  # index first: the header promises 10 s, the data holds ~5
    half.write_bytes(streamable.read_bytes()[: streamable.stat().st_size // 2])
    with pytest.raises(MediaError, match="truncated or corrupt"):
        load_media(half, 4)


def test_a_four_hour_header_is_refused_before_decoding(tmp_path):
    video = counter_video(tmp_path / "long.mp4", frames=144, fps=0.01, size=(16, 16))
    with pytest.raises(MediaError, match=r"4:00:00, more than the 10:00 limit"):
        load_media(video, 4)


def test_aggregation_rules_on_hand_made_frame_scores():
    from shared.deepfake.aggregation import AGGREGATIONS, aggregate

    scores = np.array([0.9, 0.95, 0.85, 0.1, 0.5])
    assert aggregate(scores, "confident") == pytest.approx(0.9)  # 60% confident fake: their mean
    assert aggregate(scores, "mean") == pytest.approx(0.66)
    assert aggregate(scores, "max") == pytest.approx(0.95)
    assert aggregate(np.array([0.1] * 10 + [0.95]), "confident") == pytest.approx(0.1)
    assert aggregate(np.array([0.3, 0.5, 0.7]), "confident") == pytest.approx(0.5)
    assert set(AGGREGATIONS) == {"confident", "mean", "max"}
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate(scores, "median")
    with pytest.raises(ValueError, match="no scores"):
        aggregate(np.array([]), "mean")


def test_temperature_fit_recovers_a_known_temperature_and_keeps_the_ranking():
    from shared.deepfake.calibration import calibrated_log_loss, fit_temperature
    from shared.deepfake.evaluate import roc_auc

    rng = np.random.default_rng(0)
    true_logit = rng.normal(0.0, 2.0, 20000)
    labels = (rng.random(20000) < 1 / (1 + np.exp(-true_logit))).astype(float)
    overconfident = 3.0 * true_logit  # a network 3x too sure of itself
    temperature = fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(3.0, rel=0.05)
    assert calibrated_log_loss(overconfident, labels, temperature) < calibrated_log_loss(
        overconfident, labels, 1.0
    )
    assert roc_auc(labels, overconfident / temperature) == pytest.approx(roc_auc(labels, overconfident))
    with pytest.raises(ValueError, match="both"):
        fit_temperature(np.array([1.0, 2.0]), np.array([1.0, 1.0]))
