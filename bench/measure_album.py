#!/usr/bin/env python3
"""Album quality on real identity sets: search by key photo, and grouping into people.

For every labelled identity set in ../shared/data, each photo's main face is detected and embedded
by Visage's face core (`FaceAnalyzer`: ONNX MTCNN + the chosen embedder; photos larger than 1024 px on a
side are scaled down first: MTCNN on multi-megapixel photos is slow, and the faces stay large). Then:

* search: every face is a key photo once, searched (server.album.ann.FaceIndex, exact) against
  all other faces of its set, optionally padded with LFW people who have a single photo
  (distractors). Reported: precision and recall of "similarity >= threshold" (micro-averaged over
  queries), rank-1 (is the best other face the same person) and mean average precision; and the
  same precision/recall in albums of a user's size: tens of LFW people drawn at random, with or
  without one-photo strangers (bystanders), which is what the default cut is chosen on;
* grouping: server.album.grouping.group_faces over the set, once in one go and once incrementally
  (photos arrive in 5 shuffled batches, each run keeps the previous assignments). Reported:
  purity, completeness, share of faces assigned, people found vs identities.

This is a measurement, not a benchmark of speed; the figures go into docs/album.md ("Measured").
Embeddings are cached per embedder in bench/results/album_embeddings_<embedder>.npz (gitignored;
--no-cache to redo). The embedder is the face core's default (SFace) unless --embedder says otherwise;
the thresholds measured are the embedder's own and steps around its album cut.

    . .venv/bin/activate && python bench/measure_album.py   # 2,400 photos: 10-30 min the first time
    python bench/measure_album.py --sets lfw_deepfunneled_2plus --no-grouping   # the album cut only
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # bench/ is not a package: the scripts are run by path

from server.album.ann import FaceIndex
from server.album.grouping import GroupingParams, group_faces, score_grouping


def cache_path(embedder: str) -> Path:
    """Embeddings cached per embedder (scores of two embedders are never compared)."""
    return common.BENCH_DIR / "results" / f"album_embeddings_{embedder}.npz"


FR = "face_recognition_examples"


@dataclass(frozen=True)
class Item:
    """One labelled photo: which set it belongs to, its path under the data folder, its identity."""

    dataset: str
    rel: str
    identity: str


def identity_sets(data: Path) -> list[Item]:
    """Every labelled photo of the identity sets (one person per photo)."""
    items: list[Item] = []
    for path in sorted((data / "lfw_subset_10x10").glob("*/*.jpg")):
        items.append(Item("lfw_subset_10x10", str(path.relative_to(data)), path.parent.name))
    with open(data / "deepface_unit_dataset" / "identities_derived.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            rel = f"deepface_unit_dataset/{row['file']}"
            items.append(Item("deepface_unit_dataset", rel, row["identity"]))
    for train in (f"{FR}/examples/knn_examples/train", f"{FR}/pr1285_people_dataset/train"):
        for path in sorted((data / train).glob("*/*")):
            items.append(Item(FR, str(path.relative_to(data)), path.parent.name))
    # Query photos whose file name names a person of the training folders.
    named = {
        f"{FR}/examples/knn_examples/test/alex_lacamoire1.jpg": "alex_lacamoire",
        f"{FR}/examples/knn_examples/test/obama1.jpg": "obama",
        f"{FR}/examples/knn_examples/test/johnsnow_test1.jpg": "kit_harington",
        f"{FR}/pr1285_people_dataset/test/test_guido_van_rossum.jpg": "guido_van_rossum",
        f"{FR}/pr1285_people_dataset/test/test_paul_allen.jpg": "paul_allen",
        f"{FR}/pr1285_people_dataset/test/test_steve_wozniak.jpg": "steve_wozniak",
        f"{FR}/examples/obama.jpg": "obama",
        f"{FR}/examples/obama2.jpg": "obama",
        f"{FR}/examples/biden.jpg": "biden",
        f"{FR}/examples/lin-manuel-miranda.png": "lin_manuel_miranda",
        f"{FR}/examples/alex-lacamoire.png": "alex_lacamoire",
    }
    items += [Item(FR, rel, who) for rel, who in named.items() if (data / rel).is_file()]
    lfw = data / "lfw_deepfunneled_pairs" / "images"
    for person in sorted(p for p in lfw.iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.jpg"))
        dataset = "lfw_deepfunneled_2plus" if len(photos) >= 2 else "lfw_singletons"
        items += [Item(dataset, str(p.relative_to(data)), person.name) for p in photos]
    return items


MAX_SIDE = 1024  # deepface's photos reach several thousand px; the faces stay far above MTCNN's minimum


def main_face(analyzer, image: np.ndarray, centred: bool) -> np.ndarray | None:
    """The embedding of the photo's subject: the face nearest the centre (LFW crops) or the largest."""
    scale = MAX_SIDE / max(image.shape[:2])
    if scale < 1:
        import cv2

        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    faces = analyzer.get(image)
    if not faces:
        return None
    h, w = image.shape[:2]

    def key(found) -> float:
        x0, y0, x1, y1 = (float(v) for v in found.face.box)
        if centred:
            return -np.hypot((x0 + x1) / 2 - w / 2, (y0 + y1) / 2 - h / 2)
        return (x1 - x0) * (y1 - y0)

    return np.asarray(max(faces, key=key).embedding, dtype=np.float32)


