"""The JSON API's blueprint and the registry that documents every endpoint as it is declared.

Adding an endpoint (say in `server/attendance/api.py`), its shapes as pydantic models in the area's
`schemas.py` (`server.api.shapes`; why pydantic: docs/api.md):

    # server/attendance/schemas.py
    class SessionNote(RequestModel):            # strict JSON types, unknown fields refused
        text: Text(500)                         # server.school.fields: stripped, one line, <= 500
        student_id: NullableId = None           # optional; null allowed

    class Session(ResponseModel):
        id: int
        status: SessionStatus                   # an enum: its own component, values listed
        confirmed_at: Instant | None            # RFC 3339 UTC with a Z, or null

    # server/attendance/api.py
    @api_route("/sessions/<int:session_id>/notes", "POST", roles=[Role.INSTRUCTOR],
               request=SessionNote, response=Session, status=201, errors=[404], tags=["attendance"])
    def add_session_note(session_id: int, body: SessionNote) -> tuple[Session, int]:
        \"\"\"Note something about a lecture session.

        Longer text here becomes the operation's description.\"\"\"
        ...
        return Session.model_validate(lecture), 201   # or a dict of the same shape

`request=` reads the JSON body through the model and passes it as `body` (a bad body is a 400
naming the field, before the view runs); `response=` (a model, or e.g. `list[Session]`) checks and
serialises what the view returns on success; `query=` (a `QueryModel`) reads the query parameters
and passes them as `query`; all become components of the document. Hand-written
schema dicts (`registry.schema(name, {...})`) are still accepted while areas are converted.

Then add `"server.attendance.api"` to `ENDPOINT_MODULES` in `server/api/__init__.py`. That is all:
the view is registered on the `/api/v1` blueprint, wrapped in the role check (`roles=[]` means
any signed-in user, `public=True` no check at all), and `/api/v1/openapi.json` documents its path
parameters, query parameters, request body (`request=` JSON, `form=` multipart/form-data),
responses and security. Fail with `abort(404, "no such session")`: the client gets
`{"error": "no such session"}`.

The statuses the framework itself answers are added to `errors` by `Operation.statuses()`, so the
document lists every status an endpoint can return (tests/server/test_server_api_contract.py
walks every route and checks each status it observes is documented):
* 401 on every endpoint, public ones too: a bad bearer token is refused on any URL
  (server.auth.manager);
* 403 where a role or a device token is needed;
* 400, 408 and 413 on every state-changing method: without a bearer token the CSRF check runs
  first (400), a body that stops arriving is a 408 (server.bodyread), a form body over
  MAX_CONTENT_LENGTH a 413;
* 400, 413 and 415 with a JSON or multipart body (invalid, too large, another media type);
* 404 with a path parameter (unknown, not the caller's, or beyond its column: server.routing);
* 400 with a query parameter (server.api.io.query_int). An empty query value means the parameter
  is absent (its default), and the document says so.
A test checks that every route under /api/v1 is documented.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint, Response
from flask import request as flask_request
from pydantic import BaseModel

import shared
from server.api.shapes import Mode, dump, is_shape, json_schema, query_parameters, read_body, read_query
from server.auth.decorators import role_required
from server.db.enums import Role
from server.db.types import BIGINT_MAX, INT_MAX

Schema = dict[str, Any]

API_PREFIX = "/api/v1"
api = Blueprint("api", __name__, url_prefix=API_PREFIX)

ERROR_TEXT = {
    400: "The request is malformed or fails validation; on a state-changing request without a bearer "
    "token, the CSRF check failed (send the session's token in `X-CSRFToken`).",
    401: "Not authenticated: no valid session or bearer token (a bad bearer token is refused on any URL).",
    403: "Authenticated, but the account lacks the role or the access this needs.",
    404: "No such resource (or not one this account may see, or an id beyond its column's range).",
    408: "The request body stopped arriving before its announced Content-Length; send it again.",
    409: "Conflicts with the current state (e.g. a duplicate).",
    413: "The request body or an uploaded file is too large (the message says the limit).",
    415: "Unsupported media type.",
    422: "Well-formed but not processable (e.g. a photo without a face).",
    429: "Too many requests; retry later.",
    503: "Temporarily unavailable (e.g. the server's models are not exported yet); retry later.",
}

_CONVERTER_TYPES = {
    "int": {"type": "integer", "minimum": 0, "maximum": INT_MAX},  # server.routing
    "bigid": {"type": "integer", "format": "int64", "minimum": 0, "maximum": BIGINT_MAX},
    "float": {"type": "number"},
    "uuid": {"type": "string", "format": "uuid"},
}
_RULE_PARAM = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EMPTY_QUERY_VALUE: Schema = {"type": "string", "maxLength": 0, "description": "Empty: the default."}
FILE: Schema = {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"}
FILES: Schema = {"type": "array", "items": FILE, "minItems": 1}
"""A multipart field holding one file, and one that may repeat (several files)."""


@dataclass
class Operation:
    """One documented endpoint."""

    rule: str
    method: str
    operation_id: str
    summary: str
    description: str
    roles: tuple[Role, ...]
    public: bool
    request: Schema | None
    response: Schema | None
    status: int
    errors: tuple[int, ...]
    tags: tuple[str, ...]
    query: tuple[Schema, ...]
    # Security schemes other than a user's (e.g. "deviceToken"): the view checks them itself.
    security: tuple[str, ...] = ()
    # A multipart/form-data body (uploads): an object schema whose file fields are FILE or FILES.
    form: Schema | None = None

    @property
    def path(self) -> str:
        """The rule in OpenAPI's notation: `/sessions/<int:id>` -> `/sessions/{id}`."""
        return _RULE_PARAM.sub(lambda m: "{" + m.group("name") + "}", self.rule)

    def document(self) -> Schema:
        parameters = [
            {
                "name": m.group("name"),
                "in": "path",
                "required": True,
                "schema": _CONVERTER_TYPES.get(m.group("converter") or "", {"type": "string"}),
            }
            for m in _RULE_PARAM.finditer(self.rule)
        ]
        parameters += [_query_parameter(param) for param in self.query]
        success: Schema = {"description": "Success."}
        if self.response is not None:
            success["content"] = {"application/json": {"schema": self.response}}
        responses: dict[str, Schema] = {str(self.status): success}
        for code in sorted(self.statuses()):
            responses[str(code)] = {"$ref": f"#/components/responses/E{code}"}
        operation: Schema = {
            "operationId": self.operation_id,
            "summary": self.summary,
            "tags": list(self.tags),
            "responses": responses,
            "security": [] if self.public else self._security(),
        }
        if self.description:
            operation["description"] = self.description
        if self.roles:
            operation["x-roles"] = [role.value for role in self.roles]
        if parameters:
            operation["parameters"] = parameters
        content: dict[str, Schema] = {}
        if self.request is not None:
            content["application/json"] = {"schema": self.request}
        if self.form is not None:
            content["multipart/form-data"] = {"schema": self.form}
        if content:
            operation["requestBody"] = {"required": True, "content": content}
        return operation

    def statuses(self) -> set[int]:
        """Every status this endpoint can answer besides success (see the module docstring)."""
        codes = set(self.errors) | {401}
        if not self.public and (self.roles or self.security):
            codes.add(403)
        if self.method in WRITE_METHODS:
            codes |= {400, 408, 413}
        if self.request is not None or self.form is not None:
            codes |= {400, 413, 415}
        if _RULE_PARAM.search(self.rule):
            codes.add(404)
        if self.query:
            codes.add(400)
        return codes

    def _security(self) -> list[Schema]:
        if self.security:
            return [{name: []} for name in self.security]
        return [{"bearerAuth": []}, {"sessionCookie": []}]


