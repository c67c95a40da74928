"""Calibrate and measure the clustering of unknown faces (server/attendance/clusters.py) on real photos.

    python bench/cluster_unknowns.py [--embedder sface] [--seeds 5]

Faces: every image of ../shared/data/lfw_east_asian_dev/images (48 people, 24 of them East-Asian)
and ../shared/data/lfw_subset_10x10 (10 people x 10 photos; a file in both counts once), the main
face of each (the LFW protocol face), embedded with the server's embedder. Embeddings are cached
in .cache/cluster_unknowns/.

Prints (and writes to bench/results/cluster_unknowns.json):
- the calibration of the pairs (every same-person and different-person pair of the set), with
  `shared.similarity.calibrate`: accuracy peak and the thresholds at false-accept rates 1e-2..1e-4;
- for each candidate threshold and neighbour count, the clusters the incremental core rule builds
  when the faces arrive in random orders (several seeds): purity (share of faces in the majority
  identity of their cluster), completeness (share of each person's faces in their largest cluster),
  clusters per person, and how many clusters mix people.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

import numpy as np
from common import DATA_DIR, REPO_ROOT

from server.attendance.clusters import cluster_vectors
from shared.analysis import FaceAnalyzer
from shared.embed import require_embedder
from shared.lfw import protocol_face
from shared.media import read_image
from shared.registry import ModelRegistry
from shared.similarity import calibrate, l2_normalize, rates_at

SETS = ("lfw_east_asian_dev/images", "lfw_subset_10x10")
THRESHOLDS = (0.30, 0.34, 0.37, 0.40, 0.43, 0.46, 0.50)
NEIGHBOURS = (1, 2, 3)


def faces(embedder: str) -> tuple[list[str], np.ndarray]:
    """(identity per face, unit embeddings) of every photo of SETS, cached."""
    unique = {p.name: p for s in SETS for p in sorted((DATA_DIR / s).glob("*/*.jpg"))}  # sets overlap
    paths = sorted(unique.values(), key=lambda p: p.name)
    cache = REPO_ROOT / ".cache" / "cluster_unknowns" / f"{embedder}.npz"
    if cache.is_file():
        with np.load(cache) as data:
            if list(data["paths"]) == [str(p) for p in paths]:
                return [p.parent.name for p in paths], data["vectors"]
    analyzer = FaceAnalyzer(ModelRegistry(), embedder=embedder).prepare()
    vectors = []
    for i, path in enumerate(paths):
        image = read_image(path)
        face, _ = protocol_face(image, analyzer.detector.detect)
        vectors.append(analyzer.embedder.embed_faces(image, [face])[0])
        if i % 50 == 0:
            print(f"embedded {i}/{len(paths)}", file=sys.stderr)
    stacked = l2_normalize(np.stack(vectors).astype(np.float32))
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, paths=np.array([str(p) for p in paths]), vectors=stacked)
    return [p.parent.name for p in paths], stacked


def pair_scores(names: list[str], vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sims = vectors @ vectors.T
    upper = np.triu_indices(len(names), k=1)
    labels = np.array(names)
    return sims[upper], labels[upper[0]] == labels[upper[1]]


def cluster_figures(names: list[str], labels: list[int]) -> dict[str, float]:
    by_cluster: dict[int, Counter[str]] = {}
    by_person: dict[str, Counter[int]] = {}
    for name, label in zip(names, labels, strict=True):
        by_cluster.setdefault(label, Counter())[name] += 1
        by_person.setdefault(name, Counter())[label] += 1
    total = len(names)
    return {
        "purity": sum(c.most_common(1)[0][1] for c in by_cluster.values()) / total,
        "completeness": sum(c.most_common(1)[0][1] for c in by_person.values()) / total,
        "clusters": len(by_cluster),
        "mixed_clusters": sum(1 for c in by_cluster.values() if len(c) > 1),
        "clusters_per_person": float(np.mean([len(c) for c in by_person.values()])),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", default="sface")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    names, vectors = faces(args.embedder)
    scores, same = pair_scores(names, vectors)
    cal = calibrate(scores, same, "cosine", fars=(1e-2, 1e-3, 1e-4))
    out: dict = {
        "embedder": args.embedder,
        "faces": len(names),
        "people": len(set(names)),
        "same_pairs": int(same.sum()),
        "different_pairs": int((~same).sum()),
        "calibration": cal.to_dict(),
        "spec": {k: require_embedder(args.embedder)[k] for k in ("threshold", "strict_threshold")},
        "rates": {},
        "clustering": [],
    }
    print(json.dumps({k: out[k] for k in ("faces", "people", "same_pairs", "different_pairs")}))
    print("calibration:", json.dumps(cal.to_dict()))
    for t in THRESHOLDS:
        tar, far = rates_at(scores, same, t)
        out["rates"][f"{t:.2f}"] = {"tar": tar, "far": far}
        for k in NEIGHBOURS:
            runs = []
            for seed in range(args.seeds):
                order = np.random.default_rng(seed).permutation(len(names))
                labels = cluster_vectors(vectors[order], t, k)
                runs.append(cluster_figures([names[i] for i in order], labels))
            row = {"threshold": t, "min_neighbours": k, "tar": tar, "far": far}
            row.update({key: float(np.mean([r[key] for r in runs])) for key in runs[0]})
            row["purity_min"] = min(r["purity"] for r in runs)
            out["clustering"].append(row)
            print(
                f"t={t:.2f} k={k} TAR={tar:.3f} FAR={far:.2e} purity={row['purity']:.4f} "
                f"(min {row['purity_min']:.4f}) completeness={row['completeness']:.3f} "
                f"clusters={row['clusters']:.1f} mixed={row['mixed_clusters']:.1f} "
                f"per-person={row['clusters_per_person']:.2f}"
            )
    results = REPO_ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "cluster_unknowns.json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
