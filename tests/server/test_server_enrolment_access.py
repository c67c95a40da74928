"""Who may enrol whom: another instructor gets 404 on every enrolment route with this course's,
student's and photo's ids (API and pages) and changes nothing; album users get 403; anonymous
callers 401 or the sign-in page; an administrator's token reads any gallery. Also: galleries follow
roster changes and erasures made through school management."""

from __future__ import annotations

import io

import numpy as np
import pytest
from sqlalchemy import func, select

from server.db.enums import FaceKind
from server.db.models import CourseGallery, EnrolmentRejection, FaceTemplate, Student
from server.faces.embeddings import to_bytes
from server.faces.model import DEFAULT_MODEL
from tests.server.conftest import PASSWORD, csrf_token_from
from tests.server.test_server_enrolment_support import bearer, make_zip, seed_school

CSV = b"student_number,name\nX-1,Mallory\n"


@pytest.fixture
def school(db, make_user, make_token):
    """Ada's student Ann has one enrolled photo (an embedding written directly: no face analysis is
    needed to test who may reach it)."""
    world = seed_school(db, make_user, make_token)
    photo = FaceTemplate(
        student_id=world.ann,
        kind=FaceKind.PHOTO,
        purpose="attendance-enrolment",
        embedding=to_bytes(np.random.default_rng(0).normal(size=128)),
        dim=128,
        model=DEFAULT_MODEL,
        quality={},
        source_sha256="0" * 64,
        filename="ann.jpg",
        thumbnail=b"\xff\xd8 jpeg",
    )
    db.add(photo)
    db.commit()
    world.photo = photo.id
    return world


def api_routes(w):
    upload = {"photos": (io.BytesIO(b"\xff\xd8 not analysed"), "p.jpg")}
    bulk = {
        "students": (io.BytesIO(CSV), "s.csv"),
        "photos": (io.BytesIO(make_zip({"X-1.jpg": b"x"})), "p.zip"),
    }
    return [
        ("GET", f"/api/v1/students/{w.ann}/photos", None),
        ("POST", f"/api/v1/students/{w.ann}/photos", upload),
        ("DELETE", f"/api/v1/students/{w.ann}/photos/{w.photo}", None),
        ("GET", f"/api/v1/students/{w.ann}/photos/{w.photo}/thumbnail", None),
        ("GET", f"/api/v1/courses/{w.a101}/enrolment", None),
        ("POST", f"/api/v1/courses/{w.a101}/enrolment/import", bulk),
        ("GET", f"/api/v1/courses/{w.a101}/gallery", None),
    ]


def web_routes(w):
    return [
        ("GET", f"/students/{w.ann}/photos"),
        ("POST", f"/students/{w.ann}/photos"),
        ("POST", f"/students/{w.ann}/photos/{w.photo}/delete"),
        ("GET", f"/courses/{w.a101}/enrolment"),
        ("POST", f"/courses/{w.a101}/enrolment/import"),
    ]


def state(db) -> tuple:
    db.expire_all()
    return (
        db.scalar(select(func.count()).select_from(Student)),
        db.scalar(select(func.count()).select_from(FaceTemplate)),
        db.scalar(select(func.count()).select_from(EnrolmentRejection)),
        db.scalar(select(func.count()).select_from(CourseGallery)),
    )


def call(client, method, url, data=None, headers=None):
    kwargs = {"headers": headers or {}}
    if data is not None:
        kwargs.update(data=data, content_type="multipart/form-data")
    return client.open(url, method=method, **kwargs)


