"""The album, attendance and deepfake APIs are described by their pydantic models (issue 16): the
document keeps the component names clients know, no hand-written schema dict is left in their api
modules, request models refuse bad bodies with the services' own sentences, and keys that only some
answers carry are left out (not null) where they are not set."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from server.album.schemas import AlbumMerge, AlbumPersonUpdate, AlbumRequest
from server.api.shapes import error_text
from server.attendance import review
from server.attendance.schemas import RollCallRequest, UnknownClusterDecision, UnknownFace
from server.deepfake.schemas import DeepfakeCheck

ROOT = Path(__file__).resolve().parents[2]
API_MODULES = [
    "server/album/api.py",
    "server/attendance/api.py",
    "server/attendance/unknown_api.py",
    "server/deepfake/api.py",
]
COMPONENTS = {
    # album
    "Album", "AlbumFace", "AlbumFaceMoved", "AlbumPerson", "AlbumPersonDetail", "AlbumPhoto",
    "AlbumPhotoList", "AlbumSearch", "AlbumSearchResult", "AlbumUploadResult", "AlbumWaitingFaces",
    # attendance
    "AttendanceEvidence", "AttendanceOverrideRequest", "AttendanceOverrideResult", "AttendanceSession",
    "AuditEntry", "LearnedFace", "LiveState", "MyAttendance", "PeriodAttendance", "RollCallRequest",
    "RollCallResult", "SessionAttendance", "StudentAttendance", "UnknownClusterDecision",
    "UnknownClusterDecisionResult", "UnknownFace", "UnknownFaceDecision", "UnknownFaceDecisionResult",
    "UnknownFaceSearch", "UnlearnedFace",
    # deepfake
    "DeepfakeCheck", "DeepfakeHistory", "DeepfakeRefusedFile", "DeepfakeSubmission",
}  # fmt: skip


def test_the_document_keeps_the_component_names(client):
    components = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert set(components) >= COMPONENTS, sorted(COMPONENTS - set(components))


@pytest.mark.parametrize("module", API_MODULES)
def test_no_hand_written_schema_is_left_in_the_api_modules(module):
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    calls = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "schema"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "registry"
    ]
    assert calls == [], f"{module}: registry.schema(...) at lines {calls}"


def refusal(model, body: dict) -> str:
    """The 400 sentence for `body`, read as the API reads it (JSON, strict)."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(json.dumps(body))
    return error_text(caught.value, model)


def test_request_models_answer_with_the_services_sentences():
    assert refusal(RollCallRequest, {"entries": []}) == review.NO_ENTRIES
    assert "entries[1].status" in refusal(
        RollCallRequest,
        {"entries": [{"student_id": 1, "status": "present"}, {"student_id": 2, "status": "here"}]},
    )
    assert refusal(UnknownClusterDecision, {"decision": "maybe", "version": 1}).startswith(
        "'decision' must be one of assigned, not_a_student"
    )
    assert refusal(UnknownClusterDecision, {"decision": "assigned", "version": None}).startswith(
        "'version' must be the cluster's member count"
    )
    assert refusal(AlbumMerge, {"person_ids": "all"}) == "'person_ids' must be a list of integer ids"
    assert refusal(AlbumRequest, {"name": "   "}) == "an album needs a name"
    assert "feature_face_id" in refusal(AlbumPersonUpdate, {"feature_face_id": "3"})
    assert "unknown field(s) 'colour'" in refusal(AlbumPersonUpdate, {"colour": "red"})


def test_names_are_one_line_with_runs_of_spaces_made_one():
    assert AlbumRequest.model_validate_json(json.dumps({"name": " Summer   2025 "})).name == "Summer 2025"
    assert AlbumPersonUpdate.model_validate_json(json.dumps({"name": "  "})).name is None  # blank: no name
    update = AlbumPersonUpdate.model_validate_json(json.dumps({"hidden": True}))
    assert update.model_fields_set == {"hidden"}  # only what was sent changes


def test_keys_only_some_answers_carry_are_left_out_unless_set():
    face = {
        "id": 1,
        "session_id": 2,
        "device": "cam",
        "track_id": "t1",
        "decision": "pending",
        "student_id": None,
        "student_name": None,
        "decided_by": None,
        "decided_at": None,
        "sightings": 0,
        "first_seen": None,
        "last_seen": None,
        "best_score": None,
        "thumbnail_url": None,
    }
    bare = UnknownFace.model_validate(face).model_dump(mode="json")
    assert "cluster" not in bare and "suggestions" not in bare and bare["decided_at"] is None
    listed = UnknownFace.model_validate({**face, "cluster": None, "suggestions": []}).model_dump(mode="json")
    assert listed["cluster"] is None and listed["suggestions"] == []
    check = {
        "id": 1,
        "filename": "a.mp4",
        "media_kind": "video",
        "size_bytes": 3,
        "sha256": "00",
        "status": "queued",
        "error": None,
        "job_id": None,
        "progress": {"done": 0, "total": None, "message": None},
        "probability": None,
        "verdict": None,
        "verdict_label": None,
        "created_at": "2026-01-31T09:00:00Z",
        "finished_at": None,
        "url": "/deepfake/checks/1",
    }
    history_row = DeepfakeCheck.model_validate(check).model_dump(mode="json")
    assert not {"note", "result", "faces"} & set(history_row)
    assert history_row["created_at"] == "2026-01-31T09:00:00Z"
    full = DeepfakeCheck.model_validate({**check, "note": "n", "result": None, "faces": []})
    assert full.model_dump(mode="json")["result"] is None
