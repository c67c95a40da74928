"""The pydantic layer of the API (server/api/shapes.py and the route wrapper of
server/api/endpoints.py), on the real models: one sentence naming the field for a bad body, the
documented components generated from the models, answers checked against their model.

The whole API against its document is tests/server/test_server_api_contract.py; this file pins the
rules that one relies on, without a database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask, Response
from pydantic import ValidationError

from server.api.endpoints import _shaped
from server.api.shapes import ResponseModel, dump, error_text, json_schema
from server.faces_api.schemas import FaceCompareRequest
from server.jobs.schemas import Job, JobList
from server.school.schemas import CourseCreate, LectureSessionCreate, StudentDetail


def refusal(model: type, body: str) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(body)
    return error_text(caught.value, model)


@pytest.mark.parametrize(
    ("model", "body", "sentence"),
    [
        (CourseCreate, '{"title": "T"}', "'code' is required"),
        (
            CourseCreate,
            '{"code": "C", "title": "T", "colour": 1, "size": 2}',
            "unknown field(s) 'colour', 'size': this request takes code, instructor_id, title",
        ),
        # a validator of server/school/fields.py: its own sentence, as the web forms show it
        (CourseCreate, '{"code": "C", "title": "a\\tb"}', "'title' must not contain control characters"),
        (
            CourseCreate,
            '{"code": "C", "title": "T", "instructor_id": "7"}',
            "'instructor_id' must be an integer",
        ),
        (
            LectureSessionCreate,
            '{"classroom_id": 1, "weekly": {"weekday": "mon"}}',
            "'weekly.start_time' is required",
        ),
        # a type pydantic checks itself: its message after the field
        (LectureSessionCreate, '{"classroom_id": 1, "weekly": 5}', "'weekly': input should be an object"),
        (FaceCompareRequest, '{"source_photo_id": 1, "target_photo_id": true}', "'target_photo_id' must be"),
    ],
)
def test_a_bad_body_gets_one_sentence_naming_the_field(model, body, sentence):
    assert refusal(model, body).startswith(sentence)


def test_strict_json_types_and_the_fields_that_were_sent():
    body = CourseCreate.model_validate_json('{"code": " C1 ", "title": "Intro"}')
    assert body.sent() == {"code": "C1", "title": "Intro"}  # stripped; instructor_id not sent, not there
    assert "integer" in refusal(CourseCreate, '{"code": "C", "title": "T", "instructor_id": true}')


def test_components_are_generated_from_the_models_with_nested_models_hoisted():
    schema, components = json_schema(list[StudentDetail], "serialization")
    assert schema == {"type": "array", "items": {"$ref": "#/components/schemas/StudentDetail"}}
    detail = components["StudentDetail"]
    assert detail["properties"]["courses"]["items"] == {"$ref": "#/components/schemas/CourseRef"}
    assert "CourseRef" in components and "$defs" not in detail
    assert all("title" not in field for field in detail["properties"].values())
    assert detail["properties"]["user_id"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}

    ref, components = json_schema(CourseCreate, "validation")
    assert ref == {"$ref": "#/components/schemas/CourseCreate"}
    created = components["CourseCreate"]
    assert created["required"] == ["code", "title"] and created["additionalProperties"] is False
    assert "default" not in created["properties"]["instructor_id"]  # "not sent", not "send null"

    _ref, components = json_schema(Job, "serialization")
    assert components["JobStatus"]["enum"] == ["queued", "running", "succeeded", "failed", "cancelled"]


def job(**changes: Any) -> dict[str, Any]:
    started = datetime(2026, 1, 31, 9, 0, 0, 123456, tzinfo=timezone(timedelta(hours=9)))
    return {
        "id": 1,
        "kind": "album.index",
        "status": "running",
        "progress": {"done": 1, "total": 4, "fraction": 0.25},
        "message": None,
        "result": None,
        "error": None,
        "attempts": 1,
        "created_at": started,
        "started_at": started,
        "finished_at": None,
        **changes,
    }


def test_answers_are_checked_against_their_model_and_written_in_utc():
    answer = dump(JobList, {"jobs": [job()]})
    assert answer["jobs"][0]["started_at"] == "2026-01-31T00:00:00.123456Z"
    with pytest.raises(ValidationError):
        dump(JobList, {"jobs": [job(secret_path="/srv/x")]})  # a key the document does not show
    with pytest.raises(ValidationError):
        dump(Job, job(status="paused"))


class Echo(ResponseModel):
    value: int


def routed(view, request=None, response=None, form: bool = False) -> Flask:
    app = Flask(__name__)
    app.add_url_rule("/x", view_func=_shaped(view, request, response, form=form), methods=["POST"])
    return app


def test_the_route_wrapper_reads_the_body_and_lets_errors_and_responses_through():
    def create(body: FaceCompareRequest | None) -> Any:
        if body is None:
            return Response("form", status=200)
        if body.source_photo_id == 9:
            return {"error": "no such photo"}, 404  # an error answer is not the response model's
        return {"value": body.source_photo_id}, 201

    client = routed(create, FaceCompareRequest, Echo, form=True).test_client()
    made = client.post("/x", json={"source_photo_id": 3, "target_photo_id": 4})
    assert (made.status_code, made.get_json()) == (201, {"value": 3})
    missing = client.post("/x", json={"source_photo_id": 9, "target_photo_id": 4})
    assert (missing.status_code, missing.get_json()) == (404, {"error": "no such photo"})
    assert client.post("/x", data={"source": "file"}).get_data(as_text=True) == "form"  # body=None

    json_only = routed(create, FaceCompareRequest, Echo).test_client()
    assert json_only.post("/x", data={"source": "file"}).status_code == 415
