#!/usr/bin/env python3
"""Deepfake check: our SBI model vs MesoNet through the same pipeline, and time to score a 1080p clip.

Quality: every row of ../shared/data/deepfake_dfdc_ffpp_samples/labels.csv (videos, frames and
face crops, REAL/FAKE) is scored by `shared.deepfake.pipeline.DeepfakePipeline` (same frame
sampling, MTCNN, per-face crop via `face_crop`, max over faces, "confident" aggregation) with:

* `sbi`   : models/deepfake_sbi.onnx (this project's model; `--model` for another file),
* `prev`  : the model it replaces (`--previous PATH`, e.g. `git show HEAD~1:models/deepfake_sbi.onnx`),
* `meso4` : MesoNet Meso4_DF, `mesoinc`: MesoInception4_DF (weights read from
  ../shared/data/mesonet/ at bench time, a NumPy port in bench/mesonet.py).

AUC, log loss and accuracy at 0.5 per contestant, over all rows and per kind (videos, frames,
face crops). Only ~27 labelled files from a handful of videos: these figures catch regressions;
they do not measure accuracy on unseen deepfakes.

SBI validation: with `--faces` (the training's face cache, .cache/deepfake/faces-*.npz), the ONNX
model scores the held-out identities' real faces and their self-blended fakes (the training's
split and seed), face level: what the model learned, on people it never saw.

Speed: a 10 s 1080p clip made at bench time by upscaling a real clip
(face_recognition_examples/short_hamilton_clip.mp4, 640x360 -> 1920x1080, written to a temp
dir) is scored end to end (decode 32 frames, detect, crop, classify, aggregate); seconds per
clip for each contestant, best of `--repeats`, and the ratio peer / ours.

    python bench/bench_deepfake.py [--threads 2] [--repeats 2] [--skip-speed]

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
sys.path.insert(0, str(BENCH_DIR))

from common import DATA_DIR, pin_threads  # noqa: E402

SAMPLES = DATA_DIR / "deepfake_dfdc_ffpp_samples"
MESONET = DATA_DIR / "mesonet" / "weights"
CLIP = DATA_DIR / "face_recognition_examples" / "examples" / "short_hamilton_clip.mp4"


def make_1080p_clip(source: Path, out: Path, seconds: float = 10.0) -> Path:
    """Upscale a real clip to 1920x1080 (mp4v), `seconds` long."""
    import cv2

    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (1920, 1080))
    frames = 0
    while frames < round(fps * seconds):
        ok, frame = capture.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, (1920, 1080), interpolation=cv2.INTER_CUBIC))
        frames += 1
    capture.release()
    writer.release()
    if frames == 0:
        raise SystemExit(f"could not read {source}")
    return out


def read_rows() -> list[dict[str, str]]:
    with open(SAMPLES / "labels.csv", newline="") as handle:
        return [row for row in csv.DictReader(handle) if (SAMPLES / row["path"]).is_file()]


def score_all(pipeline, rows: list[dict[str, str]]) -> tuple[list[float | None], int]:
    """P(fake) per file (None: could not be scored) and how many had no face.

    A file with no face scores 0.5, as in `visage deepfake eval` (the prior, costing log 2)."""
    scores: list[float | None] = []
    no_face = 0
    for row in rows:
        try:
            result = pipeline.score(SAMPLES / row["path"])
        except Exception as exc:
            print(f"  {row['path']}: {type(exc).__name__}: {exc}")
            scores.append(None)
            continue
        if result.probability is None:
            no_face += 1
        scores.append(0.5 if result.probability is None else result.probability)
    return scores, no_face


def sbi_validation(classifier, faces_path: Path, config: str) -> dict[str, object]:
    """Face-level AUC / log loss / accuracy of `classifier` on the held-out identities of the
    training split, each real face beside its self-blended fake (the training's seed)."""
    import numpy as np

    from shared.deepfake.evaluate import log_loss, roc_auc
    from shared.deepfake.trainset import load_faces
    from shared.export import deepfake_sbi as sbi_train  # split and batch code (bench only)

    cfg = sbi_train.CONFIGS[config]
    faces = load_faces(faces_path)
    _, val_idx = sbi_train.split_groups(faces, cfg.val_fraction, cfg.seed, cfg.val_always)
    cfg = dataclasses.replace(cfg, input_size=classifier.input_size, margin=classifier.margin)
    crops, labels = sbi_train.make_batch(faces, val_idx, cfg, np.random.default_rng(cfg.seed + 1))
    p = classifier.predict(crops)
    y = labels > 0.5
    return {
        "auc": round(float(roc_auc(y, p)), 3),
        "log_loss": round(float(log_loss(y, p)), 3),
        "accuracy": round(float(((p > 0.5) == y).mean()), 3),
        "n": len(y),
        "identities": len({sbi_train.identity(faces.groups[int(i)]) for i in val_idx}),
        "bands": bands(y, p),
    }


def bands(y, p) -> dict[str, dict[str, float | int | None]]:
    """Per verdict band (pipeline thresholds): how many items fall in it and which share is fake,
    so one can see whether "likely fake" means mostly fake."""
    import numpy as np

    y, p = np.asarray(y, dtype=bool), np.asarray(p, dtype=np.float64)
    out = {}
    for name, inside in (
        ("likely_real", p < 0.3),
        ("uncertain", (p >= 0.3) & (p < 0.7)),
        ("likely_fake", p >= 0.7),
    ):
        n = int(inside.sum())
        out[name] = {"n": n, "share_fake": round(float(y[inside].mean()), 3) if n else None}
    return out


def metrics(labels: list[int], scores: list[float | None]) -> dict[str, float | int | None]:
    import numpy as np

    from shared.deepfake.evaluate import log_loss, roc_auc

    kept = [(y, s) for y, s in zip(labels, scores, strict=True) if s is not None]
    if not kept:
        return {"auc": None, "log_loss": None, "accuracy": None, "n": 0}
    y = np.array([k[0] for k in kept], dtype=bool)
    s = np.array([k[1] for k in kept], dtype=np.float64)
    auc = roc_auc(y, s)
    return {
        "auc": None if auc is None else round(float(auc), 3),
        "log_loss": round(float(log_loss(y, s)), 3),
        "accuracy": round(float(((s > 0.5) == y).mean()), 3),
        "bands": bands(y, s),
        "n": len(kept),
        "errors": len(labels) - len(kept),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--limit", type=int, help="score only the first N labelled files (a quick check)")
    parser.add_argument("--model", type=Path, help="our ONNX model (default: models/deepfake_sbi.onnx)")
    parser.add_argument("--previous", type=Path, help="the previous ONNX model, benched beside ours")
    parser.add_argument("--faces", type=Path, help="training face cache (.npz): SBI validation AUC")
    parser.add_argument("--config", default="cpu", help="training config whose split --faces uses")
    args = parser.parse_args(argv)
    pin_threads(args.threads)

    from mesonet import MesoNet

    from shared.deepfake.classifier import OnnxFaceClassifier
    from shared.deepfake.pipeline import DeepfakePipeline
    from shared.model_registry import ModelRegistry
    from shared.runtime import RuntimeOptions

    options = RuntimeOptions(intra_op_threads=args.threads)
    registry = ModelRegistry(options=options)
    ours = DeepfakePipeline.from_registry(
        registry, classifier=OnnxFaceClassifier.from_path(args.model, options) if args.model else None
    )
    contestants = {"sbi": ours}
    if args.previous:
        previous = OnnxFaceClassifier.from_path(args.previous, options)
        contestants["prev"] = DeepfakePipeline(ours.detector, previous, ours.config)
    contestants["meso4"] = DeepfakePipeline(ours.detector, MesoNet(MESONET / "Meso4_DF.h5"), ours.config)
    contestants["mesoinc"] = DeepfakePipeline(
        ours.detector, MesoNet(MESONET / "MesoInception_DF.h5"), ours.config
    )
    summary: dict[str, object] = {"model_version": ours.classifier.version, "threads": args.threads}
    if args.previous:
        summary["previous_version"] = contestants["prev"].classifier.version
    if args.faces:
        summary["sbi_validation"] = sbi_validation(ours.classifier, args.faces, args.config)
        print(f"SBI validation (held-out identities): {json.dumps(summary['sbi_validation'])}")

    if not args.skip_quality:
        rows = read_rows()[: args.limit]
        labels = [int(row["label"].strip().upper() == "FAKE") for row in rows]
        kinds = sorted({row["kind"] for row in rows})
        print(f"quality: {len(rows)} labelled files ({sum(labels)} FAKE) from {SAMPLES.name}/labels.csv")
        per_file: dict[str, list[float | None]] = {}
        for name, pipeline in contestants.items():
            started = time.perf_counter()
            per_file[name], no_face = score_all(pipeline, rows)
            summary[f"{name}_no_face"] = no_face
            print(
                f"  {name}: scored in {time.perf_counter() - started:.1f} s, {no_face} file(s) without a face"
            )
        print(f"{'file':58s} {'label':5s} " + " ".join(f"{n:>8s}" for n in contestants))
        for i, row in enumerate(rows):
            cells = " ".join(
                f"{'no face':>8s}" if per_file[n][i] is None else f"{per_file[n][i]:8.3f}"
                for n in contestants
            )
            print(f"{row['path'][-58:]:58s} {row['label']:5s} {cells}")
        for name in contestants:
            summary[name] = metrics(labels, per_file[name])
            for kind in kinds:
                idx = [i for i, row in enumerate(rows) if row["kind"] == kind]
                summary[f"{name}_{kind}"] = metrics(
                    [labels[i] for i in idx], [per_file[name][i] for i in idx]
                )
            print(f"{name:8s} all: {json.dumps(summary[name])}")
            for kind in kinds:
                print(f"{name:8s} {kind}: {json.dumps(summary[f'{name}_{kind}'])}")

    if not args.skip_speed:
        with tempfile.TemporaryDirectory() as tmp:
            clip = make_1080p_clip(CLIP, Path(tmp) / "clip1080p.mp4")
            print(
                f"speed: 10 s 1920x1080 clip ({os.path.getsize(clip) / 1e6:.1f} MB), {args.threads} threads"
            )
            best: dict[str, float] = {}
            for _ in range(args.repeats):
                timed = [n for n in ("sbi", "prev", "meso4") if n in contestants]
                for name in timed:  # interleaved: background load hits all alike
                    started = time.perf_counter()
                    result = contestants[name].score(clip)
                    elapsed = time.perf_counter() - started
                    best[name] = min(best.get(name, float("inf")), elapsed)
                    print(f"  {name}: {elapsed:.2f} s, {result.faces_scored} faces, p={result.probability}")
            for name in best:
                summary[f"clip_1080p_s_{name}"] = round(best[name], 2)
            summary["speed_ratio_meso4_over_sbi"] = round(best["meso4"] / best["sbi"], 3)
            summary["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