def embed_items(
    items: Sequence[Item], data: Path, use_cache: bool, verbose: bool, embedder: str
) -> dict[str, np.ndarray]:
    """rel path -> embedding of its main face (photos without a detected face are left out)."""
    cached: dict[str, np.ndarray] = {}
    cache = cache_path(embedder)
    if use_cache and cache.is_file():
        with np.load(cache, allow_pickle=False) as npz:
            cached = dict(zip(npz["paths"].tolist(), npz["vectors"], strict=True))
            missed = set(npz["missed"].tolist())
    else:
        missed = set()
    todo = [it for it in items if it.rel not in cached and it.rel not in missed]
    if todo:
        from shared.analysis import FaceAnalyzer
        from shared.media import read_image
        from shared.model_registry import ModelRegistry

        analyzer = FaceAnalyzer(ModelRegistry(), embedder=embedder).prepare()
        for n, item in enumerate(todo, 1):
            vector = main_face(analyzer, read_image(data / item.rel), centred=item.dataset.startswith("lfw"))
            if vector is None:
                missed.add(item.rel)
            else:
                cached[item.rel] = vector
            if verbose and n % 100 == 0:
                print(f"  embedded {n}/{len(todo)}", file=sys.stderr, flush=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        paths = sorted(cached)
        np.savez(
            cache,
            paths=np.array(paths),
            vectors=np.stack([cached[p] for p in paths]),
            missed=np.array(sorted(missed), dtype=str),
        )
    return cached


def average_precision(relevant: np.ndarray) -> float:
    """AP of one ranking given as a boolean array, best first, over all relevant items."""
    hits = np.cumsum(relevant)
    total = int(relevant.sum())
    if not total:
        return 0.0
    ranks = np.flatnonzero(relevant) + 1
    return float((hits[relevant] / ranks).mean())


def search_metrics(
    ids: np.ndarray, vectors: np.ndarray, labels: list[str], queries: int, thresholds: dict[str, float]
) -> dict[str, float]:
    """Leave-one-out search of the first `queries` faces against all others (the rest are distractors)."""
    index = FaceIndex.build(ids, vectors, exact_limit=len(ids) + 1)
    where = {int(f): i for i, f in enumerate(ids.tolist())}
    rank1: list[bool] = []
    aps: list[float] = []
    tp = Counter[str]()
    retrieved = Counter[str]()
    relevant_total = 0
    for q in range(queries):
        same = [i for i in range(queries) if i != q and labels[i] == labels[q]]
        if not same:
            continue
        hits = [h for h in index.search(vectors[q], k=len(ids)) if h.id != ids[q]]
        rel = np.array([labels[where[h.id]] == labels[q] for h in hits])
        sims = np.array([h.similarity for h in hits])
        rank1.append(bool(rel[0]))
        aps.append(average_precision(rel))
        relevant_total += len(same)
        for name, t in thresholds.items():
            taken = sims >= t
            tp[name] += int((taken & rel).sum())
            retrieved[name] += int(taken.sum())
    out: dict[str, float] = {
        "queries": len(rank1),
        "rank1": float(np.mean(rank1)),
        "mAP": float(np.mean(aps)),
    }
    for name in thresholds:
        out[f"precision@{name}"] = tp[name] / retrieved[name] if retrieved[name] else float("nan")
        out[f"recall@{name}"] = tp[name] / relevant_total if relevant_total else float("nan")
    return out


def album_sized_search(
    vectors: np.ndarray,
    labels: list[str],
    strangers: np.ndarray,
    sizes: Sequence[tuple[int, int]],
    thresholds: dict[str, float],
    draws: int,
    seed: int,
) -> dict[str, dict[str, float]]:
    """Precision/recall of the cut in albums of a user's size, not 485 people: `people` identities
    drawn from the set (with all their photos) plus `strangers` one-photo people (bystanders), every
    face of the drawn people the key once against the rest, micro-averaged over `draws` draws."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    others = strangers / np.linalg.norm(strangers, axis=1, keepdims=True)
    names = np.array(labels)
    identities = sorted(set(labels))
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, float]] = {}
    for people, extra in sizes:
        tp = Counter[str]()
        retrieved = Counter[str]()
        relevant = 0
        for _ in range(draws):
            chosen = rng.choice(len(identities), size=people, replace=False)
            rows = np.flatnonzero(np.isin(names, [identities[c] for c in chosen]))
            gallery = np.concatenate([unit[rows], others[rng.choice(len(others), size=extra, replace=False)]])
            sims = unit[rows] @ gallery.T
            same = np.zeros(sims.shape, dtype=bool)
            same[:, : rows.size] = names[rows][:, None] == names[rows][None, :]
            own = np.arange(rows.size)
            sims[own, own] = -2.0  # the key itself
            same[own, own] = False
            relevant += int(same.sum())
            for name, t in thresholds.items():
                taken = sims >= t
                tp[name] += int((taken & same).sum())
                retrieved[name] += int(taken.sum())
        row: dict[str, float] = {}
        for n in thresholds:
            row[f"precision@{n}"] = round(tp[n] / retrieved[n], 3) if retrieved[n] else float("nan")
            row[f"recall@{n}"] = round(tp[n] / relevant, 3) if relevant else float("nan")
        out[f"{people} people + {extra} strangers"] = row
    return out


def grouping_metrics(
    ids: np.ndarray, vectors: np.ndarray, labels: list[str], params: GroupingParams, batches: int, seed: int
) -> dict[str, dict[str, float]]:
    """Purity/completeness of one-shot and incremental grouping."""
    truth = {int(f): lab for f, lab in zip(ids.tolist(), labels, strict=True)}
    out = {}
    result = group_faces(ids, vectors, [None] * len(ids), params=params)
    out["one_shot"] = asdict(score_grouping(truth, result.labels()))
    # Incremental: photos arrive in shuffled batches; new people get real ids once created.
    order = np.random.default_rng(seed).permutation(len(ids))
    persons: dict[int, int] = {}
    arrived = np.zeros(len(ids), dtype=bool)
    next_person = 1
    for chunk in np.array_split(order, batches):
        arrived[chunk] = True
        seen = ids[arrived]
        result = group_faces(seen, vectors[arrived], [persons.get(int(f)) for f in seen], params=params)
        persons.update(result.assignments)
        for person in result.new_people:
            persons.update({f: next_person for f in person.face_ids})
            next_person += 1
    out["incremental"] = asdict(score_grouping(truth, {f: str(p) for f, p in persons.items()}))
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=common.DEFAULT_THREADS)
    parser.add_argument("--no-cache", action="store_true", help="re-embed every photo")
    parser.add_argument("--min-core", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--embedder", default=None, help="default: the face core's default (SFace)")
    parser.add_argument(
        "--sets", nargs="+", default=None, help="identity sets to measure (default: all four)"
    )
    parser.add_argument(
        "--search-thresholds", type=float, nargs="+", default=None, help="default: around the album cut"
    )
    parser.add_argument("--group-thresholds", type=float, nargs="+", default=None)
    parser.add_argument("--no-grouping", action="store_true", help="search figures only")
    parser.add_argument("--batches", type=int, default=5, help="upload batches for incremental grouping")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--album-draws", type=int, default=300, help="random albums per album size")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    common.pin_threads(args.threads)
    from shared.embed import DEFAULT_EMBEDDER, require_embedder

    embedder = args.embedder or DEFAULT_EMBEDDER
    spec = require_embedder(embedder)
    data = common.require_data()
    sets = args.sets or ["lfw_subset_10x10", "deepface_unit_dataset", FR, "lfw_deepfunneled_2plus"]
    items = [it for it in identity_sets(data) if it.dataset in sets or it.dataset == "lfw_singletons"]
    vectors_by_rel = embed_items(items, data, not args.no_cache, args.verbose, embedder)
    # The embedder's 1:1 and 1:N thresholds and steps around its album cut (a quarter of its
    # unknown gap: 0.01 for dlib, 0.025 for SFace, whose scores spread ~2.5x wider).
    cut, step = float(spec["album_threshold"]), float(spec["unknown_gap"]) / 4
    around = [round(cut + k * step, 3) for k in (-2, -1, 0, 1, 2)]
    chosen = args.search_thresholds or sorted(
        {float(spec["threshold"]), float(spec["strict_threshold"]), *around}
    )
    thresholds = {f"{t:.3f}": t for t in chosen}
    group_thresholds = args.group_thresholds or around[1:4]
    singles = [it for it in items if it.dataset == "lfw_singletons" and it.rel in vectors_by_rel]
    report: dict[str, object] = {
        "machine": common.machine_info(args.threads),
        "embedder": embedder,
        "sets": {},
    }
    for name in sets:
        members = [it for it in items if it.dataset == name]
        found = [it for it in members if it.rel in vectors_by_rel]
        labels = [it.identity for it in found]
        vectors = np.stack([vectors_by_rel[it.rel] for it in found])
        ids = np.arange(len(found), dtype=np.int64)
        entry: dict[str, object] = {
            "photos": len(members),
            "faces": len(found),
            "identities": len(set(labels)),
            "identities_2plus": sum(1 for n in Counter(labels).values() if n >= 2),
        }
        entry["search"] = search_metrics(ids, vectors, labels, len(found), thresholds)
        # The same queries with every single-photo LFW person added to the gallery as a distractor.
        d_vectors = np.concatenate([vectors, np.stack([vectors_by_rel[it.rel] for it in singles])])
        d_labels = labels + [f"single:{it.identity}" for it in singles]
        entry["search_with_distractors"] = search_metrics(
            np.arange(len(d_labels), dtype=np.int64), d_vectors, d_labels, len(found), thresholds
        )
        entry["distractors"] = len(singles)
        if name == "lfw_deepfunneled_2plus":  # enough people to draw albums of a user's size from
            entry["album_sized_search"] = album_sized_search(
                vectors,
                labels,
                np.stack([vectors_by_rel[it.rel] for it in singles]),
                [(10, 0), (30, 0), (30, 100), (30, 300), (50, 200), (100, 0)],
                thresholds,
                args.album_draws,
                args.seed,
            )
        grouping = {}
        for t in [] if args.no_grouping else group_thresholds:
            for rule in ("nearest", "centroid"):
                for core in args.min_core:
                    params = GroupingParams(threshold=t, min_core=core, join_rule=rule)  # type: ignore[arg-type]
                    grouping[f"{rule}@{t:.2f}/core{core}"] = grouping_metrics(
                        ids, vectors, labels, params, args.batches, args.seed
                    )
        entry["grouping"] = grouping
        report["sets"][name] = entry  # type: ignore[index]
        print(f"{name}: {json.dumps(entry)}", flush=True)
    common.print_json_last(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
