"""Synthetic face embeddings with the second-order statistics of real ones, for scale benchmarks.

The album's search benchmark needs 1M embeddings; ../shared/data has a few thousand real faces.
Two generators stand in for the rest:

- `isotropic_faces`: every person a random offset from one shared direction, every photo a random
  offset from its person, both spread evenly over all 128 dimensions; only the two spreads are
  fitted (same-person cosine median 0.955, different-person 0.851). Evenly spread noise is the
  hardest case there is for a nearest-neighbour graph (no low-dimensional structure to exploit),
  so it is a worst case, not a picture of real faces.
- `fitted_faces`: people drawn from the *covariance* of real people's mean embeddings, photos from
  the covariance of real photos around their person's mean (a Gaussian model with the real
  spectra and principal directions). Fitted to dlib ResNet embeddings of the 2,226 deep-funneled
  LFW images (1,308 people, 485 with several photos) in ../shared/data/lfw_deepfunneled_pairs.
  Real embeddings are far from isotropic: half of the between-person variance lies in ~12 of the
  128 dimensions (participation ratio ~30), which is why graphs search them faster.

`FaceStatistics.load_or_fit()` embeds the LFW images once through the face core and caches only
the fitted mean and covariances (never images) under bench/.cache/.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
CACHE = BENCH_DIR / ".cache"

# Isotropic generator: a shared direction of weight 1, person offsets of norm P, photo offsets of
# norm F: same-person cosine ~ (1+P^2)/(1+P^2+F^2), different ~ 1/(1+P^2+F^2) (fitted to
# lfw_subset_10x10: 0.955 / 0.851).
COMMON_WEIGHT = 1.0
PERSON_SPREAD = 0.35
FACE_SPREAD = 0.23


@dataclass(frozen=True)
class FaceStatistics:
    """Mean direction, between-person and within-person covariance of unit face embeddings."""

    mean: np.ndarray
    between: np.ndarray
    within: np.ndarray
    people: int
    faces: int

    @classmethod
    def fit(cls, by_person: dict[str, list[np.ndarray]]) -> FaceStatistics:
        """Moments of unit embeddings grouped by person (people with one photo count for `between`)."""
        groups = [np.stack([v / np.linalg.norm(v) for v in vs]) for vs in by_person.values() if vs]
        centres = np.stack([g.mean(axis=0) for g in groups])
        mean = centres.mean(axis=0)
        several = [g for g in groups if len(g) >= 2]
        if not several:
            raise ValueError("Need people with two or more photos to fit the within-person spread.")
        deviations = np.concatenate([g - g.mean(axis=0) for g in several])
        within = deviations.T @ deviations / (len(deviations) - len(several))
        # A person's mean of n photos still carries within-person noise / n: take it out.
        sizes = np.array([len(g) for g in groups], dtype=np.float64)
        between = np.cov((centres - mean).T) - within * float(np.mean(1.0 / sizes))
        return cls(mean, _nearest_psd(between), _nearest_psd(within), len(groups), sum(map(len, groups)))

    @classmethod
    def load_or_fit(cls, data_dir: Path, model: str = "dlib_resnet") -> FaceStatistics:
        """Cached statistics of `model`'s embeddings of the LFW images (fitted on first use)."""
        path = CACHE / f"face_statistics_{model}.npz"
        if path.is_file():
            saved = np.load(path)
            return cls(
                saved["mean"], saved["between"], saved["within"], int(saved["people"]), int(saved["faces"])
            )
        stats = cls.fit(_embed_lfw(data_dir / "lfw_deepfunneled_pairs" / "images", model))
        CACHE.mkdir(exist_ok=True)
        np.savez(
            path,
            mean=stats.mean,
            between=stats.between,
            within=stats.within,
            people=stats.people,
            faces=stats.faces,
        )
        return stats

    def participation_ratio(self, which: str = "between") -> float:
        """(sum of eigenvalues)^2 / sum of squares: how many dimensions the spread really uses."""
        values = np.clip(np.linalg.eigvalsh(getattr(self, which)), 0.0, None)
        return float(values.sum() ** 2 / max(float((values**2).sum()), 1e-30))


def _nearest_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.clip(values, 0.0, None)) @ vectors.T


def _square_root(covariance: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(covariance)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))).astype(np.float32)


def _embed_lfw(images: Path, model: str) -> dict[str, list[np.ndarray]]:
    """Embedding of the central face of every LFW image, by person (the eval-lfw way)."""
    from tqdm import tqdm

    sys.path.insert(0, str(BENCH_DIR.parent))
    from shared.analysis import FaceAnalyzer
    from shared.lfw import protocol_face
    from shared.media import read_image

    paths = sorted(images.glob("*/*.jpg"))
    if not paths:
        raise FileNotFoundError(f"{images}: no LFW images to fit face statistics on.")
    analyzer = FaceAnalyzer(embedder=model).prepare()
    by_person: dict[str, list[np.ndarray]] = defaultdict(list)
    for path in tqdm(paths, desc="fitting face statistics on LFW", unit="img"):
        image = read_image(path)
        face, _ = protocol_face(image, analyzer.detect)
        by_person[path.parent.name].append(analyzer.embed(image, [face])[0])
    return by_person


def _owners(rng: np.random.Generator, n: int) -> np.ndarray:
    """Person of each of n gallery faces: 1 to 20 photos a person (geometric, like a family album)."""
    sizes = np.minimum(rng.geometric(1 / 8, size=n), 20)
    return np.repeat(np.arange(n), sizes)[:n]


def _generate(n: int, queries: int, seed: int, centres_for, offsets_for) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    owners = _owners(rng, n)
    centres = centres_for(rng, int(owners.max()) + 1)

    def faces(who: np.ndarray) -> np.ndarray:
        out = np.empty((who.size, centres.shape[1]), dtype=np.float32)
        for start in range(0, who.size, 100_000):  # bounded temporaries at 1M
            part = who[start : start + 100_000]
            x = centres[part] + offsets_for(rng, part.size)
            out[start : start + part.size] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    gallery = faces(owners)
    asked = rng.choice(owners, size=queries, replace=queries > n)
    return gallery, faces(asked)


def isotropic_faces(n: int, queries: int, dim: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n gallery faces, `queries` new photos of gallery people), unit float32; the worst case."""

    def centres(rng: np.random.Generator, people: int) -> np.ndarray:
        common = rng.normal(size=dim).astype(np.float32)
        common /= np.linalg.norm(common)
        spread = PERSON_SPREAD / np.sqrt(dim) * rng.standard_normal((people, dim), dtype=np.float32)
        return COMMON_WEIGHT * common + spread

    def offsets(rng: np.random.Generator, count: int) -> np.ndarray:
        return FACE_SPREAD / np.sqrt(dim) * rng.standard_normal((count, dim), dtype=np.float32)

    return _generate(n, queries, seed, centres, offsets)


def fitted_faces(n: int, queries: int, stats: FaceStatistics, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n gallery faces, `queries` new photos of gallery people) with real embeddings' moments."""
    dim = stats.mean.size
    between, within = _square_root(stats.between), _square_root(stats.within)
    mean = stats.mean.astype(np.float32)

    def centres(rng: np.random.Generator, people: int) -> np.ndarray:
        return mean + rng.standard_normal((people, dim), dtype=np.float32) @ between.T

    def offsets(rng: np.random.Generator, count: int) -> np.ndarray:
        return rng.standard_normal((count, dim), dtype=np.float32) @ within.T

    return _generate(n, queries, seed, centres, offsets)