@dataclass
class ApiRegistry:
    """Operations and named schemas, rendered on demand as an OpenAPI 3.1 document."""

    title: str = "Visage API"
    operations: list[Operation] = field(default_factory=list)
    schemas: dict[str, Schema] = field(default_factory=dict)

    def schema(self, name: str, schema: Schema) -> Schema:
        """Register a named schema (components/schemas) and return a `$ref` to it."""
        if name in self.schemas and self.schemas[name] != schema:
            raise ValueError(f"the API schema {name!r} is already registered with another definition")
        self.schemas[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}

    def shape(self, shape: Any, mode: Mode) -> Schema:
        """Register a pydantic model's (or e.g. `list[Model]`'s) components; return its schema."""
        schema, components = json_schema(shape, mode)
        for name, component in components.items():
            self.schema(name, component)
        return schema

    def query(self, model: type[BaseModel]) -> list[Schema]:
        """The query parameters a `QueryModel` documents; registers the components they refer to."""
        parameters, components = query_parameters(model)
        for name, component in components.items():
            self.schema(name, component)
        return parameters

    def add(self, operation: Operation) -> None:
        for known in self.operations:
            if known.operation_id == operation.operation_id:
                raise ValueError(f"the API operation id {operation.operation_id!r} is used twice")
            if (known.path, known.method) == (operation.path, operation.method):
                raise ValueError(f"{operation.method} {operation.path} is declared twice in the API")
        self.operations.append(operation)

    def document(self) -> Schema:
        paths: dict[str, Schema] = {}
        for operation in sorted(self.operations, key=lambda op: (op.path, op.method)):
            paths.setdefault(operation.path, {})[operation.method.lower()] = operation.document()
        responses = {
            f"E{code}": {
                "description": text,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
            for code, text in ERROR_TEXT.items()
        }
        return {
            "openapi": "3.1.0",
            "info": {
                "title": self.title,
                "version": shared.__version__,
                "description": 'Errors are JSON objects `{"error": "one sentence"}` with a 4xx status. '
                "Authenticate with `Authorization: Bearer <token>` (create one with `visage server "
                "create-token` or POST /tokens); a browser session works too, with an `X-CSRFToken` "
                "header on state-changing requests.",
            },
            "servers": [{"url": API_PREFIX}],
            "paths": paths,
            "components": {
                "schemas": dict(sorted(self.schemas.items())),
                "responses": responses,
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer"},
                    "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "visage_session"},
                    "deviceToken": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "A device's own token (vsd_...), from `visage server device-token`.",
                    },
                },
            },
        }


