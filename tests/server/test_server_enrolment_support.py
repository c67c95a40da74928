"""Helpers shared by the enrolment tests (no tests here): a known small school, real photos from the
team data folder, zips and uploads."""

from __future__ import annotations

import io
import zipfile
from types import SimpleNamespace

from PIL import Image

from server.db.models import Course, Student
from server.faces.analyzer import EXTENSION_KEY
from tests.conftest import data_path


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def example(name: str) -> bytes:
    """A photo of face_recognition's examples (obama.jpg: one person)."""
    return data_path("face_recognition_examples", "examples", name).read_bytes()


def group_photo() -> bytes:
    """facenet-pytorch's group photo: six people."""
    return data_path("facenet_pytorch_data", "multiface.jpg").read_bytes()


def lfw(person: str, number: int) -> bytes:
    return data_path("lfw_subset_10x10", person, f"{person}_{number:04d}.jpg").read_bytes()


def no_face_photo() -> bytes:
    """A real photo without a face: the left strip of obama.jpg (flag and curtain)."""
    image = Image.open(io.BytesIO(example("obama.jpg"))).crop((0, 0, 250, 1137))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def files(field: str, *named: tuple[str, bytes]) -> dict[str, list[tuple[io.BytesIO, str]]]:
    """Multipart form data: several files under one field."""
    return {field: [(io.BytesIO(data), name) for name, data in named]}


def share_analyzer(app, analyzer) -> None:
    """Give the app the session's FaceAnalyzer (the same class the app would create itself, without
    loading the models again for every test)."""
    app.extensions[EXTENSION_KEY] = analyzer


def seed_school(db, make_user, make_token) -> SimpleNamespace:
    """Ada teaches A101 (student A-1 Ann); Bob teaches B101 (student B-1 Ben)."""
    ada = make_user("instructor", email="ada@school.example")
    bob = make_user("instructor", email="bob@school.example")
    ann = Student(student_number="A-1", name="Ann")
    ben = Student(student_number="B-1", name="Ben")
    a101 = Course(code="A101", title="Ada's course", instructor_id=ada.id, students=[ann])
    b101 = Course(code="B101", title="Bob's course", instructor_id=bob.id, students=[ben])
    db.add_all([a101, b101])
    db.commit()
    return SimpleNamespace(
        ada=ada,
        bob=bob,
        ada_token=make_token(ada),
        bob_token=make_token(bob),
        a101=a101.id,
        b101=b101.id,
        ann=ann.id,
        ben=ben.id,
    )
