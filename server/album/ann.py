"""Per-user nearest-neighbour index over face embeddings: exact when small, HNSW when large.

Embeddings live in the database; this index is a *cache* that can be thrown away. Small galleries
are searched exactly (one numpy matrix product: no recall loss and no build time); above
`exact_limit` faces the index switches to an hnswlib graph (approximate, logarithmic search time).
hnswlib rather than faiss because it supports what an album does all day: adding and *removing*
single faces by their own ids (faiss' HNSW cannot remove), plus a one-file save/load.

A saved index carries a manifest with the `fingerprint` of the embedding set it was built from
(model, dimension, count and an order-independent hash of the face ids). The caller computes the
fingerprint of what the database holds now; a mismatch means the cache is stale and is rebuilt.

Searches run concurrently (a readers-writer lock; numpy and hnswlib release the GIL); adds and
removes take the lock exclusively.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# Exact search of 20k x 128 float32 costs a few ms per query on one core; above that HNSW wins.
DEFAULT_EXACT_LIMIT = 20_000
_MASK64 = (1 << 64) - 1
_BULK_THREADS = os.cpu_count() or 1  # threads for building a graph; searches use one thread each


class FaceIndexError(ValueError):
    """Bad input to the face index (wrong shape, duplicate ids, missing k and threshold)."""


@dataclass(frozen=True)
class Hit:
    """One search result: a face row id and its cosine similarity to the query."""

    id: int
    similarity: float


@dataclass(frozen=True)
class HnswParams:
    """hnswlib knobs; see bench/README.md for recall and latency at 10k-1M faces.

    M=16 / ef_construction=100 keep a rebuild affordable on a small server (1M faces: 138 s on 2
    idle cores). On synthetic faces with the covariances of real dlib embeddings (bench/
    face_statistics.py), ef_search=512 gives recall@10 0.999 at 100k (0.75 ms p50) and 0.9935 at 1M
    (1.31 ms p50). The isotropic worst case (noise spread evenly over all 128 dimensions) needs
    M=32 / ef_construction=200 / ef_search=1024 at 1M: 0.9905 at 4.7 ms, 10 minutes to build.
    """

    m: int = 16
    ef_construction: int = 100
    ef_search: int = 512


def _mix(ids: np.ndarray) -> np.ndarray:
    """splitmix64 of each id: spreads ids so that their sum is a good set hash."""
    with np.errstate(over="ignore"):
        z = ids.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _id_hash(ids: np.ndarray) -> int:
    with np.errstate(over="ignore"):
        return int(_mix(ids).sum(dtype=np.uint64)) if ids.size else 0


def fingerprint(ids: Iterable[int] | np.ndarray, model: str, dim: int) -> str:
    """Version of an embedding set: changes when a face is added or removed, or the model changes.

    Order-independent and updatable in O(changed ids), so an index can keep its own fingerprint
    current on every add/remove without re-reading the whole set.
    """
    arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64).ravel()
    return _format_fingerprint(model, dim, int(arr.size), _id_hash(arr))


def _format_fingerprint(model: str, dim: int, count: int, digest: int) -> str:
    return f"{model}:{dim}:{count}:{digest & _MASK64:016x}"


class _RWLock:
    """Many readers or one writer; writers wait for readers to finish (no writer starvation)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def _as_ids(ids: Iterable[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64).ravel()
    if arr.size and arr.min() < 0:
        raise FaceIndexError("Face ids must be non-negative integers.")
    if np.unique(arr).size != arr.size:
        raise FaceIndexError("Face ids must be unique within one call.")
    return arr


def _as_vectors(vectors: np.ndarray, dim: int, count: int | None = None) -> np.ndarray:
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise FaceIndexError(f"Embeddings must have shape (N, {dim}), got {tuple(np.shape(vectors))}.")
    if count is not None and arr.shape[0] != count:
        raise FaceIndexError(f"{count} ids but {arr.shape[0]} embeddings.")
    if not np.isfinite(arr).all():
        raise FaceIndexError("Embeddings contain NaN or infinite values.")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return np.ascontiguousarray(arr / np.maximum(norms, 1e-12), dtype=np.float32)


def _top(ids: np.ndarray, sims: np.ndarray, k: int | None, min_similarity: float | None) -> list[Hit]:
    """Rank (ids, sims) best first, cut at k and min_similarity; ties broken by smaller id."""
    if min_similarity is not None:
        keep = sims >= min_similarity
        ids, sims = ids[keep], sims[keep]
    if k is not None and k < sims.size:
        part = np.argpartition(-sims, k - 1)[:k]
        ids, sims = ids[part], sims[part]
    order = np.lexsort((ids, -sims))
    return [Hit(int(i), float(s)) for i, s in zip(ids[order], sims[order], strict=True)]


class _Exact:
    """Dense matrix of live vectors; removal swaps the last row into the hole."""

    kind = "exact"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.ids = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, dim), dtype=np.float32)
        self.pos: dict[int, int] = {}
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def _reserve(self, extra: int) -> None:
        need = self.size + extra
        if need <= self.ids.size:
            return
        cap = max(need, 2 * self.ids.size, 64)
        ids = np.zeros(cap, dtype=np.int64)
        matrix = np.zeros((cap, self.dim), dtype=np.float32)
        ids[: self.size] = self.ids[: self.size]
        matrix[: self.size] = self.matrix[: self.size]
        self.ids, self.matrix = ids, matrix

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._reserve(ids.size)
        for face_id, vec in zip(ids.tolist(), vectors, strict=True):
            row = self.pos.get(face_id)
            if row is None:
                row = self.size
                self.size += 1
                self.pos[face_id] = row
                self.ids[row] = face_id
            self.matrix[row] = vec

    def remove(self, ids: Iterable[int]) -> int:
        removed = 0
        for face_id in ids:
            row = self.pos.pop(int(face_id), None)
            if row is None:
                continue
            last = self.size - 1
            if row != last:
                moved = int(self.ids[last])
                self.ids[row] = moved
                self.matrix[row] = self.matrix[last]
                self.pos[moved] = row
            self.size -= 1
            removed += 1
        return removed

    def live(self) -> tuple[np.ndarray, np.ndarray]:
        return self.ids[: self.size].copy(), self.matrix[: self.size].copy()

    def search(self, queries: np.ndarray, k: int | None, min_similarity: float | None) -> list[list[Hit]]:
        ids = self.ids[: self.size]
        sims = queries @ self.matrix[: self.size].T
        return [_top(ids, row, k, min_similarity) for row in sims]


