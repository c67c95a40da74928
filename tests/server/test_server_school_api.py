"""School management through the JSON API: courses, students, rosters, classrooms and devices,
on SQLite and MariaDB. Validation errors are 4xx with a sentence and write nothing."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from server.db.enums import FaceKind
from server.db.models import (
    AuditLog,
    Classroom,
    Course,
    Device,
    FaceTemplate,
    LectureSession,
    Sighting,
    Student,
    UnknownFaceReview,
    course_students,
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def people(make_user, make_token):
    """An administrator and two instructors, each with a bearer header."""
    admin = make_user("admin", email="admin@school.example")
    ada = make_user("instructor", email="ada@school.example", display_name="Ada")
    bob = make_user("instructor", email="bob@school.example", display_name="Bob")
    return {
        "admin": (admin, bearer(make_token(admin))),
        "ada": (ada, bearer(make_token(ada))),
        "bob": (bob, bearer(make_token(bob))),
    }


def count(db, model) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model))


def audit_actions(db, entity_type: str | None = None) -> list[str]:
    db.expire_all()
    query = select(AuditLog.action).order_by(AuditLog.id)
    if entity_type:
        query = query.where(AuditLog.entity_type == entity_type)
    return list(db.scalars(query))


def test_admin_creates_course_and_instructor_sees_and_edits_only_their_own(client, db, people):
    _, admin_h = people["admin"]
    ada, ada_h = people["ada"]
    bob, _bob_h = people["bob"]
    created = client.post(
        "/api/v1/courses", json={"code": "CS101", "title": "Intro", "instructor_id": ada.id}, headers=admin_h
    )
    assert created.status_code == 201, created.get_json()
    course = created.get_json()
    assert course["instructor_id"] == ada.id and course["instructor_name"] == "Ada"
    assert course["student_count"] == 0
    client.post(
        "/api/v1/courses",
        json={"code": "MA201", "title": "Algebra", "instructor_id": bob.id},
        headers=admin_h,
    )

    assert [c["code"] for c in client.get("/api/v1/courses", headers=ada_h).get_json()] == ["CS101"]
    assert [c["code"] for c in client.get("/api/v1/courses", headers=admin_h).get_json()] == [
        "CS101",
        "MA201",
    ]
    assert client.get(f"/api/v1/courses/{course['id']}", headers=ada_h).get_json()["title"] == "Intro"

    edited = client.patch(f"/api/v1/courses/{course['id']}", json={"title": "Introduction"}, headers=ada_h)
    assert edited.status_code == 200 and edited.get_json()["title"] == "Introduction"
    # The same code sent back unchanged is fine; changing it or the instructor is the admin's.
    same = client.patch(f"/api/v1/courses/{course['id']}", json={"code": "CS101"}, headers=ada_h)
    assert same.status_code == 200
    refused = client.patch(f"/api/v1/courses/{course['id']}", json={"code": "CS999"}, headers=ada_h)
    assert refused.status_code == 403 and "administrator" in refused.get_json()["error"]
    refused = client.patch(f"/api/v1/courses/{course['id']}", json={"instructor_id": bob.id}, headers=ada_h)
    assert refused.status_code == 403
    assert client.post("/api/v1/courses", json={"code": "X1", "title": "x"}, headers=ada_h).status_code == 403

    moved = client.patch(f"/api/v1/courses/{course['id']}", json={"instructor_id": bob.id}, headers=admin_h)
    assert moved.get_json()["instructor_id"] == bob.id
    assert client.get(f"/api/v1/courses/{course['id']}", headers=ada_h).status_code == 404
    assert audit_actions(db, "course") == ["course.create", "course.create", "course.update", "course.update"]


@pytest.mark.parametrize(
    ("body", "status", "phrase"),
    [
        ({"title": "No code"}, 400, "'code' is required"),
        ({"code": "C1", "title": "x" * 201}, 400, "too long"),
        ({"code": "C1", "title": "Tab\there"}, 400, "control characters"),
        ({"code": "C1", "title": "T", "instructor_id": "7"}, 400, "integer"),
        ({"code": "C1", "title": "T", "instructor_id": 999999}, 400, "not an active instructor"),
        ({"code": "C1", "title": "T", "colour": "red"}, 400, "unknown field"),
        ({"code": "cs101", "title": "Taken regardless of case"}, 409, "already exists"),
    ],
)
def test_course_validation_answers_with_a_sentence_and_writes_nothing(
    client, db, people, body, status, phrase
):
    _, admin_h = people["admin"]
    client.post("/api/v1/courses", json={"code": "CS101", "title": "Intro"}, headers=admin_h)
    before = count(db, Course), count(db, AuditLog)
    response = client.post("/api/v1/courses", json=body, headers=admin_h)
    assert response.status_code == status
    assert phrase in response.get_json()["error"]
    assert (count(db, Course), count(db, AuditLog)) == before


def test_course_with_album_user_as_instructor_and_non_json_body_are_refused(client, db, people, make_user):
    _, admin_h = people["admin"]
    album = make_user("album_user")
    response = client.post(
        "/api/v1/courses", json={"code": "C", "title": "T", "instructor_id": album.id}, headers=admin_h
    )
    assert response.status_code == 400 and "instructor" in response.get_json()["error"]
    response = client.post("/api/v1/courses", data="code=C", headers=admin_h, content_type="text/plain")
    assert response.status_code == 415 and "JSON" in response.get_json()["error"]
    assert count(db, Course) == 0


def test_students_are_created_edited_and_linked_to_a_student_account(client, db, people, make_user):
    _, admin_h = people["admin"]
    ada, ada_h = people["ada"]
    course = client.post(
        "/api/v1/courses", json={"code": "CS101", "title": "Intro", "instructor_id": ada.id}, headers=admin_h
    ).get_json()

    created = client.post(
        "/api/v1/students", json={"student_number": " s-001 ", "name": "Kim Min-ji"}, headers=admin_h
    )
    assert created.status_code == 201, created.get_json()
    student = created.get_json()
    assert student["student_number"] == "S-001" and student["courses"] == [] and student["face_photos"] == 0
    duplicate = client.post(
        "/api/v1/students", json={"student_number": "S-001", "name": "Other"}, headers=admin_h
    )
    assert duplicate.status_code == 409 and "S-001" in duplicate.get_json()["error"]
    bad = client.post("/api/v1/students", json={"student_number": "20 01", "name": "Space"}, headers=admin_h)
    assert bad.status_code == 400 and "letters, digits" in bad.get_json()["error"]

    # An instructor names one of their courses: the student joins its roster (else they could not see them).
    missing = client.post("/api/v1/students", json={"student_number": "S-002", "name": "Lee"}, headers=ada_h)
    assert missing.status_code == 400 and "course_id" in missing.get_json()["error"]
    mine = client.post(
        "/api/v1/students",
        json={"student_number": "S-002", "name": "Lee", "course_id": course["id"]},
        headers=ada_h,
    )
    assert mine.status_code == 201 and [c["code"] for c in mine.get_json()["courses"]] == ["CS101"]
    assert [s["student_number"] for s in client.get("/api/v1/students", headers=ada_h).get_json()] == [
        "S-002"
    ]
    assert [
        s["student_number"] for s in client.get("/api/v1/students?q=s-0", headers=admin_h).get_json()
    ] == [
        "S-001",
        "S-002",
    ]
    assert [s["name"] for s in client.get("/api/v1/students?q=min", headers=admin_h).get_json()] == [
        "Kim Min-ji"
    ]
    assert client.get("/api/v1/students?limit=0", headers=admin_h).status_code == 400

    account = make_user("student", email="minji@school.example")
    album = make_user("album_user")
    sid = student["id"]
    linked = client.patch(
        f"/api/v1/students/{sid}", json={"user_id": account.id, "name": "Kim Minji"}, headers=admin_h
    )
    assert linked.status_code == 200 and linked.get_json()["user_id"] == account.id
    assert linked.get_json()["name"] == "Kim Minji"
    wrong = client.patch(f"/api/v1/students/{sid}", json={"user_id": album.id}, headers=admin_h)
    assert wrong.status_code == 400 and "student account" in wrong.get_json()["error"]
    twice = client.patch(
        f"/api/v1/students/{mine.get_json()['id']}", json={"user_id": account.id}, headers=admin_h
    )
    assert twice.status_code == 409
    own = mine.get_json()["id"]
    assert (
        client.patch(f"/api/v1/students/{own}", json={"user_id": account.id}, headers=ada_h).status_code
        == 403
    )
    renumber = client.patch(f"/api/v1/students/{own}", json={"student_number": "s-001"}, headers=ada_h)
    assert renumber.status_code == 409
    assert client.get(f"/api/v1/students/{sid}", headers=ada_h).status_code == 404  # not on Ada's roster
    assert audit_actions(db, "student") == ["student.create", "student.create", "student.update"]


def make_students(db, *numbers: str) -> list[Student]:
    rows = [Student(student_number=n, name=f"Student {n}") for n in numbers]
    db.add_all(rows)
    db.commit()
    return rows


def roster_numbers(db, course_id: int) -> list[str]:
    db.expire_all()
    return sorted(
        db.scalars(
            select(Student.student_number)
            .join(course_students, course_students.c.student_id == Student.id)
            .where(course_students.c.course_id == course_id)
        )
    )


def test_roster_changes_are_batched_all_or_nothing_and_audited(client, db, people):
    ada, ada_h = people["ada"]
    course = Course(code="CS101", title="Intro", instructor_id=ada.id)
    # Ada's students from her other course: an instructor adds only students she already sees
    db.add_all(
        [
            course,
            Course(
                code="CS100",
                title="Before",
                instructor_id=ada.id,
                students=make_students(db, "S1", "S2", "S3", "S4"),
            ),
        ]
    )
    db.commit()
    url = f"/api/v1/courses/{course.id}/roster"

    unknown = client.post(url, json={"student_numbers": ["S1", "S2", "NOPE", "bad number"]}, headers=ada_h)
    assert unknown.status_code == 400
    assert unknown.get_json()["unknown_student_numbers"] == ["NOPE", "BAD NUMBER"]
    assert "nothing was changed" in unknown.get_json()["error"]
    assert roster_numbers(db, course.id) == []

    added = client.post(url, json={"student_numbers": ["s1", "S2", "S1"]}, headers=ada_h).get_json()
    assert added == {"added": ["S1", "S2"], "already_enrolled": [], "student_count": 2}
    again = client.post(url, json={"student_numbers": ["S3", "S1"]}, headers=ada_h).get_json()
    assert again == {"added": ["S3"], "already_enrolled": ["S1"], "student_count": 3}
    roster = client.get(url, headers=ada_h).get_json()
    assert [s["student_number"] for s in roster] == ["S1", "S2", "S3"]

    refused = client.delete(url, json={"student_numbers": ["S1", "GONE"]}, headers=ada_h)
    assert refused.status_code == 400 and refused.get_json()["unknown_student_numbers"] == ["GONE"]
    assert roster_numbers(db, course.id) == ["S1", "S2", "S3"]
    removed = client.delete(url, json={"student_numbers": ["S1", "S4"]}, headers=ada_h).get_json()
    assert removed == {"removed": ["S1"], "not_enrolled": ["S4"], "student_count": 2}
    assert roster_numbers(db, course.id) == ["S2", "S3"]

    for body in ({}, {"student_numbers": []}, {"student_numbers": "S1"}, {"student_numbers": [1]}):
        response = client.post(url, json=body, headers=ada_h)
        assert response.status_code == 400 and "student_numbers" in response.get_json()["error"]
    assert audit_actions(db, "course") == ["roster.add", "roster.add", "roster.remove"]
    db.expire_all()
    entry = db.scalars(select(AuditLog).where(AuditLog.action == "roster.remove")).one()
    assert entry.actor_id == ada.id and entry.after == {"student_numbers": ["S1"]}


def face(student: Student, kind: FaceKind = FaceKind.PHOTO) -> FaceTemplate:
    return FaceTemplate(student=student, kind=kind, embedding=b"\0" * 512, dim=128, model="dlib_resnet")


def test_deleting_a_student_erases_every_face_of_theirs_and_is_audited(client, db, people):
    _, admin_h = people["admin"]
    ada, ada_h = people["ada"]
    keep, gone = make_students(db, "KEEP", "GONE")
    course = Course(code="CS101", title="Intro", instructor_id=ada.id, students=[keep, gone])
    room = Classroom(name="R1")
    device = Device(device_id="cam-1", name="cam", classroom=room)
    lecture = LectureSession(
        course=course,
        classroom=room,
        starts_at=datetime(2026, 3, 2, 0, tzinfo=timezone.utc),
        ends_at=datetime(2026, 3, 2, 3, tzinfo=timezone.utc),
    )
    db.add_all([course, device, lecture, face(keep), face(gone), face(gone), face(gone, FaceKind.TEMPLATE)])
    at = datetime(2026, 3, 2, 1, tzinfo=timezone.utc)
    db.add_all(
        [
            Sighting(
                event_id="e1",
                device=device,
                session=lecture,
                student=gone,
                track_id="t1",
                captured_at=at,
                thumbnail=b"jpeg",
            ),
            Sighting(
                event_id="e2", device=device, session=lecture, student=keep, track_id="t2", captured_at=at
            ),
            # An unknown track an instructor assigned to the student: it shows their face too.
            Sighting(
                event_id="e3",
                device=device,
                session=lecture,
                student=None,
                track_id="t9",
                captured_at=at,
                thumbnail=b"jpeg",
            ),
            UnknownFaceReview(
                session=lecture, device=device, track_id="t9", decision="assigned", student=gone
            ),
        ]
    )
    db.commit()
    gone_id = gone.id

    # The student is also on no other instructor's course, so Ada may erase them.
    response = client.delete(f"/api/v1/students/{gone_id}", headers=ada_h)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["deleted"] == {"face_templates": 3, "sightings": 2, "overrides": 0}
    db.expire_all()
    assert db.get(Student, gone_id) is None
    assert db.scalars(select(FaceTemplate.student_id)).all() == [keep.id]
    assert sorted(db.scalars(select(Sighting.event_id))) == ["e2"]
    assert roster_numbers(db, course.id) == ["KEEP"]
    entry = db.scalars(select(AuditLog).where(AuditLog.action == "student.delete")).one()
    assert entry.actor_id == ada.id and entry.entity_id == str(gone_id)
    assert entry.before == {"student_number": "GONE", "courses": [course.id]}
    assert "Student GONE" not in str(entry.before) + str(entry.after)  # the name is not kept
    assert client.get(f"/api/v1/students/{gone_id}", headers=admin_h).status_code == 404


def test_instructor_cannot_erase_a_student_shared_with_another_instructor(client, db, people):
    _, admin_h = people["admin"]
    ada, ada_h = people["ada"]
    bob, _ = people["bob"]
    (shared,) = make_students(db, "SHARED")
    db.add_all(
        [
            Course(code="A1", title="Ada's", instructor_id=ada.id, students=[shared]),
            Course(code="B1", title="Bob's", instructor_id=bob.id, students=[shared]),
            face(shared),
        ]
    )
    db.commit()
    refused = client.delete(f"/api/v1/students/{shared.id}", headers=ada_h)
    assert refused.status_code == 403 and "administrator" in refused.get_json()["error"]
    assert count(db, FaceTemplate) == 1 and count(db, Student) == 1
    detail = client.get(f"/api/v1/students/{shared.id}", headers=ada_h).get_json()
    assert [c["code"] for c in detail["courses"]] == ["A1"]  # Bob's course is not shown to Ada
    assert client.delete(f"/api/v1/students/{shared.id}", headers=admin_h).status_code == 200
    assert count(db, FaceTemplate) == 0 and count(db, Student) == 0


def test_classrooms_and_devices(client, db, people):
    _, admin_h = people["admin"]
    _, ada_h = people["ada"]
    room = client.post("/api/v1/classrooms", json={"name": "Engineering 301"}, headers=admin_h)
    assert room.status_code == 201
    room_id = room.get_json()["id"]
    assert (
        client.post("/api/v1/classrooms", json={"name": "engineering 301"}, headers=admin_h).status_code
        == 409
    )
    assert client.post("/api/v1/classrooms", json={"name": " "}, headers=admin_h).status_code == 400
    other = client.post("/api/v1/classrooms", json={"name": "Hall"}, headers=admin_h).get_json()
    renamed = client.patch(f"/api/v1/classrooms/{other['id']}", json={"name": "Main hall"}, headers=admin_h)
    assert renamed.get_json()["name"] == "Main hall"

    for bad_id in ("cam/1", "cam 1", "cam#", "x" * 65, ""):
        response = client.post(
            "/api/v1/devices", json={"device_id": bad_id, "classroom_id": room_id}, headers=admin_h
        )
        assert response.status_code == 400, bad_id
        assert "device_id" in response.get_json()["error"]
    bad_room = client.post(
        "/api/v1/devices", json={"device_id": "cam-1", "classroom_id": 99999}, headers=admin_h
    )
    assert bad_room.status_code == 400 and "classroom" in bad_room.get_json()["error"]
    assert count(db, Device) == 0

    device = client.post(
        "/api/v1/devices", json={"device_id": "cam-1", "classroom_id": room_id}, headers=admin_h
    )
    assert device.status_code == 201
    assert device.get_json()["name"] == "cam-1" and device.get_json()["classroom_name"] == "Engineering 301"
    assert client.post("/api/v1/devices", json={"device_id": "CAM-1"}, headers=admin_h).status_code == 409
    pk = device.get_json()["id"]
    moved = client.patch(
        f"/api/v1/devices/{pk}", json={"classroom_id": other["id"], "name": "Front"}, headers=admin_h
    )
    assert moved.get_json()["classroom_id"] == other["id"] and moved.get_json()["name"] == "Front"
    ident = client.patch(f"/api/v1/devices/{pk}", json={"device_id": "cam-2"}, headers=admin_h)
    assert ident.status_code == 400 and "cannot change" in ident.get_json()["error"]
    unplugged = client.patch(f"/api/v1/devices/{pk}", json={"classroom_id": None}, headers=admin_h)
    assert unplugged.get_json()["classroom_id"] is None
    assert client.patch("/api/v1/devices/99999", json={"name": "x"}, headers=admin_h).status_code == 404

    rooms = client.get("/api/v1/classrooms", headers=ada_h)  # instructors list rooms to schedule in
    assert rooms.status_code == 200 and [r["name"] for r in rooms.get_json()] == [
        "Engineering 301",
        "Main hall",
    ]
    assert client.post("/api/v1/classrooms", json={"name": "Mine"}, headers=ada_h).status_code == 403
    assert client.get("/api/v1/devices", headers=ada_h).status_code == 403
    assert [d["device_id"] for d in client.get("/api/v1/devices", headers=admin_h).get_json()] == ["cam-1"]
    assert audit_actions(db, "device") == ["device.create", "device.update", "device.update"]


def test_course_with_recorded_attendance_is_not_deleted(client, db, people):
    _, admin_h = people["admin"]
    room = Classroom(name="R")
    device = Device(device_id="d1", name="d1", classroom=room)
    empty = Course(code="EMPTY", title="Nothing yet")
    used = Course(code="USED", title="Has evidence")
    start = datetime(2026, 3, 2, 0, tzinfo=timezone.utc)
    lecture = LectureSession(course=used, classroom=room, starts_at=start, ends_at=start.replace(hour=2))
    db.add_all([empty, used, device, lecture])
    db.flush()
    db.add(Sighting(event_id="x", device=device, session=lecture, track_id="t", captured_at=start))
    db.add(
        LectureSession(
            course=empty, classroom=room, starts_at=start.replace(hour=5), ends_at=start.replace(hour=6)
        )
    )
    db.commit()
    refused = client.delete(f"/api/v1/courses/{used.id}", headers=admin_h)
    assert refused.status_code == 409 and "recorded attendance" in refused.get_json()["error"]
    assert client.delete(f"/api/v1/courses/{empty.id}", headers=admin_h).status_code == 204
    db.expire_all()
    assert [c.code for c in db.scalars(select(Course))] == ["USED"]
    assert count(db, LectureSession) == 1
    assert audit_actions(db, "course")[-1] == "course.delete"


def test_an_instructor_cannot_pull_another_instructors_student_onto_her_roster(client, db, people):
    """The roster pivot: Bob's student number is as unknown to Ada as a number nobody has (same
    status, same answer), so she can neither enrol Ben nor learn that the number exists; after
    that, every route to Ben is still closed to her. An administrator can add Ben to her course."""
    ada, ada_h = people["ada"]
    bob, _ = people["bob"]
    _, admin_h = people["admin"]
    ben = Student(student_number="B-7", name="Ben", email="ben@school.example")
    mine = Course(code="A101", title="Ada's", instructor_id=ada.id)
    db.add_all([mine, Course(code="B101", title="Bob's", instructor_id=bob.id, students=[ben])])
    db.commit()
    url = f"/api/v1/courses/{mine.id}/roster"

    answers = {}
    for number in ("B-7", "NOBODY-HAS-THIS"):
        response = client.post(url, json={"student_numbers": [number]}, headers=ada_h)
        body = response.get_json()
        assert body["unknown_student_numbers"] == [number]
        answers[number] = (response.status_code, body["error"].replace(number, "N"), sorted(body))
    assert answers["B-7"] == answers["NOBODY-HAS-THIS"]  # indistinguishable
    assert answers["B-7"][0] == 400
    assert roster_numbers(db, mine.id) == []
    for path in (f"/api/v1/students/{ben.id}", f"/api/v1/students/{ben.id}/photos"):
        assert client.get(path, headers=ada_h).status_code == 404, path
    assert client.patch(f"/api/v1/students/{ben.id}", json={"name": "X"}, headers=ada_h).status_code == 404
    assert "Ben" not in client.get("/api/v1/students", headers=ada_h).get_data(as_text=True)
    # creating a student with Ben's number does not hand Ben over either
    created = client.post(
        "/api/v1/students",
        json={"student_number": "B-7", "name": "Fake", "course_id": mine.id},
        headers=ada_h,
    )
    assert created.status_code == 409 and "Ben" not in created.get_data(as_text=True)
    assert roster_numbers(db, mine.id) == []

    # an administrator may enrol Ben in Ada's course too; then Ada sees him
    assert client.post(url, json={"student_numbers": ["B-7"]}, headers=admin_h).status_code == 200
    assert roster_numbers(db, mine.id) == ["B-7"]
    for path in (f"/api/v1/students/{ben.id}", f"/api/v1/students/{ben.id}/photos"):
        assert client.get(path, headers=ada_h).status_code == 200, path
