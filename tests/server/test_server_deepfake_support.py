"""Helpers shared by the deepfake server tests (no tests here): users, uploads of real media, running
the scoring jobs, and what is stored."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from server.deepfake.engine import EXTENSION_KEY
from tests.conftest import data_path
from tests.server.test_server_enrolment_support import bearer
from tests.server.uploads_support import run_jobs, stored_files  # noqa: F401  (re-exported)

__all__ = ["bearer"]
SAMPLES = "deepfake_dfdc_ffpp_samples"
FRAMES = 3  # sampled per video in these tests (the server default is 32)


@pytest.fixture(scope="session")
def deepfake_pipeline(registry):
    """One pipeline for the whole session (the class the app builds itself, without reloading models)."""
    from shared.deepfake.pipeline import DeepfakePipeline, PipelineConfig

    return DeepfakePipeline.from_registry(registry, PipelineConfig(frames=FRAMES))


def share_pipeline(app, pipeline) -> None:
    app.extensions[EXTENSION_KEY] = pipeline


def sample(*parts: str) -> tuple[str, bytes]:
    path = data_path(SAMPLES, *parts)
    return path.name, path.read_bytes()


def real_frame() -> tuple[str, bytes]:
    return sample("dfdc_notebook_samples", "lynaeydofd_fr0.jpg")


def fake_video() -> tuple[str, bytes]:
    return sample("dfdc_kaggle_sample", "videos", "abqwwspghj.mp4")


def users(make_user, make_token) -> SimpleNamespace:
    """Two album users (each with a bearer token), an administrator and a student."""
    alice = make_user("album_user", email="alice@example.org")
    bob = make_user("album_user", email="bob@example.org")
    admin = make_user("admin", email="root@example.org")
    student = make_user("student", email="stu@example.org")
    return SimpleNamespace(
        alice=alice,
        bob=bob,
        admin=admin,
        student=student,
        alice_token=make_token(alice),
        bob_token=make_token(bob),
        admin_token=make_token(admin),
        student_token=make_token(student),
    )


def upload(client, token: str, *named: tuple[str, bytes]):
    data = {"file": [(io.BytesIO(payload), name) for name, payload in named]}
    return client.post("/api/v1/deepfake/checks", data=data, headers=bearer(token))
