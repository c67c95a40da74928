#!/usr/bin/env python3
"""Album search benchmark: exact (numpy) vs approximate (hnswlib) face search, and indexing speed.

Search: at 10k, 100k and 1M synthetic 128-d embeddings (bench/face_statistics.py), both indexes
of server.album.ann.FaceIndex answer the same single-face queries (held-out faces of people in the
set, k=10, one query per call, the way the album searches). Two kinds of synthetic faces
(`--data`): `fitted` (default) follows the mean and covariances of real dlib embeddings of LFW, the
realistic case; `isotropic` spreads the same cone evenly over all 128 dimensions, the worst case
for a graph index. Reported per size: p50/p99 latency of each, recall@10 of HNSW against the
exact answer, the HNSW build time, and the ratio exact/approximate (above 1: HNSW is faster).

Indexing: real photos from ../shared/data through the face core (detect + align + embed, as the
album's indexing job does) and into a FaceIndex; photos/s and faces/s.

    . .venv/bin/activate && nice python bench/bench_search.py            # 1M takes ~10+ min
    python bench/bench_search.py --sizes 10000 100000 --skip-indexing     # quick
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # bench/ is not a package: the scripts are run by path
from common import Stats
from face_statistics import FaceStatistics, fitted_faces, isotropic_faces


def time_queries(index, queries: np.ndarray, k: int) -> tuple[Stats, list[set[int]]]:
    """Per-query latency (ms) of index.search, and the ids returned."""
    stats = Stats()
    found = []
    for q in queries:
        start = time.perf_counter()
        hits = index.search(q, k=k)
        stats.samples.append((time.perf_counter() - start) * 1000.0)
        found.append({h.id for h in hits})
    return stats, found


def synthetic_faces(n: int, args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """Gallery and query embeddings of the kind `--data` names."""
    if args.data == "isotropic":
        return isotropic_faces(n, args.queries, seed=args.seed)
    stats = FaceStatistics.load_or_fit(common.require_data())
    return fitted_faces(n, args.queries, stats, seed=args.seed)


def bench_size(n: int, args: argparse.Namespace) -> dict[str, Any]:
    from server.album.ann import FaceIndex, HnswParams

    gallery, queries = synthetic_faces(n, args)
    ids = np.arange(n, dtype=np.int64)
    monitor = common.LoadMonitor()
    # Exact: the matrix product over every face (what the album does below its size threshold).
    exact = FaceIndex.build(ids, gallery, exact_limit=n + 1)
    for q in queries[:5]:
        exact.search(q, k=args.k)
    exact_q = queries[: args.exact_queries]
    monitor.begin()
    exact_stats, truth = time_queries(exact, exact_q, args.k)
    monitor.end()
    exact_bg = monitor.foreign_cores
    del exact
    gc.collect()
    # Approximate: HNSW, built in one go (as a rebuild from the database does).
    params = HnswParams(m=args.m, ef_construction=args.ef_construction, ef_search=args.ef_search[0])
    start = time.perf_counter()
    approx = FaceIndex.build(ids, gallery, exact_limit=1, params=params)
    build_s = time.perf_counter() - start
    assert approx.approximate
    print(
        f"  n={n:>8} exact p50 {exact_stats.p50:8.3f} ms (background {exact_bg} cores); "
        f"hnsw built in {build_s:.1f} s",
        flush=True,
    )
    row: dict[str, Any] = {
        "n": n,
        "exact_ms_p50": round(exact_stats.p50, 3),
        "exact_ms_p99": round(common.percentile(exact_stats.samples, 99), 3),
        "exact_queries": len(exact_q),
        "exact_background_cores": exact_bg,
        "hnsw_build_s": round(build_s, 1),
        "hnsw": {},
    }
    backend = approx._backend  # the graph's search breadth is a per-index setting
    for ef in args.ef_search:
        backend.index.set_ef(max(ef, args.k))  # type: ignore[union-attr]
        for q in queries[:5]:
            approx.search(q, k=args.k)
        monitor = common.LoadMonitor()
        monitor.begin()
        stats, found = time_queries(approx, queries, args.k)
        monitor.end()
        recall = float(np.mean([len(t & f) / args.k for t, f in zip(truth, found, strict=False)]))
        row["hnsw"][str(ef)] = {
            "ms_p50": round(stats.p50, 3),
            "ms_p99": round(common.percentile(stats.samples, 99), 3),
            "recall_at_10": round(recall, 4),
            "speedup_p50": common.ratio(exact_stats.p50, stats.p50),
            "background_cores": monitor.foreign_cores,
        }
        print(
            f"  n={n:>8} ef={ef:<4} hnsw p50 {stats.p50:7.3f} ms p99 "
            f"{common.percentile(stats.samples, 99):7.3f} ms recall@10 {recall:.4f} | exact p50 "
            f"{exact_stats.p50:8.3f} ms",
            flush=True,
        )
    return row


def bench_indexing(args: argparse.Namespace) -> dict[str, Any]:
    """Photos/s through detect + align + embed + FaceIndex.add on real identity-set photos."""
    from server.album.ann import FaceIndex
    from shared.analysis import FaceAnalyzer
    from shared.media import read_image
    from shared.model_registry import ModelRegistry

    data = common.require_data()
    paths = sorted((data / "lfw_subset_10x10").glob("*/*.jpg"))[: args.photos // 2]
    paths += sorted((data / "deepface_unit_dataset").glob("img*.jpg"))[: args.photos - len(paths)]
    analyzer = FaceAnalyzer(ModelRegistry()).prepare()
    analyzer.get(read_image(paths[0]))  # warm-up
    index = FaceIndex(128)
    faces = 0
    decode_s = 0.0
    monitor = common.LoadMonitor()
    monitor.begin()
    start = time.perf_counter()
    for n, path in enumerate(paths):
        t0 = time.perf_counter()
        image = read_image(path)
        decode_s += time.perf_counter() - t0
        found = [f for f in analyzer.get(image) if f.embedding is not None]
        if found:
            index.add(np.arange(faces, faces + len(found)), np.stack([f.embedding for f in found]))
        faces += len(found)
        del n
    total = time.perf_counter() - start
    monitor.end()
    sizes = [read_image(p).shape[:2] for p in paths[-3:]]
    return {
        "photos": len(paths),
        "faces": faces,
        "photos_per_s": round(len(paths) / total, 2),
        "faces_per_s": round(faces / total, 2),
        "decode_share": round(decode_s / total, 3),
        "background_cores": monitor.foreign_cores,
        "largest_sizes_hw": [list(s) for s in sizes],
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000, help="HNSW queries per size")
    parser.add_argument("--exact-queries", type=int, default=200, help="exact queries (the recall truth)")
    parser.add_argument(
        "--data",
        choices=("fitted", "isotropic"),
        default="fitted",
        help="synthetic faces with real embeddings' covariances (default) or the isotropic worst case",
    )
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=100)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--threads", type=int, default=common.DEFAULT_THREADS)
    parser.add_argument("--photos", type=int, default=120, help="real photos for the indexing figure")
    parser.add_argument("--skip-indexing", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    common.pin_threads(args.threads)
    report: dict[str, Any] = {
        "machine": common.machine_info(args.threads),
        "versions": common.versions("numpy", "hnswlib", "onnxruntime"),
        "params": {"m": args.m, "ef_construction": args.ef_construction, "data": args.data},
    }
    report["search"] = [bench_size(n, args) for n in args.sizes]
    if not args.skip_indexing:
        report["indexing"] = bench_indexing(args)
        print(f"  indexing: {report['indexing']}", flush=True)
    common.print_json_last(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
