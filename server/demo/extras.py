"""The demo's optional parts: background jobs, an album of sample photos, deepfake samples.

Each part is used only when its package is installed in this tree (they are built alongside the
demo); a missing part, or missing sample files, is skipped with one log line, so `visage demo`
keeps working without it. Seeding is idempotent: photos already in the album are duplicates (by
sha256) and are not queued again; a sample already checked is not submitted again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from server.db import get_db
from server.db.enums import Role
from server.demo.seed import demo_user
from server.uploads.files import Upload

log = logging.getLogger("visage.demo")

# Album samples, relative to the team data folder: four people from LFW (six photos each) and two
# group photos of the same six people, so a search by a key photo has something to find.
ALBUM_PEOPLE = ("Colin_Powell", "George_W_Bush", "Tony_Blair", "Hugo_Chavez")
ALBUM_PHOTOS = (
    "insightface_sample_images/t1.jpg",
    "facenet_pytorch_data/multiface.jpg",
)
ALBUM_NAME = "Demo samples"
# Deepfake samples, chosen to show what the model really does (bench/bench_deepfake.py, model
# sbi-effnetlite0-cpu-1e6c1e34): a real DFDC frame it calls real (0.05), a fake DFDC face crop it
# catches (0.70) and a fake DFDC clip it misses (0.29, "likely real").
DEEPFAKE_SAMPLES = (
    "deepfake_dfdc_ffpp_samples/dfdc_kaggle_sample/videos/abofeumbvv.mp4",
    "deepfake_dfdc_ffpp_samples/dfdc_notebook_samples/lynaeydofd_fr0.jpg",
    "deepfake_dfdc_ffpp_samples/dfdc_kaggle_sample/face_crops/fake/aapnvogymq-005-01.png",
)
DEEPFAKE_TRUTH = {"abofeumbvv.mp4": "FAKE", "lynaeydofd_fr0.jpg": "REAL", "aapnvogymq-005-01.png": "FAKE"}


def available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def start_jobs(app: Flask) -> bool:
    """The in-process job runner (thread pool), when server.jobs exists."""
    if not available("server.jobs"):
        log.info("background jobs (server.jobs) not installed: album indexing and deepfake checks skipped")
        return False
    from server import jobs

    jobs.start(app, force=True)
    return True


def stop_jobs(app: Flask) -> None:
    if available("server.jobs"):
        from server import jobs

        jobs.stop(app)


def album_files(data: Path) -> list[Path]:
    people = [
        data / "lfw_subset_10x10" / name / f"{name}_{n:04d}.jpg" for name in ALBUM_PEOPLE for n in range(1, 7)
    ]
    return [path for path in [*people, *(data / p for p in ALBUM_PHOTOS)] if path.is_file()]


def seed_album(app: Flask, data: Path) -> str | None:
    """Sample photos in the album user's library, queued for indexing; a banner line, or None."""
    if not available("server.album.service"):
        log.info("album (server.album) not installed: no sample album")
        return None
    files = album_files(data)
    if not files:
        log.info("no album sample photos under %s: no sample album", data)
        return None
    from server.album import service
    from server.db.models import Album

    with app.app_context(), get_db(app).session() as session:
        owner = demo_user(session, Role.ALBUM_USER)
        assert owner is not None
        album = session.scalars(
            select(Album).where(Album.owner_id == owner.id, Album.name == ALBUM_NAME)
        ).one_or_none()
        if album is None:
            album = Album(owner_id=owner.id, name=ALBUM_NAME)
            session.add(album)
            session.flush()
        uploads = [Upload(path.name, path.read_bytes()) for path in files]
        result = service.upload(session, owner, uploads, [], album)
        try:
            session.commit()
        except BaseException:
            result.written.discard()
            raise
        stored = len(result.of("stored"))
    log.info("album: %d sample photos (%d new, queued for indexing)", len(files), stored)
    return f"Album:      {len(files)} sample photos in '{ALBUM_NAME}' (search by a key photo once indexed)"


def seed_deepfake(app: Flask, data: Path) -> str | None:
    """Deepfake samples queued for checking by the album user; a banner line, or None."""
    if not available("server.deepfake.service"):
        log.info("deepfake check (server.deepfake) not installed: no sample check")
        return None
    files = [data / p for p in DEEPFAKE_SAMPLES if (data / p).is_file()]
    if not files:
        log.info("no deepfake samples under %s: no sample check", data)
        return None
    from server.db.models import DeepfakeCheck
    from server.deepfake import service

    with app.app_context(), get_db(app).session() as session:
        owner = demo_user(session, Role.ALBUM_USER)
        assert owner is not None
        done = set(session.scalars(select(DeepfakeCheck.sha256).where(DeepfakeCheck.owner_id == owner.id)))
        uploads = [Upload(path.name, path.read_bytes()) for path in files]
        fresh = [u for u in uploads if hashlib.sha256(u.data).hexdigest() not in done]
        if fresh:
            checks, refused = service.submit_checks(session, owner.id, fresh)
            session.commit()
            for refusal in refused:
                log.warning("deepfake sample refused: %s", refusal.reason)
            log.info("deepfake: %d sample(s) queued", len(checks))
    named = ", ".join(f"{p.name} ({DEEPFAKE_TRUTH.get(p.name, '?')})" for p in files)
    line = f"Deepfake:   {len(files)} labelled samples checked for the album user: {named}"
    line += "; the model misses some (docs/deepfake.md)"
    if not classifier_installed():
        line += "; no classifier in models/ yet, so the checks will fail with that reason (docs/deepfake.md)"
    return line


def classifier_installed() -> bool:
    from shared.model_registry import ModelRegistry

    registry = ModelRegistry()
    return registry.has("deepfake_sbi") or (registry.models_dir / "deepfake_sbi.onnx").is_file()


def seed_extras(app: Flask, data: Path) -> list[str]:
    """Start the job runner, then queue the album and deepfake samples; returns banner lines."""
    if not start_jobs(app):
        return []
    notes = []
    for seed in (seed_album, seed_deepfake):
        try:
            line = seed(app, data)
        except Exception:  # an optional part's failure must not stop the demo
            log.exception("%s failed; the demo runs without it", seed.__name__)
            continue
        if line:
            notes.append(line)
    return notes