class _Hnsw:
    """hnswlib graph on inner product (= cosine for unit vectors); removal marks deleted."""

    kind = "hnsw"

    def __init__(self, dim: int, params: HnswParams, capacity: int = 1024) -> None:
        import hnswlib

        self.dim = dim
        self.params = params
        self.index = hnswlib.Index(space="ip", dim=dim)
        self.index.init_index(
            max_elements=max(capacity, 16),
            ef_construction=params.ef_construction,
            M=params.m,
            allow_replace_deleted=True,
        )
        self.index.set_ef(params.ef_search)
        self.index.set_num_threads(1)
        self.live_ids: set[int] = set()
        self.deleted: set[int] = set()

    def __len__(self) -> int:
        return len(self.live_ids)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        revived = [i for i in ids.tolist() if i in self.deleted]
        for face_id in revived:  # an id coming back: un-delete, then add_items updates its vector
            self.index.unmark_deleted(face_id)
            self.deleted.discard(face_id)
        fresh = sum(1 for i in ids.tolist() if i not in self.live_ids and i not in revived)
        need = self.index.element_count + fresh
        if need > self.index.max_elements:
            self.index.resize_index(max(need, 2 * self.index.max_elements))
        # Existing labels are updated in place; new ones may reuse the slots of deleted ones.
        # Bulk loads use every core (we hold the write lock); -1 would mean set_num_threads' 1.
        threads = _BULK_THREADS if ids.size >= 1000 else 1
        self.index.add_items(vectors, ids.astype(np.uint64), num_threads=threads, replace_deleted=False)
        self.live_ids.update(ids.tolist())

    def remove(self, ids: Iterable[int]) -> int:
        removed = 0
        for face_id in ids:
            face_id = int(face_id)
            if face_id in self.live_ids:
                self.index.mark_deleted(face_id)
                self.live_ids.discard(face_id)
                self.deleted.add(face_id)
                removed += 1
        return removed

    def live(self) -> tuple[np.ndarray, np.ndarray]:
        ids = np.fromiter(sorted(self.live_ids), dtype=np.int64, count=len(self.live_ids))
        if not ids.size:
            return ids, np.zeros((0, self.dim), dtype=np.float32)
        return ids, np.asarray(self.index.get_items(ids.astype(np.uint64)), dtype=np.float32)

    def _query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self.live_ids))
        try:
            labels, distances = self.index.knn_query(queries, k=k, num_threads=1)
        except RuntimeError:
            # hnswlib cannot always return k results when k nears the number of live faces (deleted
            # ones cut paths in the graph); the answer is then small enough to compute exactly.
            ids, vectors = self.live()
            sims = queries @ vectors.T
            order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
            return ids[order], np.take_along_axis(sims, order, axis=1).astype(np.float32)
        return labels.astype(np.int64), (1.0 - distances).astype(np.float32)

    def search(self, queries: np.ndarray, k: int | None, min_similarity: float | None) -> list[list[Hit]]:
        if not self.live_ids:
            return [[] for _ in queries]
        if k is not None:
            labels, sims = self._query(queries, k)
            return [_top(lab, sim, k, min_similarity) for lab, sim in zip(labels, sims, strict=True)]
        # Everything above the threshold: widen k until the worst hit falls below it (or all seen).
        results = []
        for query in queries:
            want = 64
            while True:
                labels, sims = self._query(query[None, :], want)
                if sims[0, -1] < min_similarity or want >= len(self.live_ids):  # type: ignore[operator]
                    break
                want *= 4
            results.append(_top(labels[0], sims[0], None, min_similarity))
        return results


