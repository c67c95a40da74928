"""The album's face indexes: one `server.album.ann.IndexCache` per app, fed from the database.

Embeddings live in `album_faces`; the index (exact below ALBUM_INDEX_EXACT_LIMIT faces, HNSW above)
is a cache kept in memory and under `<instance>/album-index/<owner>/`; when the set of face ids in
the database differs from the one it was built from, it catches up with the difference (or is
rebuilt, when most of it is missing). One owner's index only ever holds that owner's faces, so a
search cannot reach anyone else's photos.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.album.ann import FaceIndex, HnswParams, IndexCache
from server.db.models import AlbumFace
from server.faces.embeddings import DTYPE
from server.faces.model import gallery_model
from server.settings import settings_of
from shared.embed import require_embedder

EXTENSION_KEY = "visage.album_index"
_lock = threading.Lock()
_ID_CHUNK = 1000  # ids per IN (...) list: well under SQLite's bound-parameter limit


def model_of(app: Flask) -> str:
    """The embedder id (`name@version`) the album embeds with: the server's GALLERY_MODEL, one for all.

    Stored with every face, so faces of another embedder (or version) are never mixed into an index.
    """
    return gallery_model(app)


def index_cache(app: Flask) -> IndexCache:
    cache = app.extensions.get(EXTENSION_KEY)
    if cache is None:
        with _lock:
            cache = app.extensions.get(EXTENSION_KEY)
            if cache is None:
                model = model_of(app)
                album = settings_of(app).album
                cache = IndexCache(
                    Path(app.instance_path) / "album-index",
                    model,
                    int(require_embedder(model)["dim"]),
                    exact_limit=album.index_exact_limit,
                    params=HnswParams(
                        m=album.hnsw_m,
                        ef_construction=album.hnsw_ef_construction,
                        ef_search=album.hnsw_ef_search,
                    ),
                )
                app.extensions[EXTENSION_KEY] = cache
    return cache


def _rows_to_arrays(rows, model: str) -> tuple[np.ndarray, np.ndarray]:
    dim = int(require_embedder(model)["dim"])
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    if not rows:
        return ids, np.zeros((0, dim), dtype=np.float32)
    vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype=DTYPE).reshape(len(rows), dim)
    return ids, vectors.astype(np.float32)


def owner_embeddings(session: Session, owner_id: int, model: str) -> tuple[np.ndarray, np.ndarray]:
    """(face ids, float32 embeddings) of all the owner's faces from `model`, by id."""
    rows = session.execute(
        select(AlbumFace.id, AlbumFace.embedding)
        .where(AlbumFace.owner_id == owner_id, AlbumFace.model == model)
        .order_by(AlbumFace.id)
    ).all()
    return _rows_to_arrays(rows, model)


def some_embeddings(
    session: Session, owner_id: int, model: str, face_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(face ids, embeddings) of just these faces of the owner: what an index that is a little
    behind needs to catch up, instead of reading the whole library again."""
    rows = []
    wanted = [int(i) for i in np.asarray(face_ids).ravel().tolist()]
    for start in range(0, len(wanted), _ID_CHUNK):
        rows += session.execute(
            select(AlbumFace.id, AlbumFace.embedding)
            .where(
                AlbumFace.owner_id == owner_id,
                AlbumFace.model == model,
                AlbumFace.id.in_(wanted[start : start + _ID_CHUNK]),
            )
            .order_by(AlbumFace.id)
        ).all()
    return _rows_to_arrays(rows, model)


def owner_index(app: Flask, session: Session, owner_id: int) -> FaceIndex:
    """A current index of the owner's faces. One that is a little behind (say, after an upload)
    catches up with just the new and deleted faces; a full rebuild from the database happens only
    when none is at hand or most of it is missing (IndexCache.get)."""
    model = model_of(app)
    current = session.scalars(
        select(AlbumFace.id).where(AlbumFace.owner_id == owner_id, AlbumFace.model == model)
    ).all()
    return index_cache(app).get(
        owner_id,
        current,
        lambda: owner_embeddings(session, owner_id, model),
        load_some=lambda missing: some_embeddings(session, owner_id, model, missing),
    )


def forget_owner(app: Flask, owner_id: int) -> None:
    index_cache(app).drop(owner_id)
