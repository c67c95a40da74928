"""Helpers shared by the album tests (no tests here): album users, real photos from the team data
folder, uploads, running the indexing job, and what is stored."""

from __future__ import annotations

import csv
import io
import zipfile
from types import SimpleNamespace

from sqlalchemy import func, select

from server.db.models import AlbumFace, AlbumPhoto
from tests.conftest import data_path
from tests.server.test_server_enrolment_support import bearer, share_analyzer
from tests.server.uploads_support import run_jobs, stored_files  # noqa: F401  (re-exported)

__all__ = ["bearer", "share_analyzer"]


def lfw(person: str, number: int) -> tuple[str, bytes]:
    name = f"{person}_{number:04d}.jpg"
    return name, data_path("lfw_subset_10x10", person, name).read_bytes()


def deepface_identities() -> dict[str, list[str]]:
    """identity -> file names of deepface's unit dataset (identities_derived.csv)."""
    table = data_path("deepface_unit_dataset", "identities_derived.csv")
    people: dict[str, list[str]] = {}
    with table.open(newline="") as handle:
        for row in csv.DictReader(handle):
            people.setdefault(row["identity"], []).append(row["file"])
    return people


def deepface(name: str) -> tuple[str, bytes]:
    return name, data_path("deepface_unit_dataset", name).read_bytes()


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def upload(client, token: str, *named: tuple[str, bytes], field: str = "photos", **form):
    data = {field: [(io.BytesIO(payload), name) for name, payload in named], **form}
    return client.post("/api/v1/album/photos", data=data, headers=bearer(token))


def counts(db) -> tuple[int, int]:
    db.expire_all()
    return (
        db.scalar(select(func.count()).select_from(AlbumPhoto)),
        db.scalar(select(func.count()).select_from(AlbumFace)),
    )


def album_users(make_user, make_token) -> SimpleNamespace:
    """Alice and Bob, album users with tokens; Ivan, an instructor (no album role)."""
    alice = make_user("album_user", email="alice@example.org")
    bob = make_user("album_user", email="bob@example.org")
    ivan = make_user("instructor", email="ivan@example.org")
    return SimpleNamespace(
        alice=alice,
        bob=bob,
        ivan=ivan,
        alice_token=make_token(alice),
        bob_token=make_token(bob),
        ivan_token=make_token(ivan),
    )
