"""The hostile-input soak (issue 14), bounded to a few minutes, on SQLite and MariaDB.

Tools nobody here wrote attack the live application: schemathesis generates requests for every
operation of the served OpenAPI document (as an administrator, an instructor and an album user),
and a corpus of hostile files, generated here, goes to every upload route. The soak fails on any
5xx, on any answer that shows another user's data to an instructor or album user, and on any file
left in storage that no database row names (a partial write). The MQTT side is
`test_server_ingest_poison.py`. The counts are printed at the end and written to
`bench/results/soak-<backend>.json`.

`VISAGE_SOAK_EXAMPLES` (default 8) sets the generated cases per operation and role.
"""

from __future__ import annotations

import io
import json
import os
import struct
import time
import zipfile
import zlib
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from sqlalchemy import select

from server.db.models import Album, AlbumFace, AlbumPhoto, Classroom, Course, DeepfakeCheck, Student
from tests.conftest import REPO

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("VISAGE_SOAK_EXAMPLES", "8"))
# What only the victims' own pages may show; an attacker's 2xx answer containing one is a leak.
MARKERS = ("Zed Crossuser", "B-SECRET-101", "Private Holidays Album")


@pytest.fixture
def world(app, db, make_user, make_token):
    admin = make_user("admin", email="soak-admin@example.org")
    ada = make_user("instructor", email="soak-ada@example.org")
    bob = make_user("instructor", email="soak-bob@example.org")
    owner = make_user("album_user", email="soak-owner@example.org")
    attacker = make_user("album_user", email="soak-attacker@example.org")
    room = Classroom(name="Soak Hall")
    db.add_all(
        [
            room,
            Course(
                code="A-101",
                title="Ada's",
                instructor_id=ada.id,
                students=[Student(student_number="SA1", name="Ann")],
            ),
            Course(
                code="B-SECRET-101",
                title="Bob's",
                instructor_id=bob.id,
                students=[Student(student_number="SB1", name="Zed Crossuser")],
            ),
            Album(owner_id=owner.id, name="Private Holidays Album"),
        ]
    )
    db.commit()

    class Tokens(dict):
        """A fresh token per use: a generated DELETE /tokens/{id} may revoke the one it came with."""

        def __getitem__(self, role: str) -> str:
            return make_token(dict.__getitem__(self, role))

    return Tokens(admin=admin, instructor=ada, album_user=attacker)


def png(width: int, height: int, declared: tuple[int, int] | None = None) -> bytes:
    """A real PNG of `width` x `height` grey pixels; `declared` lies about the size in its header."""
    w, h = declared or (width, height)
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def overlapping_zip(copies: int = 300) -> bytes:
    """Many central-directory entries pointing at one deflated member: inflates `copies` times."""
    one = zipped({"a.jpg": b"\xff\xd8" + bytes(1 << 20)})
    eocd = one.rindex(b"PK\x05\x06")
    central_start = struct.unpack("<I", one[eocd + 16 : eocd + 20])[0]
    entry = one[central_start:eocd]
    entries = b"".join(entry.replace(b"a.jpg", f"{k:05d}".encode()[:5]) for k in range(copies))
    end = bytearray(one[eocd:])
    struct.pack_into("<HHII", end, 8, copies, copies, len(entries), central_start)
    return one[:central_start] + entries + bytes(end)


def hostile_files() -> dict[str, bytes]:
    jpeg_header = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
    return {
        "empty.jpg": b"",
        "truncated.jpg": jpeg_header,
        "text.jpg": b"<script>alert(1)</script>",
        "thin.png": png(1, 4000),
        "wide.png": png(4000, 1),
        "tiny.png": png(2, 2),
        "liar.png": png(8, 8, declared=(60000, 60000)),
        "polyglot.jpg": jpeg_header + zipped({"x.txt": b"x"}),
        "traversal.zip": zipped({"../../evil.jpg": png(64, 64)}),
        "nested.zip": zipped({"inner.zip": zipped({"a.jpg": png(64, 64)})}),
        "overlap.zip": overlapping_zip(),
        "bomb.zip": zipped({"a.jpg": bytes(50 << 20)}),
    }


