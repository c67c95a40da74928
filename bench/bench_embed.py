#!/usr/bin/env python3
"""Embedding benchmark: Visage's ONNX dlib-ResNet vs dlib's own compute_face_descriptor.

Both run the same network (dlib_face_recognition_resnet_model_v1) on the same real aligned
150x150 chips, cut by dlib's own HOG detector + 5-point shape predictor + get_face_chip from the
group photos in ../shared/data. Measures per-face latency at batch 1 and throughput at batch 32
(faces/s), and checks the two agree (largest L2 distance between the descriptors of a chip).
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


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=common.DEFAULT_THREADS, help="threads for everyone")
    parser.add_argument("--chips", type=int, default=64, help="real chips to cut (at least the batch size)")
    parser.add_argument("--batch", type=int, default=32, help="batch size for the throughput figure")
    parser.add_argument("--rounds", type=int, default=8, help="timed batches per contestant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per contestant and mode")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each measurement, wait up to this many s for other load",
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


def latency(fn: Callable[[np.ndarray], Any], chips: np.ndarray, warmup: int) -> tuple[Stats, list[Any]]:
    """Batch-1 latency: one call per chip, after `warmup` untimed calls."""
    for k in range(warmup):
        fn(chips[k % len(chips)])
    stats, outputs = Stats(), []
    for chip in chips:
        ms, out = common.time_ms(lambda chip=chip: fn(chip))
        stats.samples.append(ms)
        outputs.append(out)
    return stats, outputs


def throughput(
    fn: Callable[[np.ndarray], Any], chips: np.ndarray, batch: int, rounds: int, warmup: int
) -> Stats:
    """Per-batch wall times (ms) for `rounds` batches of `batch` chips, cycling through the chips."""
    batches = [np.take(chips, range(r * batch, (r + 1) * batch), axis=0, mode="wrap") for r in range(rounds)]
    for k in range(warmup):
        fn(batches[k % len(batches)])
    stats = Stats()
    for chunk in batches:
        ms, _ = common.time_ms(lambda chunk=chunk: fn(chunk))
        stats.samples.append(ms)
    return stats


def lat(stats: Stats) -> str:
    """p50 / p90 of a latency Stats, as a table cell."""
    return f"p50 {stats.p50:7.2f} ms  p90 {stats.p90:7.2f} ms"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    threads = common.pin_threads(args.threads)

    import dlib
    import onnxruntime as ort

    from shared.embed import FaceEmbedder
    from shared.registry import ModelError, ModelRegistry

    chips, photos = cut_chips(max(args.chips, args.batch))
    print(f"chips: {len(chips)} real 150x150 dlib chips from {photos} photos; batch {args.batch}")
    print(f"machine: {json.dumps(common.machine_info(threads))}")

    registry = ModelRegistry()
    try:
        embedder = FaceEmbedder.from_registry(registry, "dlib_resnet", batch_size=args.batch)
    except ModelError as exc:
        raise SystemExit(f"bench: {exc}") from None
    encoder = dlib.face_recognition_model_v1(
        str(common.dlib_model("dlib_face_recognition_resnet_model_v1.dat"))
    )

    def visage_one(chip: np.ndarray) -> np.ndarray:
        return embedder.embed(chip[None])[0]

    def visage_many(batch: np.ndarray) -> np.ndarray:
        return embedder.embed(batch)

    def dlib_one(chip: np.ndarray) -> np.ndarray:
        return np.asarray(encoder.compute_face_descriptor(chip), dtype=np.float32)

    def dlib_many(batch: np.ndarray) -> list[Any]:
        return encoder.compute_face_descriptor(list(batch))  # the list-of-chips overload

    monitors: dict[str, common.LoadMonitor] = {}

    def measured(key: str, fn: Callable[[], Any]) -> Any:
        common.wait_for_quiet(args.quiet_wait)
        monitors[key] = monitor = common.LoadMonitor()
        monitor.begin()
        try:
            return fn()
        finally:
            monitor.end()

    ours_1, ours_vecs = measured("visage_b1", lambda: latency(visage_one, chips, args.warmup))
    peer_1, peer_vecs = measured("dlib_b1", lambda: latency(dlib_one, chips, args.warmup))
    ours_b = measured(
        f"visage_b{args.batch}", lambda: throughput(visage_many, chips, args.batch, args.rounds, args.warmup)
    )
    peer_b = measured(
        f"dlib_b{args.batch}",
        lambda: throughput(dlib_many, chips, args.batch, args.rounds, min(args.warmup, 1)),
    )
    background = {key: monitor.foreign_cores for key, monitor in monitors.items()}

    gaps = np.linalg.norm(np.stack(ours_vecs) - np.stack(peer_vecs), axis=1)
    ours_fps = args.batch / (ours_b.p50 / 1000.0)
    peer_fps = args.batch / (peer_b.p50 / 1000.0)

    n = len(chips)
    b = f"batch {args.batch}"
    print(f"{'batch 1':<9} {'visage (onnxruntime ' + ort.__version__ + ')':<36} {lat(ours_1)}")
    print(f"{'batch 1':<9} {'dlib compute_face_descriptor':<36} {lat(peer_1)}")
    print(f"{b:<9} {'visage':<36} {ours_fps:8.1f} faces/s  ({ours_b.p50:.0f} ms/batch)")
    print(
        f"{b:<9} {'dlib (list-of-chips overload)':<36} {peer_fps:8.1f} faces/s  ({peer_b.p50:.0f} ms/batch)"
    )
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
            "background_cores": background,
            "chips": n,
            "batch": args.batch,
            "threads": threads,
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
