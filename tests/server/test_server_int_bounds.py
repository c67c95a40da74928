"""Integers beyond their columns never answer 500 (issue 14): every route with an integer in its
path (every rule of the URL map with an int converter, API and web pages), every integer query
parameter the API documents or a page reads, and every integer a JSON body carries, sent as 2^63
and 10^20 (and a few other hostile numbers), on SQLite and MariaDB. Each answer is a 4xx, with a
JSON `{"error": ...}` sentence on the API. Before the fix 2^63 in a path was a 500 on SQLite
(OverflowError binding it) and 10^20 as `offset` a 500 on MariaDB (a LIMIT it cannot parse)."""

from __future__ import annotations

import re
import tempfile
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import IntegerConverter, Rule

from server.db.models import Classroom, Course, Device, LectureSession, Student
from tests.server.conftest import PASSWORD, csrf_token_from

HUGE = [2**63, 10**20]
NUMBER_TEXTS = [str(2**63), str(10**20), "9" * 5000, "²"]  # "²".isdigit() is true; int() refuses it
ARG = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(make_user, make_token) -> dict[str, str]:
    return bearer(make_token(make_user("admin", email="root@school.example")))


@pytest.fixture
def scene(db) -> dict[str, int]:
    """Rows for the path parameters, so that a request reaches its body and query validation."""
    now = datetime.now(timezone.utc)
    room = Classroom(name="R-bounds")
    device = Device(device_id="cam-bounds", name="Front", classroom=room)
    student = Student(student_number="S-bounds", name="Kim")
    course = Course(code="B-1", title="Bounds", students=[student])
    lecture = LectureSession(course=course, classroom=room, starts_at=now - timedelta(hours=1), ends_at=now)
    db.add_all([room, device, student, course, lecture])
    db.commit()
    return {
        "classroom_id": room.id,
        "device_pk": device.id,
        "student_id": student.id,
        "course_id": course.id,
        "session_id": lecture.id,
        "device_id": device.device_id,
    }


def int_rules(app: Flask) -> list[Rule]:
    return sorted(
        (
            rule
            for rule in app.url_map.iter_rules()
            if any(isinstance(c, IntegerConverter) for c in rule._converters.values())
        ),
        key=lambda rule: rule.rule,
    )


def collecting_app() -> Flask:
    """An app to read the routes from while collecting (every endpoint module imported)."""
    from server.app import create_app

    instance = tempfile.mkdtemp(prefix="visage-collect-")
    return create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "collect", "INSTANCE_PATH": instance})


def path_cases() -> list[tuple[str, str, int]]:
    """(rule, method, value) for every rule with an int converter (collected from a real app)."""
    cases = []
    for rule in int_rules(collecting_app()):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            cases.extend((rule.rule, method, value) for value in HUGE)
    return cases


def url_for_rule(rule: str, value: Any, ids: dict[str, Any]) -> str:
    """The rule with every int argument set to `value` and any other to a known row's id."""

    def fill(match: re.Match[str]) -> str:
        if match.group("converter") in ("int", "bigid"):
            return str(value)
        return str(ids.get(match.group("name"), "x"))

    return ARG.sub(fill, rule)


def assert_refused(response, api: bool, what: str) -> None:
    assert 400 <= response.status_code < 500, (
        f"{what}: {response.status_code} {response.get_data(as_text=True)[:300]}"
    )
    if api:
        body = response.get_json(silent=True)
        assert isinstance(body, dict) and body.get("error"), f"{what}: no JSON error sentence"


def send(client: FlaskClient, method: str, url: str, api: bool, headers: dict, csrf: str | None):
    if api:
        return client.open(url, method=method, headers=headers, json={} if method != "GET" else None)
    data = {"csrf_token": csrf} if method != "GET" else None
    return client.open(url, method=method, data=data)


@pytest.mark.parametrize("rule, method, value", path_cases(), ids=lambda v: str(v)[:40])
def test_path_integers_beyond_their_column_answer_4xx(app, client, admin, scene, login, rule, method, value):
    api = rule.startswith("/api/")
    csrf = None
    if not api:
        assert login(client, "root@school.example", PASSWORD).status_code == 302
        csrf = csrf_token_from(client.get("/").get_data(as_text=True))
    url = url_for_rule(rule, value, scene)
    assert_refused(send(client, method, url, api, admin, csrf), api, f"{method} {url}")


