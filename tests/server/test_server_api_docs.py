"""The OpenAPI document: served by the server, and describing every API route there is."""

from __future__ import annotations

import re

import pytest

from server.api.endpoints import ApiRegistry, Operation, api_route


def test_openapi_document_is_served_without_authentication(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    assert document["servers"] == [{"url": "/api/v1"}]
    me = document["paths"]["/me"]["get"]
    assert me["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Me"
    }
    assert me["responses"]["401"] == {"$ref": "#/components/responses/E401"}
    assert {"bearerAuth": []} in me["security"]
    assert document["paths"]["/openapi.json"]["get"]["security"] == []
    revoke = document["paths"]["/tokens/{token_id}"]["delete"]
    assert revoke["parameters"][0] == {
        "name": "token_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},  # an INT key (server.routing)
    }


def test_every_api_route_is_documented_and_every_reference_resolves(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = rule.rule.removeprefix("/api/v1")
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)  # <int:id>, <bigid:id>, <name>
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {rule.rule} is not in the OpenAPI document"

    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in refs(document):
        section, name = ref.removeprefix("#/components/").split("/")
        assert name in document["components"][section], ref


def test_operation_documents_parameters_body_and_errors():
    operation = Operation(
        rule="/courses/<int:course_id>/photos/<name>",
        method="POST",
        operation_id="upload_photo",
        summary="Upload",
        description="",
        roles=(),
        public=False,
        request={"type": "object"},
        response=None,
        status=201,
        errors=(404, 413),
        tags=("enrolment",),
        query=({"name": "dry_run", "schema": {"type": "boolean"}},),
    )
    assert operation.path == "/courses/{course_id}/photos/{name}"
    document = operation.document()
    assert [p["name"] for p in document["parameters"]] == ["course_id", "name", "dry_run"]
    assert document["parameters"][1]["schema"] == {"type": "string"}
    # 400/408/413: any write (CSRF, a body that stops, a body too large); 415: a JSON body; 404: a path id
    assert set(document["responses"]) == {"201", "400", "401", "404", "408", "413", "415"}
    assert "requestBody" in document


def operation(rule: str, method: str = "GET", operation_id: str = "op") -> Operation:
    return Operation(rule, method, operation_id, "s", "", (), False, None, None, 200, (), (), ())


def test_registry_refuses_duplicates():
    registry = ApiRegistry()
    registry.schema("Thing", {"type": "object"})
    registry.schema("Thing", {"type": "object"})  # the same definition again is fine
    with pytest.raises(ValueError, match="already registered"):
        registry.schema("Thing", {"type": "string"})
    registry.add(operation("/things/<int:thing_id>", operation_id="get_thing"))
    with pytest.raises(ValueError, match="used twice"):
        registry.add(operation("/other", operation_id="get_thing"))
    with pytest.raises(ValueError, match="declared twice"):
        registry.add(operation("/things/<thing_id>", operation_id="get_thing_again"))


def test_late_endpoint_declaration_says_where_to_declare_it(app):
    with pytest.raises(RuntimeError, match="ENDPOINT_MODULES"):
        api_route("/too-late")(lambda: {})
