"""The served OpenAPI document describes the server as it is (issue 14: the 5 multipart bodies were
missing, 401 was documented where the server answered 400 for CSRF, and schemas disagreed with the
validators both ways). On SQLite and MariaDB:

* every route of `app.url_map` under /api/v1 is in the document and every documented operation is a
  route; the document is valid OpenAPI 3.1;
* every upload route (one with an upload limit) documents a multipart/form-data body;
* a probe walks every documented operation as an anonymous client, with a bad bearer token, and with
  the right role: ids 0, missing and beyond their column, hostile query values, broken bodies. Each
  status it observes must be documented for that operation, each success must match the documented
  schema, and for every query parameter the server and the schema agree on every probed value:
  a value the server refuses (400) is one the schema refuses, and the other way round.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from server.db.types import INT_MAX
from server.uploads.limits import LIMITED_ENDPOINTS

PREFIX = "/api/v1"
QUERY_VALUES = [
    "",
    "0",
    "1",
    "-1",
    "2",
    str(INT_MAX),
    str(INT_MAX + 1),
    "99999999999999999999",
    "abc",
    "null",
]
QUERY_VALUES += ["true", "2026-01-31", "2026-01-31T09:00:00Z", "2026-01-31T09:00:00", "queued", "1.5"]
PATH_IDS = ["0", "999999", str(INT_MAX + 1)]


@pytest.fixture
def document(client) -> dict[str, Any]:
    return client.get(f"{PREFIX}/openapi.json").get_json()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method.upper(), operation


def rule_path(rule: str) -> str:
    return re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule.removeprefix(PREFIX))


def test_every_route_is_documented_and_every_documented_operation_is_a_route(app, document):
    validate(document)  # a valid OpenAPI 3.1 document
    routes = {
        (rule_path(rule.rule), method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(PREFIX + "/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, method, _operation in operations(document)}
    assert routes - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "documented operations that are not routes"


def test_every_upload_route_documents_its_multipart_body(app, document):
    endpoints = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    uploads = {name for name in LIMITED_ENDPOINTS if name.startswith("api.")}
    # album photos and searches, deepfake checks, enrolment photos and import, unknown-face search,
    # faces compare
    assert len(uploads) == 7
    multipart = set()
    for endpoint in uploads:
        rule = endpoints[endpoint]
        (method,) = rule.methods - {"HEAD", "OPTIONS"}
        body = document["paths"][rule_path(rule.rule)][method.lower()]["requestBody"]
        schema = body["content"]["multipart/form-data"]["schema"]
        assert schema["type"] == "object" and (schema.get("properties") or schema.get("additionalProperties"))
        files = [
            name
            for name, field in {
                **schema.get("properties", {}),
                "*": schema.get("additionalProperties", {}),
            }.items()
            if field.get("format") == "binary" or field.get("items", {}).get("format") == "binary"
        ]
        assert files, f"{endpoint} documents no file field"
        multipart.add(endpoint)
    documented = {
        operation["operationId"]
        for _path, _method, operation in operations(document)
        if "multipart/form-data" in operation.get("requestBody", {}).get("content", {})
    }
    assert {f"api.{name}" for name in documented} == multipart


def test_writes_document_the_csrf_400_and_every_operation_the_bad_token_401(document):
    for path, method, operation in operations(document):
        codes = set(operation["responses"])
        assert "401" in codes, f"{method} {path}"
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            assert {"400", "408", "413"} <= codes, f"{method} {path}"


class Probe:
    """Sends requests to one operation and checks each answer against its documentation."""

    def __init__(self, client, document: dict[str, Any], tokens: dict[str, str]) -> None:
        self.client, self.document, self.tokens = client, document, tokens
        self.registry = Registry().with_resource("urn:openapi", DRAFT202012.create_resource(document))
        self.problems: list[str] = []
        self.requests = 0

    def schema(self, schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
        """A validator of `schema`, its `#/components/...` references resolved in the document."""
        return jsonschema.Draft202012Validator(
            self._resolve_refs(schema),
            registry=self.registry,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )

    def _resolve_refs(self, node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: ("urn:openapi" + value if key == "$ref" else self._resolve_refs(value))
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [self._resolve_refs(item) for item in node]
        return node

    def token_for(self, operation: dict[str, Any]) -> str | None:
        security = operation.get("security") or []
        if any("deviceToken" in item for item in security):
            return self.tokens["device"]
        return self.tokens["admin"]  # administrators hold every role: no object is out of their reach

    def send(self, label: str, method: str, path: str, operation: dict[str, Any], **kwargs: Any):
        self.requests += 1
        response = self.client.open(PREFIX + path, method=method, **kwargs)
        status = str(response.status_code)
        where = f"{method} {path} ({label})"
        if response.status_code >= 500:
            self.problems.append(f"{where}: {status} {response.get_data(as_text=True)[:200]}")
        elif status not in operation["responses"]:
            self.problems.append(f"{where}: {status} is not documented ({sorted(operation['responses'])})")
        elif response.status_code < 300 and response.is_json:
            content = operation["responses"][status].get("content", {}).get("application/json")
            if content is not None:
                errors = [e.message for e in self.schema(content["schema"]).iter_errors(response.get_json())]
                if errors:
                    self.problems.append(f"{where}: the answer does not match its schema: {errors[:2]}")
        return response


def fill(path: str, value: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: "S-1" if m.group(1) in ("device_id", "name") else value, path)


def readings(value: str) -> list[Any]:
    """What a query string value may stand for in a schema: itself, and the integer or the boolean
    it spells (OpenAPI serialises those as text in a query)."""
    meanings: list[Any] = [value]
    if re.fullmatch(r"-?[0-9]+", value):
        meanings.append(int(value))
    if value in ("true", "false"):
        meanings.append(value == "true")
    return meanings


@pytest.fixture
def tokens(db, make_user, make_token) -> dict[str, str]:
    from server.db.models import Device
    from server.devices.tokens import issue_device_token

    device = Device(device_id="probe-1", name="Probe")
    db.add(device)
    db.commit()
    tokens = {role: make_token(make_user(role)) for role in ("admin", "instructor", "album_user", "student")}
    tokens["device"] = issue_device_token(db, device)
    db.commit()
    return tokens


def test_every_status_the_probe_observes_is_documented(app, client, document, tokens, world):
    probe = Probe(client, document, tokens)
    for path, method, operation in operations(document):
        bearer = {"Authorization": f"Bearer {probe.token_for(operation)}"}
        probe.send("anonymous", method, fill(path, "1"), operation)
        probe.send(
            "bad token", method, fill(path, "1"), operation, headers={"Authorization": "Bearer vsg_nope"}
        )
        if "{" in path:
            for value in PATH_IDS:
                probe.send(f"id {value}", method, fill(path, value), operation, headers=bearer)
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            probe.send(
                "broken JSON",
                method,
                fill(path, "1"),
                operation,
                headers=bearer,
                data="{",
                content_type="application/json",
            )
            probe.send(
                "text body",
                method,
                fill(path, "1"),
                operation,
                headers=bearer,
                data="x",
                content_type="text/plain",
            )
            probe.send("empty object", method, fill(path, "1"), operation, headers=bearer, json={})
        if "multipart/form-data" in content:
            probe.send(
                "no file",
                method,
                fill(path, "1"),
                operation,
                headers=bearer,
                data={"x": "1"},
                content_type="multipart/form-data",
            )
            probe.send(
                "a text file",
                method,
                fill(path, "1"),
                operation,
                headers=bearer,
                data={
                    name: (io.BytesIO(b"not a photo"), "notes.jpg")
                    for name in ("file", "photos", "key", "zip")
                },
            )
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            validator = probe.schema(parameter["schema"])
            for value in QUERY_VALUES:
                answer = probe.send(
                    f"?{parameter['name']}={value}",
                    method,
                    re.sub(r"\{(\w+)\}", lambda m: str(world.get(m.group(1), 1)), path),
                    operation,
                    headers=bearer,
                    query_string={parameter["name"]: value},
                )
                if answer.status_code in (403, 404):
                    continue  # the path's object decided first: no verdict on the value
                accepted_by_schema = any(validator.is_valid(meaning) for meaning in readings(value))
                refused_by_server = answer.status_code == 400
                if refused_by_server == accepted_by_schema:
                    side = "the server refuses" if refused_by_server else "only the schema refuses"
                    probe.problems.append(
                        f"{method} {path}?{parameter['name']}={value!r}: {side} it "
                        f"({answer.status_code}, schema {parameter['schema']})"
                    )
    print(f"problems: {len(probe.problems)}, requests: {probe.requests}")
    assert probe.problems == [], "\n".join(probe.problems)


STRING_VALUES: list[Any] = [
    "",
    "   ",
    "\x01x",
    "x\x01y",
    "x\ny",
    "\tx\n",
    " x ",
    "x",
    "é\u00a0x",
    "\u3000",
    "x" * 5000,
]
INTEGER_VALUES: list[Any] = [0, -1, 1, INT_MAX, INT_MAX + 1, "1", 1.5]
ANY_VALUES: list[Any] = [None, True, [], {}]


@pytest.fixture
def world(client, tokens) -> dict[str, Any]:
    """One of each object a body may name, so that the bodies reach their validators."""
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    room = client.post(f"{PREFIX}/classrooms", json={"name": "Room 1"}, headers=admin).get_json()["id"]
    course = client.post(
        f"{PREFIX}/courses", json={"code": "C-1", "title": "Course"}, headers=admin
    ).get_json()["id"]
    student = client.post(
        f"{PREFIX}/students",
        json={"student_number": "S-1", "name": "Sam", "course_id": course},
        headers=admin,
    ).get_json()["id"]
    device = client.post(f"{PREFIX}/devices", json={"device_id": "dev-1"}, headers=admin).get_json()["id"]
    album_user = {"Authorization": f"Bearer {tokens['album_user']}"}
    album = client.post(f"{PREFIX}/album/albums", json={"name": "Trip"}, headers=album_user).get_json()["id"]
    return {
        "classroom_id": room,
        "course_id": course,
        "student_id": student,
        "device_pk": device,
        "device_id": "dev-1",
        "album_id": album,
    }


def sample(name: str, schema: dict[str, Any], world: dict[str, Any], document: dict[str, Any]) -> Any:
    """A value the schema accepts, naming the world's objects where the field is an id."""
    if "$ref" in schema:
        return sample(
            name, document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]], world, document
        )
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    kind = next(k for k in kind if k != "null") if isinstance(kind, list) else kind
    if kind == "integer":
        return world.get(name, schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if kind == "array":
        return [sample(name.removesuffix("s"), schema.get("items", {}), world, document)]
    if kind == "object":
        return {
            key: sample(key, schema["properties"][key], world, document) for key in schema.get("required", [])
        }
    return {"student_number": "S-1", "device_id": "dev-2", "date": "2026-01-31"}.get(
        name, "2026-01-31T09:00:00Z" if schema.get("format") == "date-time" else "Probe"
    )


def names_an_object(name: str, value: Any) -> bool:
    """An id field holding an id in range: which object it names is the server's knowledge, not
    the schema's (`'user_id' 1 is not a student account` is a 400 no schema can foresee)."""
    in_range = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= INT_MAX
    return in_range and name.endswith("_id")


def body_schema(operation: dict[str, Any], document: dict[str, Any]) -> dict[str, Any] | None:
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if schema is not None and "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_json_bodies_are_refused_by_the_server_exactly_when_their_schema_refuses_them(
    app, client, document, tokens, world
):
    """Control characters, blank and padded texts, ids 0 and beyond INT, nulls: for every field of
    every JSON body, the server's 400 and the schema's verdict agree."""
    probe = Probe(client, document, tokens)
    covered, skipped = 0, []
    for path, method, operation in operations(document):
        schema = body_schema(operation, document)
        if schema is None or "properties" not in schema:
            continue
        roles = operation.get("x-roles") or ["admin"]
        headers = {"Authorization": f"Bearer {tokens['album_user' if 'album_user' in roles else 'admin']}"}
        url = re.sub(r"\{(\w+)\}", lambda m: str(world.get(m.group(1), 1)), path)
        base = sample("", schema, world, document)
        first = probe.send("base body", method, url, operation, headers=headers, json=base)
        if first.status_code not in (200, 201, 202, 204, 409):
            skipped.append(f"{method} {path}: {first.status_code} {first.get_json()}")
            continue
        covered += 1
        validator = probe.schema(schema)
        for name, field in schema["properties"].items():
            declared = field.get("type") or field.get("anyOf") or ""
            values = (STRING_VALUES if "string" in str(declared) else []) + ANY_VALUES
            values += INTEGER_VALUES if "integer" in str(declared) else []
            for value in values:
                body = {**base, name: value}
                answer = probe.send(
                    f"{name}={value!r:.20}", method, url, operation, headers=headers, json=body
                )
                if answer.status_code in (403, 404):
                    continue
                refused_by_server = answer.status_code == 400
                if refused_by_server and names_an_object(name, value):
                    continue  # an id in range whose object does not exist (or is not the right kind)
                if refused_by_server == validator.is_valid(body):
                    side = "the server refuses" if refused_by_server else "only the schema refuses"
                    detail = answer.get_json() if refused_by_server else field
                    probe.problems.append(f"{method} {path} {name}={value!r:.30}: {side} it ({detail})")
    print(f"bodies: {covered} operations, {probe.requests} requests; not reached: {skipped}")
    assert covered >= 14, skipped
    print(f"problems: {len(probe.problems)}, requests: {probe.requests}")
    assert probe.problems == [], "\n".join(probe.problems)