def _query_parameter(param: Schema) -> Schema:
    """A declared query parameter as documented: optional, and empty meaning absent."""
    schema = param.get("schema", {"type": "string"})
    constrained = set(schema) & {"minLength", "pattern", "enum", "format"}
    if schema.get("type") != "string" or constrained:
        schema = {"anyOf": [schema, EMPTY_QUERY_VALUE]}
    return {"in": "query", "required": False, **param, "schema": schema}


registry = ApiRegistry()
registry.schema(
    "Error",
    {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
)


def api_route(
    rule: str,
    method: str = "GET",
    *,
    summary: str | None = None,
    roles: Sequence[Role | str] = (),
    public: bool = False,
    request: Schema | type[BaseModel] | None = None,
    response: Schema | Any = None,
    status: int = 200,
    errors: Sequence[int] = (),
    tags: Sequence[str] = (),
    query: Sequence[Schema] | type[BaseModel] = (),
    operation_id: str | None = None,
    security: Sequence[str] = (),
    form: Schema | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare an API endpoint: route it under /api/v1, guard it, and document it (see module doc)."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        if api._got_registered_once:  # Flask would refuse too, with a less helpful message
            raise RuntimeError(
                f"API endpoint {view.__module__}.{view.__name__} declared after the API blueprint was "
                "registered: list its module in server.api.ENDPOINT_MODULES"
            )
        doc = (view.__doc__ or "").strip()
        first, _, rest = doc.partition("\n\n")
        operation = Operation(
            rule=rule,
            method=method.upper(),
            operation_id=operation_id or view.__name__,
            summary=summary or " ".join(first.split()) or view.__name__,
            description=" ".join(rest.split()) if summary is None else " ".join(doc.split()),
            roles=tuple(Role(role) for role in roles),
            public=public,
            request=registry.shape(request, "validation") if is_shape(request) else request,
            response=registry.shape(response, "serialization") if is_shape(response) else response,
            status=status,
            errors=tuple(errors),
            tags=tuple(tags),
            query=tuple(registry.query(query) if is_shape(query) else query),
            security=tuple(security),
            form=form,
        )
        registry.add(operation)
        shaped = _shaped(
            view,
            request if is_shape(request) else None,
            response if is_shape(response) else None,
            form=form is not None,
            query=query if is_shape(query) else None,
        )
        # `security`: the view checks its own credential (e.g. server.devices.tokens.device_required).
        guarded = shaped if public or security else role_required(*operation.roles)(shaped)
        api.add_url_rule(rule, endpoint=operation.operation_id, view_func=guarded, methods=[operation.method])
        return view

    return decorator


def _shaped(
    view: Callable[..., Any], request: Any, response: Any, form: bool = False, query: Any = None
) -> Callable[..., Any]:
    """`view` with its body read as the `request` model (passed as `body=`), its query parameters as
    the `query` model (passed as `query=`), and its success answer checked and serialised through the
    `response` type; errors and `Response` objects pass as they are. A route that takes a multipart
    `form=` too gets `body=None` unless the request is JSON."""
    if request is None and response is None and query is None:
        return view

    @wraps(view)
    def shaped(*args: Any, **kwargs: Any) -> Any:
        if query is not None:
            kwargs["query"] = read_query(query)
        if request is not None:
            kwargs["body"] = None if form and not flask_request.is_json else read_body(request)
        result = view(*args, **kwargs)
        if response is None:
            return result
        value, rest = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
        if isinstance(value, Response) or (rest and isinstance(rest[0], int) and rest[0] >= 300):
            return result
        return (dump(response, value), *rest) if rest else dump(response, value)

    return shaped
