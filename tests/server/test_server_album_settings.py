"""The album's index knobs are operator settings: a large library can ask for a denser graph."""

from __future__ import annotations

from server.album.ann import HnswParams
from server.album.faceindex import index_cache


def test_hnsw_graph_follows_the_settings(app):
    assert index_cache(app).params == HnswParams()  # defaults: cheap rebuilds on a small server


def test_a_denser_graph_can_be_configured(tmp_path):
    from server.app import create_app

    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'v.db'}",
            "TESTING": True,
            "SECRET_KEY": "x",
            "ALBUM_HNSW_M": "32",  # as an environment variable would give it
            "ALBUM_HNSW_EF_CONSTRUCTION": 200,
            "ALBUM_HNSW_EF_SEARCH": 1024,
        }
    )
    assert index_cache(app).params == HnswParams(m=32, ef_construction=200, ef_search=1024)
