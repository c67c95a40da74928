"""Unknown faces with real embeddings on top of attendance_seed's classroom (no tests here).

Until the edge sends them, the best crop and the embedding of each unknown track are written straight
into `sightings.thumbnail` / `.embedding` / `.embedding_model`, as ingest stores them. Faces are real
LFW photos (../shared/data/lfw_subset_10x10) embedded by the real face core (SFace):

===========  ==================================  ===========================================
who          enrolled (FaceTemplate)             unknown tracks
===========  ==================================  ===========================================
Ada (S1)     Colin_Powell_0001                   session 1: x1 (Colin_Powell_0002, crop passes the
                                                 enrolment gate), x2 (Colin_Powell_0003)
Ben (S2)     Tony_Blair_0002
Cho (S3)     George_W_Bush_0002
stranger                                         session 1: x3 (Vladimir_Putin_0002);
                                                 a week later: y1 (Vladimir_Putin_0003)
===========  ==================================  ===========================================

So: x1 and x2 are one person whom the roster ranks Ada first for; x3 and y1 are one stranger across
two sessions. Colin_Powell_0004 is blurred (fails the strict enrolment gate): `BLURRED` is its crop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import numpy as np
from sqlalchemy import select

from server.db.enums import FaceKind
from server.db.models import Device, FaceTemplate, LectureSession, Sighting, Student
from server.faces import embeddings
from shared.embed import embedder_id
from tests.conftest import centred_face, data_path
from tests.server.attendance_seed import START, as_stored, at, series

PHOTOS = (
    "Colin_Powell_0001",
    "Colin_Powell_0002",
    "Colin_Powell_0003",
    "Colin_Powell_0004",
    "Tony_Blair_0002",
    "George_W_Bush_0002",
    "Vladimir_Putin_0002",
    "Vladimir_Putin_0003",
    "Vladimir_Putin_0004",
)
MODEL = "sface"


@dataclass(frozen=True)
class Face:
    name: str
    jpeg: bytes  # the LFW photo itself, standing in for a device's crop
    vector: np.ndarray


def photo(name: str) -> bytes:
    person = name.rsplit("_", 1)[0]
    return data_path("lfw_subset_10x10", person, f"{name}.jpg").read_bytes()


def embed_photos(analyzer) -> dict[str, Face]:
    """The centred (main) face of each photo of PHOTOS, embedded with the real face core."""
    from shared.media import decode_image

    faces = {}
    for name in PHOTOS:
        data = photo(name)
        image = decode_image(data, name=name)
        main = centred_face(analyzer.get(image), image)
        faces[name] = Face(name, data, np.asarray(main.embedding, dtype=np.float32))
    return faces


def enrol(db, student: Student, face: Face) -> None:
    """One enrolment photo and the template, as server.enrolment stores them."""
    model = embedder_id(MODEL)
    for kind in (FaceKind.PHOTO, FaceKind.TEMPLATE):
        db.add(
            FaceTemplate(
                student_id=student.id,
                kind=kind,
                purpose="attendance-enrolment",
                embedding=embeddings.to_bytes(face.vector),
                dim=int(face.vector.shape[0]),
                model=model,
                source_sha256=f"seed-{face.name}" if kind == FaceKind.PHOTO else None,
            )
        )


def unknown_track(
    db, lecture_id: int, device_id: int, track: str, face: Face, first: str, last: str, day=START
):
    """Sightings every two minutes; the middle one carries the best view (crop + embedding)."""
    times = series(first, last) if day == START else [t + (day - START) for t in series(first, last)]
    best = len(times) // 2
    rows = []
    for i, t in enumerate(times):
        rows.append(
            Sighting(
                event_id=f"unk-{lecture_id}-{track}-{t:%d%H%M}",
                device_id=device_id,
                session_id=lecture_id,
                student_id=None,
                track_id=track,
                captured_at=t,
                received_at=t + timedelta(seconds=2),
                score=0.3 + (i % 3) / 100,
                quality=0.95 if i == best else 0.6,
                thumbnail=face.jpeg if i == best else None,
                embedding=embeddings.to_bytes(face.vector) if i == best else None,
                embedding_model=MODEL if i == best else None,
            )
        )
    db.add_all(rows)
    return rows[best]


def add_unknown_faces(db, world: SimpleNamespace, faces: dict[str, Face]) -> SimpleNamespace:
    """Enrol S1-S3 and add the unknown tracks of the table above (committed); returns their sightings."""
    students = {
        s.id: s for s in db.scalars(select(Student).where(Student.id.in_([world.s1, world.s2, world.s3])))
    }
    enrol(db, students[world.s1], faces["Colin_Powell_0001"])
    enrol(db, students[world.s2], faces["Tony_Blair_0002"])
    enrol(db, students[world.s3], faces["George_W_Bush_0002"])
    device = db.get(Device, world.device)
    later = db.get(LectureSession, world.later_session)
    x1 = unknown_track(db, world.session, device.id, "x1", faces["Colin_Powell_0002"], "09:10", "09:20")
    x2 = unknown_track(db, world.session, device.id, "x2", faces["Colin_Powell_0003"], "09:30", "09:40")
    x3 = unknown_track(db, world.session, device.id, "x3", faces["Vladimir_Putin_0002"], "10:00", "10:10")
    y1 = unknown_track(
        db, later.id, device.id, "y1", faces["Vladimir_Putin_0003"], "09:15", "09:25", day=later.starts_at
    )
    db.commit()
    as_stored(db)  # what the server does with stored sightings: sessions list their unknown faces
    return SimpleNamespace(x1=x1.id, x2=x2.id, x3=x3.id, y1=y1.id, at=at)
