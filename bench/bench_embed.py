#!/usr/bin/env python3
"""Embedding benchmark: Visage's ONNX dlib-ResNet vs dlib's own compute_face_descriptor, and SFace.

Both run the same network (dlib_face_recognition_resnet_model_v1) on the same real aligned
150x150 chips, cut by dlib's own HOG detector + 5-point shape predictor + get_face_chip from the
group photos in ../shared/data. Measures per-face latency at batch 1 and throughput at batch 32
(faces/s), and checks that the two agree (largest L2 distance between the descriptors of a chip).
The timed passes are interleaved (Visage b1, dlib b1, Visage b32, dlib b32; then again) and each
chip / batch keeps its best pass. SFace (the default embedder, models/sface.onnx) is timed in the same
passes on the same faces resized to its 112x112 chip; the fused embedder costs the two added up.
Prints a table and, as the last line, one JSON object with the ratios Visage / dlib.

    . .venv/bin/activate && python bench/bench_embed.py               # see bench/README.md
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # bench/ is not a package: the scripts are run by path
from common import Stats


def small(chip: np.ndarray) -> np.ndarray:
    """A 150x150 chip resized to SFace's 112x112 input (timing only: same pixels, its size)."""
    import cv2

    return cv2.resize(chip, (112, 112), interpolation=cv2.INTER_AREA)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=common.DEFAULT_THREADS, help="threads for everyone")
    parser.add_argument("--chips", type=int, default=64, help="real chips to cut (batch 1 times each)")
    parser.add_argument("--batch", type=int, default=32, help="batch size for the throughput figure")
    parser.add_argument("--batches", type=int, default=4, help="distinct batches timed per pass")
    parser.add_argument("--passes", type=int, default=3, help="interleaved timed passes (best kept per item)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed batch-1 calls per contestant")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each pass, wait up to this many s for other load",
    )
    return parser.parse_args(argv)


def cut_chips(count: int) -> tuple[np.ndarray, int]:
    """Up to `count` dlib chips (N,150,150,3 uint8 RGB) from the photos, and how many photos it took."""
    import dlib

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(common.dlib_model("shape_predictor_5_face_landmarks.dat")))
    chips: list[np.ndarray] = []
    used = 0
    for frame in common.load_photos():
        used += 1
        shapes = dlib.full_object_detections()
        for rect in detector(frame.image, 1):
            shapes.append(predictor(frame.image, rect))
        if len(shapes):
            chips += dlib.get_face_chips(frame.image, shapes, size=150, padding=0.25)
        if len(chips) >= count:
            break
    if not chips:
        raise SystemExit("bench: dlib found no face in the photos.")
    return np.stack(chips[:count]).astype(np.uint8), used


def run_items(fn: Callable[[np.ndarray], Any], items: Sequence[np.ndarray]) -> tuple[list[float], list[Any]]:
    """One timed call per item (a chip, or a batch of chips): ms per call, and what each returned."""
    times, outputs = [], []
    for item in items:
        ms, out = common.time_ms(lambda item=item: fn(item))
        times.append(ms)
        outputs.append(out)
    return times, outputs


