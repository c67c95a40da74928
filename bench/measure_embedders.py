"""Which embedder for our users: dlib, SFace and their fusion side by side, per group of faces.

    python bench/measure_embedders.py [--data ../shared/data] [--out bench/results/embedders.json]

Sets (LFW pairs format, always cross-validated across folds, never one split):
- `east_asian`: ../shared/data/lfw_east_asian_dev/pairs_east_asian.txt (impostors drawn within the group,
  as in a Korean classroom), 5 identity-disjoint folds;
- `control`: pairs_control.txt, other LFW identities built the same way;
- `lfw`: the LFW pairs that have images here (View-1 DevTest + View-2 fold 1, 2 folds).
Each image's face is found once (MTCNN, the LFW protocol's central face) and embedded by every model,
with and without flip; embeddings are cached in .cache/measure_embedders/.

For each embedder it reports per set: cross-validated accuracy, TAR at FAR 1% and 0.1%, and the
false-accept rate at the shipped 1:N threshold (`strict_threshold` in shared/embed.py). With
`--calibrate` it also prints the thresholds chosen on pooled impostors of all sets (what is shipped)
and the fusion weights derived from LFW DevTest alone (z-normalisation: weight^2 proportional to
1 / impostor standard deviation), so neither is tuned on the group it is judged on.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.analysis import FaceAnalyzer
from shared.embed import EMBEDDERS, FaceEmbedder, fuse
from shared.lfw import Pair, protocol_face, read_pairs
from shared.media import read_image
from shared.model_registry import ModelRegistry
from shared.samples import cache_dir
from shared.similarity import kfold_accuracy, threshold_for_far

MODELS = ("dlib_resnet", "sface")


def pair_sets(data: Path) -> dict[str, tuple[list[Pair], int]]:
    east = data / "lfw_east_asian_dev"
    lfw = data / "lfw_deepfunneled_pairs"
    sets = {
        "east_asian": read_pairs(east / "pairs_east_asian.txt", east / "images"),
        "control": read_pairs(east / "pairs_control.txt", east / "images"),
    }
    dev, dev_folds = read_pairs(lfw / "pairsDevTest.txt", lfw / "images")
    fold1, _ = read_pairs(lfw / "pairs_fold1.txt", lfw / "images")
    sets["lfw"] = (dev + [replace(p, fold=p.fold + dev_folds) for p in fold1], dev_folds + 1)
    return sets


def embed_all(paths: list[Path], cache: Path) -> dict[str, dict[Path, np.ndarray]]:
    """{f"{model}" or f"{model}+flip": {path: vector}} for every path, cached on disk."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    stored: dict[str, dict[str, np.ndarray]] = {}
    if cache.is_file():
        with np.load(cache) as data:
            for key in data.files:
                variant, _, path = key.partition("|")
                stored.setdefault(variant, {})[path] = data[key]
    todo = [p for p in paths if any(str(p) not in stored.get(v, {}) for v in _variants())]
    if todo:
        from tqdm import tqdm

        registry = ModelRegistry()
        detector = FaceAnalyzer(registry, embedder="dlib_resnet").detector
        embedders = {name: FaceEmbedder.from_registry(registry, name) for name in MODELS}
        for path in tqdm(todo, desc="embedding", unit="img"):
            image = read_image(path)
            face, _ = protocol_face(image, detector.detect)
            for name, embedder in embedders.items():
                stored.setdefault(name, {})[str(path)] = embedder.embed_faces(image, [face])[0]
                stored.setdefault(f"{name}+flip", {})[str(path)] = embedder.embed_faces(
                    image, [face], flip=True
                )[0]
        np.savez(cache, **{f"{v}|{p}": vec for v, by_path in stored.items() for p, vec in by_path.items()})
    return {v: {Path(p): vec for p, vec in by_path.items()} for v, by_path in stored.items()}


def _variants() -> list[str]:
    return [*MODELS, *(f"{m}+flip" for m in MODELS)]


def cosine_scores(pairs: list[Pair], vectors: dict[Path, np.ndarray]) -> np.ndarray:
    a = np.stack([vectors[p.a] for p in pairs]).astype(np.float64)
    b = np.stack([vectors[p.b] for p in pairs]).astype(np.float64)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def fused_vectors(
    embedded: dict[str, dict[Path, np.ndarray]], weights: tuple[float, float], flip: bool
) -> dict[Path, np.ndarray]:
    suffix = "+flip" if flip else ""
    dlib, sface = embedded[f"dlib_resnet{suffix}"], embedded[f"sface{suffix}"]
    return {p: fuse([dlib[p], sface[p]], list(weights))[0] for p in dlib}


def report(scores: np.ndarray, pairs: list[Pair], folds: int, threshold: float) -> dict[str, float]:
    same = np.array([p.same for p in pairs])
    fold_ids = np.array([p.fold for p in pairs])
    mean, std, _, _ = kfold_accuracy(scores, same, [np.flatnonzero(fold_ids == f) for f in range(folds)])
    impostor, genuine = scores[~same], scores[same]
    out = {"accuracy_cv": round(mean, 4), "std": round(std, 4)}
    for far in (0.01, 0.001):
        cut = threshold_for_far(scores, same, far)
        out[f"tar_at_far_{far:g}"] = round(float((genuine >= cut).mean()), 4)
    out["far_at_shipped"] = round(float((impostor >= threshold).mean()), 4)
    out["tar_at_shipped"] = round(float((genuine >= threshold).mean()), 4)
    out["impostor_median"] = round(float(np.median(impostor)), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    parser.add_argument("--calibrate", action="store_true", help="print pooled thresholds and fusion weights")
    args = parser.parse_args(argv)
    sets = pair_sets(args.data)
    paths = sorted({p for pairs, _ in sets.values() for pair in pairs for p in (pair.a, pair.b)})
    embedded = embed_all(paths, cache_dir() / "measure_embedders" / "embeddings.npz")

    # Fusion weights from LFW DevTest impostors alone (z-normalisation), never from the groups judged.
    dev = [p for p in sets["lfw"][0] if p.fold == 0]
    spreads = {m: float(np.std(cosine_scores([p for p in dev if not p.same], embedded[m]))) for m in MODELS}
    raw = np.array([1.0 / spreads[m] for m in MODELS])
    derived = tuple(float(w) for w in np.sqrt(raw / raw.sum()))
    shipped_weights = tuple(float(w) for _, w in EMBEDDERS["fused"]["parts"])

    results: dict[str, object] = {"fusion_weights_derived": derived, "impostor_std_devtest": spreads}
    for flip in (False, True):
        suffix = "+flip" if flip else ""
        variants = {
            "dlib_resnet": embedded[f"dlib_resnet{suffix}"],
            "sface": embedded[f"sface{suffix}"],
            "fused": fused_vectors(embedded, shipped_weights, flip),
        }
        for name, vectors in variants.items():
            threshold = float(EMBEDDERS[name]["strict_threshold"])
            per_set = {
                set_name: report(cosine_scores(pairs, vectors), pairs, folds, threshold)
                for set_name, (pairs, folds) in sets.items()
            }
            results[f"{name}{suffix}"] = per_set
            if args.calibrate:
                pooled = np.concatenate([cosine_scores(p, vectors) for p, _ in sets.values()])
                same = np.concatenate([[x.same for x in p] for p, _ in sets.values()])
                results[f"{name}{suffix}"]["pooled_thresholds"] = {  # type: ignore[index]
                    f"far_{far:g}": round(threshold_for_far(pooled, same, far), 4) for far in (0.01, 0.001)
                }
    print(json.dumps(results, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
