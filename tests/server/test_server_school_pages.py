"""The school management pages, driven like a browser (sign in, read the CSRF token, post forms):
success redirects with a message, refusals show the reason with a 4xx status and keep what was
typed, and the pages carry no inline script (the CSP forbids it). SQLite and MariaDB."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from server.db.models import Classroom, Course, Device, FaceTemplate, LectureSession, Student
from server.settings import update_settings
from tests.server.conftest import PASSWORD, csrf_token_from


@pytest.fixture
def admin(client, make_user, login):
    make_user("admin", email="admin@school.example", display_name="Admin")
    login(client, "admin@school.example", PASSWORD)
    return client


@pytest.fixture
def ada(client, db, make_user, login):
    """Ada, signed in, teaching CS101 (roster S1, Yuna) and CS100 (roster S2, Jisoo: a student she
    sees, so she may add her to CS101) in a school with rooms R1 and R2."""
    user = make_user("instructor", email="ada@school.example", display_name="Ada")
    course = Course(
        code="CS101",
        title="Intro",
        instructor_id=user.id,
        students=[Student(student_number="S1", name="Yuna")],
    )
    jisoo = Student(student_number="S2", name="Jisoo")
    earlier = Course(code="CS100", title="Before", instructor_id=user.id, students=[jisoo])
    db.add_all([course, earlier, Classroom(name="R1"), Classroom(name="R2")])
    db.commit()
    login(client, "ada@school.example", PASSWORD)
    return {"user": user, "course": course.id}


def token(client, url: str = "/courses") -> str:
    return csrf_token_from(client.get(url).get_data(as_text=True))


def text(response) -> str:
    return response.get_data(as_text=True)


def room_id(db, name: str) -> int:
    return db.scalar(select(Classroom.id).where(Classroom.name == name))


def test_admin_creates_a_course_from_the_form_and_sees_validation_messages(admin, db, make_user):
    teacher = make_user("instructor", email="t@school.example", display_name="Teacher")
    page = admin.get("/courses")
    assert page.status_code == 200 and "New course" in text(page)
    csrf = csrf_token_from(text(page))

    empty = admin.post("/courses", data={"code": "", "title": "Kept title", "csrf_token": csrf})
    assert empty.status_code == 400
    assert "&#39;code&#39; is required" in text(empty) and 'value="Kept title"' in text(empty)
    created = admin.post(
        "/courses",
        data={"code": "CS101", "title": "Intro", "instructor_id": str(teacher.id), "csrf_token": csrf},
    )
    assert created.status_code == 302
    detail = admin.get(created.headers["Location"])
    assert "Course CS101 created." in text(detail) and "Instructor: Teacher" in text(detail)
    again = admin.post("/courses", data={"code": "cs101", "title": "Twice", "csrf_token": csrf})
    assert again.status_code == 409 and "already exists" in text(again)
    assert admin.post("/courses", data={"code": "NO", "title": "No token"}).status_code == 400
    db.expire_all()
    assert [c.code for c in db.scalars(select(Course))] == ["CS101"]


def test_roster_is_managed_from_the_course_page(client, db, ada):
    url = f"/courses/{ada['course']}"
    page = client.get(url)
    assert page.status_code == 200 and "Yuna" in text(page) and "Jisoo" not in text(page)
    csrf = csrf_token_from(text(page))

    unknown = client.post(
        f"{url}/roster/add", data={"student_numbers": "S2, NOPE\nalso-bad", "csrf_token": csrf}
    )
    assert unknown.status_code == 400
    assert "2 unknown student numbers: NOPE, ALSO-BAD; nothing was changed" in text(unknown)
    assert "S2, NOPE" in text(unknown)  # what was typed is kept
    added = client.post(f"{url}/roster/add", data={"student_numbers": "s2 S1", "csrf_token": csrf})
    assert added.status_code == 302
    shown = text(client.get(url))
    assert "1 student added to the roster. Already enrolled: S1." in shown and "Jisoo" in shown

    created = client.post(f"{url}/students", data={"student_number": "s3", "name": "Sun", "csrf_token": csrf})
    assert created.status_code == 302
    assert "Student S3 created and enrolled." in text(client.get(url))
    nothing = client.post(f"{url}/roster/remove", data={"csrf_token": csrf})
    assert nothing.status_code == 400 and "tick the students" in text(nothing).lower()
    removed = client.post(f"{url}/roster/remove", data={"student_number": ["S1", "S3"], "csrf_token": csrf})
    assert removed.status_code == 302
    db.expire_all()
    assert [s.student_number for s in db.get(Course, ada["course"]).students] == ["S2"]


def test_sessions_are_scheduled_and_deleted_from_the_course_page(client, db, ada):
    url = f"/courses/{ada['course']}"
    csrf = token(client, url)
    r1 = str(room_id(db, "R1"))
    one = {
        "date": "2030-03-02",
        "start_time": "09:00",
        "end_time": "12:00",
        "timezone": "Asia/Seoul",
        "classroom_id": r1,
        "period_minutes": "60",
        "csrf_token": csrf,
    }
    assert client.post(f"{url}/sessions", data=one).status_code == 302
    db.expire_all()
    lecture = db.scalars(select(LectureSession)).one()
    assert (lecture.starts_at, lecture.ends_at) == (
        datetime(2030, 3, 2, 0, tzinfo=timezone.utc),
        datetime(2030, 3, 2, 3, tzinfo=timezone.utc),
    )

    clash = client.post(f"{url}/sessions", data={**one, "start_time": "11:00", "end_time": "13:00"})
    assert clash.status_code == 409 and "R1 is already booked by CS101" in text(clash)
    backwards = client.post(f"{url}/sessions", data={**one, "start_time": "13:00", "end_time": "12:00"})
    assert backwards.status_code == 400 and "end time must be after the start time" in text(backwards)
    no_zone = client.post(f"{url}/sessions", data={**one, "timezone": "Somewhere"})
    assert no_zone.status_code == 400 and "not a known IANA time zone" in text(no_zone)
    assert 'value="Somewhere"' in text(no_zone)

    weekly = {
        "weekday": "friday",
        "start_time": "14:00",
        "duration_minutes": "90",
        "first_date": "2030-03-01",
        "last_date": "2030-03-29",
        "timezone": "Asia/Seoul",
        "classroom_id": r1,
        "period_minutes": "45",
        "csrf_token": csrf,
    }
    response = client.post(f"{url}/sessions/weekly", data=weekly)
    assert response.status_code == 302
    assert "5 weekly sessions scheduled." in text(client.get(url))
    bad = client.post(f"{url}/sessions/weekly", data={**weekly, "duration_minutes": "ninety"})
    assert bad.status_code == 400 and "duration_minutes" in text(bad)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(LectureSession)) == 6

    lecture_id = lecture.id
    deleted = client.post(f"{url}/sessions/{lecture_id}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 302
    db.expire_all()
    assert db.get(LectureSession, lecture_id) is None


def test_student_page_edits_and_erases_a_student(client, db, ada):
    db.expire_all()
    sol = db.scalars(select(Student).where(Student.student_number == "S1")).one()
    db.add(FaceTemplate(student_id=sol.id, embedding=b"\0" * 512, dim=128, model="dlib_resnet"))
    db.commit()
    url = f"/students/{sol.id}"
    page = client.get(url)
    assert page.status_code == 200 and "1 enrolled face photo" in text(page) and "CS101" in text(page)
    csrf = csrf_token_from(text(page))
    bad = client.post(f"{url}/edit", data={"student_number": "S 1", "name": "Yuna", "csrf_token": csrf})
    assert bad.status_code == 400 and "letters, digits" in text(bad)
    ok = client.post(f"{url}/edit", data={"student_number": "S1", "name": "Yuna Park", "csrf_token": csrf})
    assert ok.status_code == 302 and "Yuna Park" in text(client.get(url))
    assert "Yuna Park" in text(client.get("/students?q=park"))

    gone = client.post(f"{url}/delete", data={"csrf_token": csrf})
    assert gone.status_code == 302 and gone.headers["Location"].endswith("/students")
    assert "Student S1 and every stored face of theirs were deleted." in text(client.get("/students"))
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(FaceTemplate)) == 0
    assert client.get(url).status_code == 404


def test_classrooms_and_devices_page(admin, db):
    page = admin.get("/admin/classrooms")
    assert page.status_code == 200
    csrf = csrf_token_from(text(page))
    assert admin.post("/admin/classrooms", data={"name": "Lab 1", "csrf_token": csrf}).status_code == 302
    dup = admin.post("/admin/classrooms", data={"name": "lab 1", "csrf_token": csrf})
    assert dup.status_code == 409 and "already exists" in text(dup)
    lab = room_id(db, "Lab 1")
    bad = admin.post(
        "/admin/devices", data={"device_id": "lab/cam", "classroom_id": str(lab), "csrf_token": csrf}
    )
    assert bad.status_code == 400 and "letters, digits" in text(bad) and 'value="lab/cam"' in text(bad)
    ok = admin.post(
        "/admin/devices", data={"device_id": "lab-cam", "classroom_id": str(lab), "csrf_token": csrf}
    )
    assert ok.status_code == 302
    shown = text(admin.get("/admin/classrooms"))
    assert "Device lab-cam registered." in shown and "<code>lab-cam</code>" in shown
    db.expire_all()
    device = db.scalars(select(Device)).one()
    moved = admin.post(
        f"/admin/devices/{device.id}", data={"name": "Ceiling", "classroom_id": "", "csrf_token": csrf}
    )
    assert moved.status_code == 302
    renamed = admin.post(f"/admin/classrooms/{lab}", data={"name": "Lab One", "csrf_token": csrf})
    assert renamed.status_code == 302
    db.expire_all()
    device = db.get(Device, device.id)
    assert (device.name, device.classroom_id) == ("Ceiling", None)
    assert db.get(Classroom, lab).name == "Lab One"


def test_pages_link_the_school_script_and_carry_no_inline_script(client, ada):
    for url in ("/courses", f"/courses/{ada['course']}", "/students"):
        html = text(client.get(url))
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert all('src="' in tag for tag in scripts), url
        assert "style=" not in html
    assert '<script src="/static/school.js"' in text(client.get(f"/courses/{ada['course']}"))
    assert "Courses</a>" in text(client.get("/"))
    script = client.get("/static/school.js")
    assert script.status_code == 200 and b"data-confirm" in script.data


def test_pages_show_times_in_the_institutions_zone_when_one_is_configured(app, client, db, ada):
    start = datetime(2030, 3, 2, 0, tzinfo=timezone.utc)
    db.add(
        LectureSession(
            course_id=ada["course"],
            classroom_id=room_id(db, "R1"),
            starts_at=start,
            ends_at=start.replace(hour=3),
        )
    )
    db.commit()
    url = f"/courses/{ada['course']}"
    # One format everywhere (server/i18n.py), in the deployment's zone; the test app's zone is UTC.
    assert "Sat, Mar 2, 2030 00:00" in text(client.get(url))
    update_settings(app, ATTENDANCE_TIMEZONE="Asia/Seoul")
    page = text(client.get(url))
    assert "Sat, Mar 2, 2030 09:00" in page and 'value="Asia/Seoul"' in page  # also the forms' default
    assert 'datetime="2030-03-02T00:00:00Z"' in page  # the machine-readable instant stays UTC
