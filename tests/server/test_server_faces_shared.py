"""The server's one face analyzer (server/faces/): loaded once per app even when requests arrive together,
with the embedder GALLERY_MODEL names, and every area that analyses faces asks for that one."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from server.faces import analyzer as faces_analyzer
from server.faces.analyzer import face_analyzer
from server.faces.model import DEFAULT_MODEL, gallery_model
from shared.embed import embedder_id

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def bare_app(tmp_path, registry):
    """An app without a database round-trip: the analyzer needs none (`registry`: the models exist)."""
    from server.app import create_app

    return create_app(
        {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'faces.db'}",
            "TESTING": True,
            "SECRET_KEY": "faces-shared-test",
            "GALLERY_MODEL": "dlib_resnet",
        }
    )


def test_the_analyzer_loads_once_when_requests_arrive_together(bare_app, monkeypatch):
    loads = []
    real_load = faces_analyzer._load_analyzer

    def counted(app):
        loads.append(app)
        return real_load(app)

    monkeypatch.setattr(faces_analyzer, "_load_analyzer", counted)
    start = threading.Barrier(6)
    found = []

    def request_one() -> None:
        start.wait()
        found.append(face_analyzer(bare_app))

    threads = [threading.Thread(target=request_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1
    assert len(found) == 6 and all(one is found[0] for one in found)
    assert face_analyzer(bare_app) is found[0] and len(loads) == 1
    # The embedder is the deployment's GALLERY_MODEL, the one galleries and the album store with.
    assert found[0].embedder_name == "dlib_resnet"
    assert gallery_model(bare_app) == embedder_id("dlib_resnet") != DEFAULT_MODEL


def test_outside_an_app_the_model_is_the_default():
    assert gallery_model() == DEFAULT_MODEL == embedder_id("sface")


def test_every_area_asks_for_the_one_analyzer():
    """No module of the server builds a FaceAnalyzer of its own: only server/faces/analyzer.py does."""
    builders = sorted(
        str(path.relative_to(REPO))
        for path in (REPO / "server").rglob("*.py")
        if "FaceAnalyzer(" in path.read_text(encoding="utf-8")
    )
    assert builders == ["server/faces/analyzer.py"]
