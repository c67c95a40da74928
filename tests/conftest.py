"""Shared fixtures: the team data folder beside the repository and the exported models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def data_path(*parts: str) -> Path:
    """A path under ../shared/data; skip (or fail under CI) when the folder is absent."""
    if not DATA.is_dir():
        message = f"team data folder {DATA} is absent (it sits beside the repository)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    path = DATA.joinpath(*parts)
    assert path.exists(), f"{path} is missing from the team data folder"
    return path


@pytest.fixture(scope="session")
def registry():
    """The project's models/, exported on first use (what `scripts/setup.sh` also does)."""
    from shared.registry import ModelRegistry

    reg = ModelRegistry()
    needed = ("mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet", "dlib_resnet")
    if not all(reg.has(name) for name in needed):
        from shared.export.build import build_models
        from shared.samples import demo_photos

        build_models(reg.models_dir, demo_photos())
    return reg


@pytest.fixture(scope="session")
def analyzer(registry):
    from shared.analysis import FaceAnalyzer

    return FaceAnalyzer(registry).prepare()