def test_another_instructor_gets_404_everywhere_and_changes_nothing(client, db, school, login):
    before = state(db)
    for method, url, data in api_routes(school):
        response = call(client, method, url, data, bearer(school.bob_token))
        assert response.status_code == 404, (method, url, response.status_code)
        assert response.get_json()["error"].startswith("no ")
    login(client, "bob@school.example", PASSWORD)
    token = csrf_token_from(client.get("/enrolment").get_data(as_text=True))
    for method, url in web_routes(school):
        data = {"csrf_token": token} if method == "POST" else None
        if url.endswith("/photos") and method == "POST":
            data["photos"] = (io.BytesIO(b"\xff\xd8"), "p.jpg")
        if url.endswith("/import"):
            data["students"] = (io.BytesIO(CSV), "s.csv")
        response = client.open(url, method=method, data=data)
        assert response.status_code == 404, (method, url, response.status_code)
    overview = client.get("/enrolment").get_data(as_text=True)
    assert "B101" in overview and "A101" not in overview
    assert state(db) == before


def test_album_user_is_refused_and_anonymous_must_sign_in(client, db, school, make_user, make_token):
    album = make_token(make_user("album_user", email="al@example.org"))
    before = state(db)
    for index, (method, url, data) in enumerate(api_routes(school)):
        assert call(client, method, url, data, bearer(album)).status_code == 403, (method, url)
        anonymous = call(client, method, url, api_routes(school)[index][2])  # fresh files
        # A change without a session is refused by the CSRF check before authentication is asked.
        assert anonymous.status_code == (401 if method == "GET" else 400), (method, url)
        assert "error" in anonymous.get_json()
        forged = call(client, method, url, api_routes(school)[index][2], bearer("vsg_not-a-token"))
        assert forged.status_code == 401 and "invalid" in forged.get_json()["error"], (method, url)
    for method, url in web_routes(school):
        response = client.open(url, method=method)
        if method == "GET":
            assert response.status_code == 302 and "/login" in response.headers["Location"]
        else:
            assert response.status_code in (302, 400)  # sign-in page, or no CSRF token: refused either way
    assert state(db) == before


def test_administrator_token_reads_any_gallery_and_instructor_reads_own(
    client, school, make_user, make_token
):
    admin = make_token(make_user("admin", email="root@example.org"))
    theirs = client.get(f"/api/v1/courses/{school.b101}/gallery", headers=bearer(admin))
    assert theirs.status_code == 200 and theirs.get_json()["students"][0]["student_number"] == "B-1"
    own = client.get(f"/api/v1/courses/{school.a101}/gallery", headers=bearer(school.ada_token)).get_json()
    assert [len(s["embeddings"]) for s in own["students"]] == [1]
    listing = client.get(f"/api/v1/students/{school.ann}/photos", headers=bearer(admin))
    assert listing.status_code == 200 and listing.get_json()["photos"][0]["filename"] == "ann.jpg"


def test_gallery_follows_roster_changes_and_erasure_made_elsewhere(client, db, school):
    headers = bearer(school.ada_token)
    first = client.get(f"/api/v1/courses/{school.a101}/gallery", headers=headers).get_json()
    newcomer = client.post(
        "/api/v1/students",
        json={"student_number": "A-2", "name": "Newcomer", "course_id": school.a101},
        headers=headers,
    )
    assert newcomer.status_code == 201, newcomer.get_json()

    def versions() -> list[int]:
        db.expire_all()
        query = select(CourseGallery.version).where(CourseGallery.course_id == school.a101)
        return sorted(db.scalars(query))

    assert versions() == [1, 2]  # published when the roster change committed, before anyone asked
    second = client.get(f"/api/v1/courses/{school.a101}/gallery", headers=headers).get_json()
    assert second["version"] == 2 and [s["student_number"] for s in second["students"]] == ["A-1", "A-2"]

    erased = client.delete(f"/api/v1/students/{school.ann}", headers=headers)
    assert erased.status_code == 200, erased.get_json()
    assert versions() == [1, 2, 3]
    third = client.get(f"/api/v1/courses/{school.a101}/gallery", headers=headers).get_json()
    assert third["version"] == 3 and [s["student_number"] for s in third["students"]] == ["A-2"]
    assert third["sha256"] not in {first["sha256"], second["sha256"]}