def upload_requests(files: dict[str, bytes]) -> list[tuple[str, str, dict]]:
    """(role, url, multipart fields) for every upload route and every hostile file."""
    out = []
    for name, data in files.items():
        album_field = "zip" if name.endswith(".zip") else "photos"
        out.append(("album_user", "/api/v1/album/photos", {album_field: (io.BytesIO(data), name)}))
        out.append(("admin", "/api/v1/deepfake/checks", {"file": (io.BytesIO(data), name)}))
        pair = {"source": (io.BytesIO(data), name), "target": (io.BytesIO(data), name)}
        out.append(("album_user", "/api/v1/faces/compare", pair))
        if name.endswith(".zip"):
            out.append(("instructor", "ENROLMENT", {"photos": (io.BytesIO(data), name)}))
    return out


def stored_files(app) -> set[str]:
    root = Path(app.config.get("STORAGE_PATH") or Path(app.instance_path) / "storage")
    return (
        {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} if root.is_dir() else set()
    )


def referenced_keys(db) -> set[str]:
    keys: set[str] = set()
    for column in (
        AlbumPhoto.storage_key,
        AlbumPhoto.thumbnail_key,
        AlbumFace.crop_key,
        DeepfakeCheck.storage_key,
    ):
        keys.update(k for k in db.scalars(select(column)) if k)
    return keys


def test_hostile_soak(app, db, world, backend, capsys):
    began = time.monotonic()
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    requests = 0
    # The upload corpus first, while the seeded rows are all there (generated DELETEs come later).
    client = app.test_client()
    course_id = db.scalar(select(Course.id).where(Course.code == "A-101"))
    uploads: Counter[str] = Counter()
    for role, url, fields in upload_requests(hostile_files()):
        if url == "ENROLMENT":
            url = f"/api/v1/courses/{course_id}/enrolment/import"
        response = client.post(
            url,
            data=fields,
            headers={"Authorization": f"Bearer {world[role]}"},
            content_type="multipart/form-data",
        )
        requests += 1
        statuses[response.status_code] += 1
        uploads[f"{response.status_code}"] += 1
        if response.status_code >= 500:
            failures.append(f"upload {fields} to {url} -> {response.status_code}")

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)

    def attacker(operation, role: str, token: str, aim: dict[str, int] | None = None):
        """Generated cases for one operation as one role; `aim` fixes the integer path parameters
        to a victim's ids (random ids rarely hit the rows that matter)."""
        fixed = {"path_parameters": aim} if aim else {}
        positive = operation.as_strategy(GenerationMode.POSITIVE, **fixed)
        strategy = positive | operation.as_strategy(GenerationMode.NEGATIVE, **fixed)

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def attack(case) -> None:
            nonlocal requests
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            requests += 1
            statuses[response.status_code] += 1
            label = f"{role} {case.method} {case.formatted_path}"
            if response.status_code >= 500:
                failures.append(f"{label} -> {response.status_code}")
            elif role != "admin" and 200 <= response.status_code < 300:
                leaked = [m for m in MARKERS if m in response.text]
                if leaked:
                    failures.append(f"{label} showed {leaked}")

        return attack

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for role in world:
            attacker(operation, role, world[role])()
    # Every route with integer ids, aimed at the victims' rows by the instructor and the album user.
    victims = sorted(
        {
            db.scalar(select(Course.id).where(Course.code == "B-SECRET-101")),
            db.scalar(select(Student.id).where(Student.name == "Zed Crossuser")),
            db.scalar(select(Album.id).where(Album.name == "Private Holidays Album")),
        }
    )
    for operation in operations:
        names = [
            p.name
            for p in operation.path_parameters
            if p.definition.get("schema", {}).get("type") == "integer"
        ]
        if not names:
            continue
        for victim in victims:
            for role in ("instructor", "album_user"):
                attacker(operation, role, world[role], aim=dict.fromkeys(names, victim))()

    db.expire_all()
    orphans = sorted(stored_files(app) - referenced_keys(db))
    if orphans:
        failures.append(f"files in storage that no row names (partial writes): {orphans[:10]}")

    summary = {
        "backend": backend,
        "operations": len(operations),
        "examples_per_operation_and_role": EXAMPLES,
        "requests": requests,
        "statuses": dict(sorted(statuses.items())),
        "upload_inputs": sum(uploads.values()),
        "upload_statuses": dict(sorted(uploads.items())),
        "seconds": round(time.monotonic() - began, 1),
        "failures": failures[:50],
    }
    results = REPO / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"soak-{backend}.json").write_text(json.dumps(summary, indent=1))
    with capsys.disabled():
        print(
            f"\nhostile soak [{backend}]: {json.dumps({k: v for k, v in summary.items() if k != 'failures'})}"
        )
    assert not failures, "\n".join(failures[:50])