# ------------------------------------------------------------------------------ query parameters


def query_cases() -> list[tuple[str, str, str]]:
    """(method, rule, parameter) for every integer query parameter the API documents, and the
    pages that read one."""
    from server.api.endpoints import API_PREFIX, registry

    collecting_app()
    cases = [
        (op.method, API_PREFIX + op.rule, param["name"])
        for op in registry.operations
        for param in op.query
        if "integer" in str(param.get("schema", {}).get("type"))
    ]
    assert len(cases) >= 9, cases  # students limit/offset, jobs, rejected messages, album, deepfake
    return [*cases, ("GET", "/album", "album"), ("GET", "/album/searches/<int:search_id>", "face")]


@pytest.mark.parametrize("method, rule, name", query_cases(), ids=str)
@pytest.mark.parametrize("text", NUMBER_TEXTS, ids=lambda t: t[:20])
def test_query_integers_beyond_their_column_answer_4xx(client, admin, scene, login, method, rule, name, text):
    api = rule.startswith("/api/")
    if not api:
        assert login(client, "root@school.example", PASSWORD).status_code == 302
    url = url_for_rule(rule, 1, scene)
    response = client.open(url, method=method, query_string={name: text}, headers=admin if api else {})
    assert_refused(response, api, f"{method} {url}?{name}={text[:20]}")


def test_query_integer_errors_name_the_range(client, admin):
    answer = client.get("/api/v1/students", query_string={"offset": str(10**20)}, headers=admin)
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "'offset' must be a whole number from 0 to 2147483647"
    assert client.get("/api/v1/students", query_string={"offset": "2"}, headers=admin).status_code == 200


# ------------------------------------------------------------------------------ JSON bodies

# Every API body field that is an integer, in a body that is otherwise valid ("N" is replaced).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/courses"): {"code": "X-1", "title": "T", "instructor_id": "N"},
    ("PATCH", "/courses/<int:course_id>"): {"instructor_id": "N"},
    ("POST", "/students"): {"student_number": "S-N1", "name": "N", "course_id": "N"},
    ("PATCH", "/students/<int:student_id>"): {"user_id": "N"},
    ("POST", "/devices"): {"device_id": "cam-n", "classroom_id": "N"},
    ("PATCH", "/devices/<int:device_pk>"): {"classroom_id": "N"},
    ("POST", "/courses/<int:course_id>/sessions"): {
        "starts_at": "2030-01-07T09:00:00Z",
        "ends_at": "2030-01-07T10:00:00Z",
        "classroom_id": "N",
        "period_minutes": "N",
        "weekly": {"weekday": "mon", "start_time": "09:00", "duration_minutes": "N"},
    },
    ("POST", "/tokens"): {"name": "t", "expires_in_days": "N"},
    ("POST", "/sessions/<int:session_id>/overrides"): {
        "student_id": "N",
        "status": "present",
        "reason": "r",
        "period": "N",
    },
    ("POST", "/sessions/<int:session_id>/rollcall"): {"entries": [{"student_id": "N", "present": True}]},
    ("POST", "/unknown-faces/<int:face_id>"): {"decision": "assigned", "student_id": "N", "reason": "r"},
    ("POST", "/album/people/<int:person_id>/merge"): {"person_ids": ["N"]},
    ("POST", "/album/people/<int:person_id>/split"): {"face_ids": ["N"]},
    ("POST", "/album/searches"): {"photo_id": "N", "face": "N"},
    ("PATCH", "/album/people/<int:person_id>"): {"feature_face_id": "N"},
    ("POST", "/album/faces/<int:face_id>/person"): {"person_id": "N"},
    ("POST", "/faces/compare"): {"source_photo_id": "N", "target_photo_id": "N"},
    ("POST", "/unknown-clusters/<int:cluster_id>"): {
        "decision": "assigned",
        "student_id": "N",
        "version": "N",
    },
}


def with_number(template: Any, value: int) -> Any:
    if template == "N":
        return value
    if isinstance(template, dict):
        return {key: with_number(item, value) for key, item in template.items()}
    if isinstance(template, list):
        return [with_number(item, value) for item in template]
    return template