HOSTILE_TEXTS = [
    "",
    " ",
    "   ",
    "x",
    " x ",
    "\tx\n",
    "x\ny",
    "x\ty",
    "\x01",
    "x\x01",
    "\x7f",
    "\x1cx",
    "x\x1c",
    "\x85",
    "\x85x",
    "\u3000",
    "\u3000x",
    "x\u3000",
    "\u00a0",
    "é",
    "\ufeff",
    "\ufeffx",
    "\u200b",
    "\u2028",
    "x\u2028y",
    "S-1",
    " S-1 ",
    "S 1",
    "s.1_2",
    "dev_1",
    "a" * 32,
    "a" * 33,
    " " + "a" * 32,
    "a" * 64,
    "a" * 65,
    "a" * 100,
    "a" * 101,
    "a" * 200,
    "a" * 201,
    " " * 150 + "a",
    "\n" * 5 + "x",
    "x" + "\r\n",
]


def test_the_unicode_spaces_of_the_text_pattern_are_those_of_python():
    import sys

    from server.school.fields import UNICODE_SPACES

    space = re.compile(f"[{UNICODE_SPACES}]")
    listed = {c for c in map(chr, range(0x80, sys.maxunicode + 1)) if space.fullmatch(c)}
    assert listed == {c for c in map(chr, range(0x80, sys.maxunicode + 1)) if c.isspace()}


