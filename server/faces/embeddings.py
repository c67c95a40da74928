"""Embeddings as the database stores them (little-endian float32 bytes) and the student template.

A student's template is the L2-normalised mean of their L2-normalised photo embeddings: one vector
that averages out lighting and expression. Galleries carry it *and* the individual embeddings, and
a face is scored against a student as the highest cosine similarity over all of them, so that a
photo in glasses still matches a face in glasses even when the mean drifts towards the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shared.similarity import l2_normalize

DTYPE = np.dtype("<f4")


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=DTYPE).tobytes()


def from_bytes(data: bytes, dim: int) -> np.ndarray:
    vector = np.frombuffer(data, dtype=DTYPE)
    if vector.shape != (dim,):
        raise ValueError(f"stored embedding has {vector.size} values, expected {dim}")
    return vector.astype(np.float32)


def combine(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """The template: normalised mean of the normalised embeddings."""
    if not len(vectors):
        raise ValueError("a template needs at least one embedding")
    return l2_normalize(l2_normalize(np.stack(vectors)).mean(axis=0)).astype(np.float32)


def best_similarity(vector: np.ndarray, others: Sequence[np.ndarray]) -> float | None:
    """Highest cosine similarity of `vector` to any of `others` (None when there are none)."""
    if not len(others):
        return None
    return float((l2_normalize(np.stack(others)) @ l2_normalize(vector)).max())


def as_json(vector: np.ndarray) -> list[float]:
    """Float32 values as JSON numbers with 9 significant digits: enough to give back the exact float32,
    and a text that survives parsing and re-serialising unchanged (what the gallery's sha256 needs)."""
    return [float(f"{value:.9g}") for value in np.asarray(vector, dtype=np.float32).tolist()]