def test_every_body_with_an_integer_has_a_case():
    from server.api.endpoints import registry

    collecting_app()
    with_ints = {
        (op.method, op.rule)
        for op in registry.operations
        if op.request is not None
        and '"integer"' in str(registry_resolved(registry, op.request)).replace("'", '"')
    }
    assert with_ints <= set(BODIES), sorted(with_ints - set(BODIES))


def registry_resolved(registry: Any, schema: Any) -> Any:
    """`schema` with its `$ref`s replaced by the registered schemas."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return registry_resolved(registry, registry.schemas[schema["$ref"].rsplit("/", 1)[-1]])
        return {key: registry_resolved(registry, item) for key, item in schema.items()}
    if isinstance(schema, list):
        return [registry_resolved(registry, item) for item in schema]
    return schema


@pytest.mark.parametrize("method, rule", sorted(BODIES), ids=str)
@pytest.mark.parametrize("value", [*HUGE, 2**31, -(2**63) - 1], ids=str)
def test_body_integers_beyond_their_column_answer_4xx(client, admin, scene, method, rule, value):
    url = ARG.sub(lambda m: str(scene.get(m.group("name"), 1)), "/api/v1" + rule)
    body = with_number(BODIES[(method, rule)], value)
    assert_refused(client.open(url, method=method, json=body, headers=admin), True, f"{method} {url} {body}")


def test_hostile_json_bodies_answer_4xx(client, admin):
    for raw, status in (
        (b"[" * 100_000, 400),  # was a RecursionError: 500
        (b'{"code": "X", "title": "T", "instructor_id": ' + b"9" * 5000 + b"}", 400),
        (b'{"code": "X", "title": "\\ud800"}', 400),
        (b"{" + b" " * (5 * 1024 * 1024) + b"}", 413),
    ):
        answer = client.post("/api/v1/courses", data=raw, content_type="application/json", headers=admin)
        assert answer.status_code == status and answer.get_json()["error"], raw[:40]


# ------------------------------------------------------------------------------ web forms

# Every web form field read as an integer ("N" is replaced); the pages answer their error page.
FORMS: list[tuple[str, dict[str, Any]]] = [
    ("/courses", {"code": "X-1", "title": "T", "instructor_id": "N"}),
    ("/courses/<int:course_id>/edit", {"title": "T", "code": "B-1", "instructor_id": "N"}),
    ("/courses/<int:course_id>/sessions", {"classroom_id": "N", "period_minutes": "N", "date": "2030-01-07",
                                           "start_time": "09:00", "end_time": "10:00", "timezone": "UTC"}),
    ("/courses/<int:course_id>/sessions/weekly", {"classroom_id": "N", "period_minutes": "N",
                                                  "duration_minutes": "N", "weekday": "mon",
                                                  "start_time": "09:00", "first_date": "2030-01-07",
                                                  "last_date": "2030-01-14", "timezone": "UTC"}),
    ("/students", {"student_number": "S-F1", "name": "N", "course_id": "N"}),
    ("/students/<int:student_id>/edit", {"student_number": "S-bounds", "name": "Kim", "user_id": "N"}),
    ("/admin/devices", {"device_id": "cam-f", "name": "F", "classroom_id": "N"}),
    ("/admin/devices/<int:device_pk>", {"name": "F", "classroom_id": "N"}),
    ("/attendance/sessions/<int:session_id>/overrides", {"student_id": "N", "status": "present",
                                                         "reason": "r", "period": "N"}),
    ("/attendance/sessions/<int:session_id>/rollcall", {"present": "N", "reason": "r"}),
    ("/album/upload", {"album_id": "N"}),
    ("/album/search", {"photo_id": "N", "face_id": "N"}),
]  # fmt: skip


@pytest.mark.parametrize("rule, fields", FORMS, ids=[rule for rule, _ in FORMS])
@pytest.mark.parametrize("text", NUMBER_TEXTS, ids=lambda t: t[:20])
def test_form_integers_beyond_their_column_answer_4xx(client, scene, admin, login, rule, fields, text):
    assert login(client, "root@school.example", PASSWORD).status_code == 302
    csrf = csrf_token_from(client.get("/").get_data(as_text=True))
    url = ARG.sub(lambda m: str(scene.get(m.group("name"), 1)), rule)
    data = {key: text if value == "N" else value for key, value in fields.items()} | {"csrf_token": csrf}
    assert_refused(client.post(url, data=data), False, f"POST {url} {text[:20]}")
