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

    python bench/cluster_unknowns.py --simulation WORK_DIR [WORK_DIR...] --faces FACES_DIR

measures the same on simulated classes run with `visage simulate run --work-dir WORK_DIR`: their
unknown tracks as ingest stored them, pooled as sessions of one course, each labelled with the class
member whose video photo is nearest, clustered in arrival order.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from common import DATA_DIR, REPO_ROOT

from server.attendance.clusters import cluster_threshold, cluster_vectors
from shared.analysis import FaceAnalyzer
from shared.embed import require_embedder
from shared.lfw import protocol_face
from shared.media import read_image
from shared.model_registry import ModelRegistry
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


def simulation(work_dirs: list[Path], faces_dir: Path, embedder: str) -> dict:
    """Purity on simulated classes: their unknown tracks (as ingest stored them in each run's database),
    pooled as if the runs were sessions of one course, clustered by the server's rule in arrival order;
    each track is labelled with the class member whose video photo its embedding is nearest to (the
    truth of `visage simulate run --work-dir`)."""
    import sqlite3

    analyzer = FaceAnalyzer(ModelRegistry(), embedder=embedder).prepare()
    refs: dict[str, np.ndarray] = {}  # "person/photo" -> embedding (a person may appear with two photos)
    strangers: set[str] = set()
    keys: list[tuple] = []
    embeddings: list[np.ndarray] = []
    for run, work_dir in enumerate(work_dirs):
        truth = json.loads((work_dir / "class" / "truth.json").read_text())
        strangers.update(truth["strangers"])
        for person in truth["people"]:
            photo = person.get("video_photo")  # absent members are never in view
            if photo and photo not in refs:
                image = read_image(faces_dir / photo)
                face, _ = protocol_face(image, analyzer.detector.detect)
                refs[photo] = analyzer.embedder.embed_faces(image, [face])[0]
        with sqlite3.connect(work_dir / "visage.db") as db:
            rows = db.execute(
                "SELECT session_id, device_id, track_id, embedding FROM sightings WHERE student_id IS NULL"
                " AND embedding IS NOT NULL ORDER BY captured_at, id"
            ).fetchall()
        tracks: dict[tuple, bytes] = {}
        for session, device, track, data in rows:
            tracks[(run, session, device, track)] = data  # the latest event carries the best view
        for key, data in tracks.items():  # dicts keep first-arrival order
            keys.append(key)
            embeddings.append(np.frombuffer(data, dtype="<f4"))
    photos = list(refs)
    ref = l2_normalize(np.stack([refs[p] for p in photos]).astype(np.float32))
    vectors = l2_normalize(np.stack(embeddings).astype(np.float32))
    sims = vectors @ ref.T
    order = np.argsort(-sims, axis=1)
    names = [photos[int(order[i, 0])].split("/")[0] for i in range(len(keys))]
    margins = [float(sims[i, order[i, 0]] - sims[i, order[i, 1]]) for i in range(len(keys))]
    threshold = cluster_threshold(embedder)
    labels = cluster_vectors(vectors, threshold)
    return {
        "runs": len(work_dirs),
        "strangers": sorted(strangers),
        "unknown_tracks": len(keys),
        "tracks_per_person": {n: names.count(n) for n in sorted(set(names))},
        "label_margin_min": round(min(margins), 3),
        "threshold": threshold,
        **cluster_figures(names, labels),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", default="sface")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--simulation", type=Path, nargs="+", help="`visage simulate run --work-dir` folders (pooled)"
    )
    parser.add_argument("--faces", type=Path, help="the --faces folder of that simulation")
    args = parser.parse_args(argv)
    if args.simulation:
        result = simulation(args.simulation, args.faces, args.embedder)
        print(json.dumps(result))
        return 0
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