def lat(stats: Stats) -> str:
    """p50 / p90 of a latency Stats, as a table cell."""
    return f"p50 {stats.p50:7.2f} ms  p90 {stats.p90:7.2f} ms"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    threads = common.pin_threads(args.threads)

    import dlib
    import onnxruntime as ort

    from shared.embed import FaceEmbedder
    from shared.model_registry import ModelError, ModelRegistry

    chips, photos = cut_chips(args.chips)
    print(f"chips: {len(chips)} real 150x150 dlib chips from {photos} photos; batch {args.batch}")
    print(f"machine: {json.dumps(common.machine_info(threads))}")

    try:
        embedder = FaceEmbedder.from_registry(ModelRegistry(), "dlib_resnet", batch_size=args.batch)
        sface = FaceEmbedder.from_registry(ModelRegistry(), "sface", batch_size=args.batch)
    except ModelError as exc:
        raise SystemExit(f"bench: {exc}") from None
    encoder = dlib.face_recognition_model_v1(
        str(common.dlib_model("dlib_face_recognition_resnet_model_v1.dat"))
    )

    def visage_one(chip: np.ndarray) -> np.ndarray:
        return embedder.embed(chip[None])[0]

    def visage_many(batch: np.ndarray) -> np.ndarray:
        return embedder.embed(batch)

    def sface_one(chip: np.ndarray) -> np.ndarray:
        return sface.embed(chip[None])[0]

    def sface_many(batch: np.ndarray) -> np.ndarray:
        return sface.embed(batch)

    def dlib_one(chip: np.ndarray) -> np.ndarray:
        return np.asarray(encoder.compute_face_descriptor(chip), dtype=np.float32)

    def dlib_many(batch: np.ndarray) -> list[Any]:
        return encoder.compute_face_descriptor(list(batch))  # the list-of-chips overload

    batches = [
        np.take(chips, range(k * args.batch, (k + 1) * args.batch), axis=0, mode="wrap")
        for k in range(args.batches)
    ]
    plan: dict[str, tuple[Callable[[np.ndarray], Any], Sequence[np.ndarray]]] = {
        "visage_b1": (visage_one, list(chips)),
        "dlib_b1": (dlib_one, list(chips)),
        "visage_bN": (visage_many, batches),
        "dlib_bN": (dlib_many, batches),
        "sface_b1": (sface_one, [small(c) for c in chips]),
        "sface_bN": (sface_many, [np.stack([small(c) for c in b]) for b in batches]),
    }
    for key, (fn, items) in plan.items():
        for k in range(args.warmup if key.endswith("b1") else 1):
            fn(items[k % len(items)])

    samples: dict[str, list[list[float]]] = {key: [] for key in plan}
    outputs: dict[str, list[Any]] = {}
    monitors = {key: common.LoadMonitor() for key in plan}
    for _ in range(max(1, args.passes)):
        for key, (fn, items) in plan.items():
            common.wait_for_quiet(args.quiet_wait)
            monitors[key].begin()
            times, outputs[key] = run_items(fn, items)
            monitors[key].end()
            samples[key].append(times)
    best = {key: Stats(common.best_per_item(runs)) for key, runs in samples.items()}
    background = {
        key.replace("bN", f"b{args.batch}"): monitor.foreign_cores for key, monitor in monitors.items()
    }

    ours_1, peer_1, ours_b, peer_b = best["visage_b1"], best["dlib_b1"], best["visage_bN"], best["dlib_bN"]
    gaps = np.linalg.norm(np.stack(outputs["visage_b1"]) - np.stack(outputs["dlib_b1"]), axis=1)
    ours_fps = args.batch / (ours_b.p50 / 1000.0)
    sface_1, sface_b = best["sface_b1"], best["sface_bN"]
    sface_fps = args.batch / (sface_b.p50 / 1000.0)
    peer_fps = args.batch / (peer_b.p50 / 1000.0)

    n = len(chips)
    bn = f"batch {args.batch}"
    print(f"{'batch 1':<9} {'visage (onnxruntime ' + ort.__version__ + ')':<36} {lat(ours_1)}")
    print(f"{'batch 1':<9} {'dlib ' + dlib.__version__ + ' compute_face_descriptor':<36} {lat(peer_1)}")
    print(f"{bn:<9} {'visage':<36} {ours_fps:8.1f} faces/s  ({ours_b.p50:.0f} ms/batch)")
    print(
        f"{bn:<9} {'dlib (list-of-chips overload)':<36} {peer_fps:8.1f} faces/s  ({peer_b.p50:.0f} ms/batch)"
    )
    print(f"{'batch 1':<9} {'sface (onnxruntime, optimised graph)':<36} {lat(sface_1)}")
    print(f"{bn:<9} {'sface':<36} {sface_fps:8.1f} faces/s  ({sface_b.p50:.0f} ms/batch)")
    print(f"other processes kept busy (mean cores while timing): {json.dumps(background)}")
    print(f"agreement on {n} chips: L2(visage, dlib) max {gaps.max():.2e}, mean {gaps.mean():.2e}")

    common.print_json_last(
        {
            "visage_b1_ms_p50": round(ours_1.p50, 2),
            "visage_b1_ms_p90": round(ours_1.p90, 2),
            "dlib_b1_ms_p50": round(peer_1.p50, 2),
            "dlib_b1_ms_p90": round(peer_1.p90, 2),
            f"visage_b{args.batch}_faces_per_s": round(ours_fps, 1),
            f"dlib_b{args.batch}_faces_per_s": round(peer_fps, 1),
            "speedup_b1_vs_dlib": common.ratio(peer_1.p50, ours_1.p50),
            f"speedup_b{args.batch}_vs_dlib": common.ratio(ours_fps, peer_fps),
            "max_l2_visage_vs_dlib": float(f"{gaps.max():.2e}"),
            "sface_b1_ms_p50": round(sface_1.p50, 2),
            f"sface_b{args.batch}_faces_per_s": round(sface_fps, 1),
            "fused_b1_ms_p50": round(sface_1.p50 + ours_1.p50, 2),
            "sface_b1_vs_dlib_onnx": common.ratio(sface_1.p50, ours_1.p50),
            "background_cores": background,
            "chips": n,
            "batch": args.batch,
            "passes": args.passes,
            "threads": threads,
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