class FaceIndex:
    """One user's faces: add, remove, search; exact below `exact_limit`, HNSW from there on.

    Vectors are L2-normalised on the way in, so similarity is cosine (the metric the embedder's
    thresholds in shared/embed.py are calibrated in). Ids are face row ids (non-negative ints).
    """

    def __init__(
        self,
        dim: int,
        model: str = "dlib_resnet",
        *,
        exact_limit: int = DEFAULT_EXACT_LIMIT,
        params: HnswParams | None = None,
    ) -> None:
        if dim < 1:
            raise FaceIndexError("Embedding dimension must be positive.")
        self.dim = dim
        self.model = model
        self.exact_limit = exact_limit
        self.params = params or HnswParams()
        self._backend: _Exact | _Hnsw = _Exact(dim)
        self._lock = _RWLock()
        self._digest = 0

    @classmethod
    def build(
        cls,
        ids: Iterable[int] | np.ndarray,
        vectors: np.ndarray,
        model: str = "dlib_resnet",
        *,
        exact_limit: int = DEFAULT_EXACT_LIMIT,
        params: HnswParams | None = None,
    ) -> FaceIndex:
        """A new index over a whole embedding set (the usual way to fill one from the database)."""
        dim = int(np.shape(vectors)[-1]) if np.ndim(vectors) == 2 else 0
        index = cls(dim, model, exact_limit=exact_limit, params=params)
        index.add(ids, vectors)
        return index

    # -- state ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._backend)

    def __contains__(self, face_id: object) -> bool:
        if not isinstance(face_id, int | np.integer):
            return False
        backend = self._backend
        return int(face_id) in (backend.pos if isinstance(backend, _Exact) else backend.live_ids)

    @property
    def approximate(self) -> bool:
        """True once the index has switched to HNSW."""
        return isinstance(self._backend, _Hnsw)

    @property
    def fingerprint(self) -> str:
        """Fingerprint of the faces in the index (compare with `fingerprint()` of the database's)."""
        return _format_fingerprint(self.model, self.dim, len(self), self._digest)

    def is_current(self, ids: Iterable[int] | np.ndarray) -> bool:
        """Whether this index holds exactly the face ids given (by fingerprint)."""
        return fingerprint(ids, self.model, self.dim) == self.fingerprint

    # -- changes -------------------------------------------------------------------------------
    def add(self, ids: Iterable[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Add faces, or replace the vectors of ids already present."""
        ids = _as_ids(ids)
        vectors = _as_vectors(vectors, self.dim, ids.size)
        if not ids.size:
            return
        with self._lock.write():
            backend = self._backend
            present = backend.pos if isinstance(backend, _Exact) else backend.live_ids
            new = np.fromiter((i for i in ids.tolist() if i not in present), dtype=np.int64)
            if isinstance(backend, _Exact) and len(backend) + new.size > self.exact_limit:
                self._backend = self._to_hnsw(backend, len(backend) + new.size)
            self._backend.add(ids, vectors)
            self._digest = (self._digest + _id_hash(new)) & _MASK64

    def remove(self, ids: Iterable[int] | np.ndarray) -> int:
        """Remove faces by id (unknown ids are ignored); returns how many were removed."""
        ids = np.unique(np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64))
        with self._lock.write():
            backend = self._backend
            present = backend.pos if isinstance(backend, _Exact) else backend.live_ids
            gone = np.fromiter((i for i in ids.tolist() if i in present), dtype=np.int64)
            removed = backend.remove(gone.tolist())
            self._digest = (self._digest - _id_hash(gone)) & _MASK64
            # Hysteresis: fall back to exact only well below the limit, so add/remove at the edge
            # does not rebuild the graph each time.
            if isinstance(backend, _Hnsw) and len(backend) < self.exact_limit // 2:
                exact = _Exact(self.dim)
                exact.add(*backend.live())
                self._backend = exact
        return removed

    def _to_hnsw(self, exact: _Exact, capacity: int) -> _Hnsw:
        hnsw = _Hnsw(self.dim, self.params, capacity=max(capacity, 2 * len(exact)))
        ids, vectors = exact.live()
        if ids.size:
            hnsw.index.add_items(vectors, ids.astype(np.uint64), num_threads=_BULK_THREADS)
            hnsw.live_ids.update(ids.tolist())
        return hnsw

    # -- search --------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int | None = 10, min_similarity: float | None = None) -> list[Hit]:
        """Faces most similar to one query embedding, best first.

        `k=None` returns every face at or above `min_similarity` (then required); with both, at most
        k faces that also pass the threshold.
        """
        return self.search_many(np.asarray(query, dtype=np.float32)[None, :], k, min_similarity)[0]

    def search_many(
        self, queries: np.ndarray, k: int | None = 10, min_similarity: float | None = None
    ) -> list[list[Hit]]:
        """`search` for each row of `queries` (N, dim)."""
        if k is None and min_similarity is None:
            raise FaceIndexError("Give k, min_similarity or both: an unbounded search returns everything.")
        if k is not None and k < 1:
            raise FaceIndexError("k must be at least 1.")
        queries = _as_vectors(queries, self.dim)
        with self._lock.read():
            if not len(self._backend):
                return [[] for _ in range(queries.shape[0])]
            return self._backend.search(queries, k, min_similarity)

    def ids(self) -> np.ndarray:
        """Sorted ids of the faces in the index."""
        with self._lock.read():
            backend = self._backend
            live = backend.pos if isinstance(backend, _Exact) else backend.live_ids
            return np.sort(np.fromiter(live, dtype=np.int64, count=len(live)))

    def embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of every face in the index (copies)."""
        with self._lock.read():
            return self._backend.live()

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the index and its manifest; crash-safe (data first, manifest swapped in last)."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        tag = uuid.uuid4().hex[:12]
        with self._lock.read():
            backend = self._backend
            files: dict[str, str] = {}
            if isinstance(backend, _Exact):
                ids, vectors = backend.live()
                files = {"ids": f"ids-{tag}.npy", "vectors": f"vectors-{tag}.npy"}
                np.save(folder / files["ids"], ids)
                np.save(folder / files["vectors"], vectors)
            else:
                ids = np.fromiter(sorted(backend.live_ids), dtype=np.int64, count=len(backend.live_ids))
                files = {"ids": f"ids-{tag}.npy", "graph": f"hnsw-{tag}.bin"}
                np.save(folder / files["ids"], ids)
                backend.index.save_index(str(folder / files["graph"]))
            manifest = {
                "format_version": FORMAT_VERSION,
                "kind": backend.kind,
                "model": self.model,
                "dim": self.dim,
                "count": len(backend),
                "fingerprint": self.fingerprint,
                "exact_limit": self.exact_limit,
                "params": asdict(self.params),
                "files": files,
            }
        tmp = folder / f".{MANIFEST}.{tag}.tmp"
        tmp.write_text(json.dumps(manifest, indent=1))
        os.replace(tmp, folder / MANIFEST)
        for stale in folder.iterdir():  # files of earlier saves
            if stale.name != MANIFEST and stale.name not in files.values():
                stale.unlink(missing_ok=True)
        return folder

    @classmethod
    def load(
        cls, directory: str | os.PathLike[str], expected_fingerprint: str | None = None
    ) -> FaceIndex | None:
        """The saved index, or None when absent, unreadable, of another format, or stale."""
        folder = Path(directory)
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
            if manifest.get("format_version") != FORMAT_VERSION:
                return None
            if expected_fingerprint is not None and manifest["fingerprint"] != expected_fingerprint:
                return None
            index = cls(
                int(manifest["dim"]),
                str(manifest["model"]),
                exact_limit=int(manifest["exact_limit"]),
                params=HnswParams(**manifest["params"]),
            )
            files = manifest["files"]
            ids = np.load(folder / files["ids"], allow_pickle=False).astype(np.int64)
            if manifest["kind"] == "exact":
                vectors = np.load(folder / files["vectors"], allow_pickle=False)
                exact = _Exact(index.dim)
                if ids.size:
                    exact.add(ids, np.asarray(vectors, dtype=np.float32))
                index._backend = exact
            else:
                index._backend = cls._load_hnsw(folder / files["graph"], ids, index)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError):
            return None
        index._digest = _id_hash(ids)
        if index.fingerprint != manifest["fingerprint"]:
            return None  # data files do not match their manifest
        return index

    @staticmethod
    def _load_hnsw(path: Path, ids: np.ndarray, index: FaceIndex) -> _Hnsw:
        import hnswlib

        hnsw = _Hnsw.__new__(_Hnsw)
        hnsw.dim, hnsw.params = index.dim, index.params
        hnsw.index = hnswlib.Index(space="ip", dim=index.dim)
        hnsw.index.load_index(str(path), allow_replace_deleted=True)
        hnsw.index.set_ef(index.params.ef_search)
        hnsw.index.set_num_threads(1)
        hnsw.live_ids = set(ids.tolist())
        hnsw.deleted = {int(i) for i in hnsw.index.get_ids_list()} - hnsw.live_ids
        return hnsw


Loader = Callable[[], tuple[np.ndarray, np.ndarray]]
SubsetLoader = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


class IndexCache:
    """Indexes of many users: in memory, saved under `root/<owner>/`, rebuilt when stale.

    `get(owner, current_ids, load)` returns an index that holds exactly `current_ids` (the face
    ids the database has for that owner now, cheap to query): the one in memory if current, else the
    one on disk if current, else a fresh build from `load()` -> (ids, vectors), which is then saved.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        model: str = "dlib_resnet",
        dim: int = 128,
        *,
        exact_limit: int = DEFAULT_EXACT_LIMIT,
        params: HnswParams | None = None,
    ) -> None:
        self.root = Path(root)
        self.model = model
        self.dim = dim
        self.exact_limit = exact_limit
        self.params = params or HnswParams()
        self._indexes: dict[int, FaceIndex] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    def folder(self, owner_id: int) -> Path:
        return self.root / str(int(owner_id))

    def _owner_lock(self, owner_id: int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(owner_id, threading.Lock())

    def get(
        self,
        owner_id: int,
        current_ids: Collection[int] | np.ndarray,
        load: Loader,
        load_some: SubsetLoader | None = None,
    ) -> FaceIndex:
        """A current index for this owner (see the class docstring).

        With `load_some(ids) -> (ids, vectors)`, an index that is only a little behind (in memory
        or on disk) catches up by adding just the missing faces and removing the gone ones,
        instead of a full rebuild; more than half the faces missing still means a rebuild.
        """
        current = np.asarray(
            list(current_ids) if not isinstance(current_ids, np.ndarray) else current_ids, dtype=np.int64
        ).ravel()
        expected = fingerprint(current, self.model, self.dim)
        with self._owner_lock(owner_id):
            index = self._indexes.get(owner_id)
            if index is not None and index.fingerprint == expected:
                return index
            if index is None:
                index = FaceIndex.load(self.folder(owner_id), None if load_some else expected)
                if index is not None and index.model != self.model:
                    index = None
            if index is not None and index.fingerprint != expected:
                index = self._catch_up(index, current, expected, load_some) if load_some else None
                if index is not None:
                    index.save(self.folder(owner_id))
            if index is None:
                ids, vectors = load()
                vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
                index = FaceIndex.build(
                    ids, vectors, self.model, exact_limit=self.exact_limit, params=self.params
                )
                index.save(self.folder(owner_id))
            self._indexes[owner_id] = index
            return index

    @staticmethod
    def _catch_up(
        index: FaceIndex, current: np.ndarray, expected: str, load_some: SubsetLoader
    ) -> FaceIndex | None:
        have = index.ids()
        missing = np.setdiff1d(current, have)
        if missing.size * 2 > max(current.size, 1):
            return None
        index.remove(np.setdiff1d(have, current))
        if missing.size:
            ids, vectors = load_some(missing)
            index.add(ids, np.asarray(vectors, dtype=np.float32).reshape(-1, index.dim))
        return index if index.fingerprint == expected else None

    def add(
        self, owner_id: int, ids: Iterable[int] | np.ndarray, vectors: np.ndarray, *, persist: bool = True
    ) -> None:
        """Add faces to a loaded index (a no-op when none is loaded: the next `get` rebuilds)."""
        with self._owner_lock(owner_id):
            index = self._indexes.get(owner_id)
            if index is not None:
                index.add(ids, vectors)
                if persist:
                    index.save(self.folder(owner_id))

    def remove(self, owner_id: int, ids: Iterable[int] | np.ndarray, *, persist: bool = True) -> None:
        """Remove faces from a loaded index (a no-op when none is loaded)."""
        with self._owner_lock(owner_id):
            index = self._indexes.get(owner_id)
            if index is not None:
                index.remove(ids)
                if persist:
                    index.save(self.folder(owner_id))

    def drop(self, owner_id: int) -> None:
        """Forget an owner's index in memory and on disk (e.g. account deleted)."""
        import shutil

        with self._owner_lock(owner_id):
            self._indexes.pop(owner_id, None)
            shutil.rmtree(self.folder(owner_id), ignore_errors=True)

    def stats(self) -> dict[str, Any]:
        """What is loaded, for diagnostics pages."""
        return {str(k): {"faces": len(v), "approximate": v.approximate} for k, v in self._indexes.items()}