@pytest.mark.parametrize("value", HOSTILE_TEXTS, ids=repr)
def test_each_text_validator_and_its_schema_agree(value):
    """The validators the API uses and the schemas the document shows, on hostile strings."""
    from server.album.errors import AlbumError
    from server.album.people import NAME_SCHEMA, rename
    from server.school import fields
    from server.school.errors import Invalid

    def accepts(check) -> bool:
        try:
            check()
        except (Invalid, AlbumError):
            return False
        return True

    class Person:
        name = None

    pairs = [
        (lambda: fields.text(value, "name", 100), fields.text_schema(100)),
        (lambda: fields.text(value, "title", 200), fields.text_schema(200)),
        (lambda: fields.student_number(value), fields.STUDENT_NUMBER_SCHEMA),
        (lambda: fields.device_id(value), fields.DEVICE_ID_SCHEMA),
        (lambda: rename(Person(), value), NAME_SCHEMA),
    ]
    for check, schema in pairs:
        validator = jsonschema.Draft202012Validator(schema)
        assert accepts(check) == validator.is_valid(value), (value, schema)


@pytest.mark.slow
def test_schemathesis_finds_no_undocumented_status_no_accepted_invalid_input_and_no_answer_off_schema(
    app, tokens, world
):
    """A tool nobody here wrote, against the served document: for every operation, generated valid
    and invalid requests (as an administrator, and as an album user for album operations) must get
    a documented status, invalid ones a 4xx, and successes an answer matching the schema.
    `positive_data_acceptance` is not asked for: a file the schema allows may still not be a photo,
    an id in range may name nothing, and JSON Schema counts 5.0 as an integer (docs/security.md)."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode
    from schemathesis.core.failures import FailureGroup
    from schemathesis.specs.openapi.checks import (
        negative_data_rejection,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_wsgi(f"{PREFIX}/openapi.json", app)
    failures: list[str] = []
    checks = [status_code_conformance, negative_data_rejection, response_schema_conformance]

    def attacker(operation: Any, token: str) -> Any:
        valid = operation.as_strategy(GenerationMode.POSITIVE)
        headers = {"Authorization": f"Bearer {token}"}

        @given(case=valid | operation.as_strategy(GenerationMode.NEGATIVE))
        @settings(
            max_examples=10,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def attack(case: Any) -> None:
            response = case.call(headers=headers)
            try:
                case.validate_response(response, checks=checks, headers=headers)
            except FailureGroup as exc:  # keep going: report them all at the end
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: {str(exc)[:300]}"
                )

        return attack

    for result in schema.get_all_operations():
        operation = result.ok()
        roles = operation.definition.raw.get("x-roles") or []
        attacker(operation, tokens["album_user" if "album_user" in roles else "admin"])()
    assert failures == [], "\n".join(failures[:20])
