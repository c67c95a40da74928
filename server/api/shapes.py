"""The pydantic layer of the API: one model per JSON shape validates a request body, serialises a
response and is the OpenAPI component of that shape (issue 16: a shape used to be written three
times, as a documentation dict, a hand validator and a serialiser; why pydantic: docs/api.md).

`server.api.endpoints.api_route` calls these when a route declares `request=SomeModel` or
`response=SomeModel` (or `list[SomeModel]`); views never need to.

* Request bodies: read with the bounded JSON reader (`server.api.io.json_body`: 415, 413, nesting,
  64-bit integers), then validated by the model in strict mode (JSON types as written: "7" is not
  an integer, 1 is not a boolean) with unknown fields refused. The first problem becomes a 400
  `{"error": "<one sentence naming the field>"}` (`error_text`).
* Responses: what the view returns (a model instance, or a dict/list of the shape) is validated by
  the response type and dumped with `mode="json"`, so an answer that drifts from its documented
  shape is a server error in tests, not a silent lie in the document.
* Components: each model's JSON Schema with its nested models (`$defs`) hoisted to
  `#/components/schemas/{Model}`, named after the model class.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal

from flask import abort, request
from flask_babel import gettext
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic.json_schema import GenerateJsonSchema

from server.api.io import int_text, iso, json_body
from server.api.pydantic_texts import problem_text

Schema = dict[str, Any]
Mode = Literal["validation", "serialization"]
REF_TEMPLATE = "#/components/schemas/{model}"


class RequestModel(BaseModel):
    """A request body: strict JSON types, unknown fields refused (a misspelt field would otherwise be
    silently ignored)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    def sent(self) -> dict[str, Any]:
        """The fields the client sent, as JSON data: what a service taking a dict reads (the web
        forms call the same services), absent fields left out so that a PATCH changes only them."""
        return self.model_dump(mode="json", exclude_unset=True)


class QueryModel(BaseModel):
    """Query parameters: text read as the field's type (`?limit=5` is an integer), an empty value
    taken as absent (the default), parameters the model does not name ignored."""

    model_config = ConfigDict(extra="ignore")


def QueryInt(name: str, low: int, high: int) -> Any:
    """A query integer from `low` to `high`, refused with `server.api.io.query_int`'s sentence."""

    def check(value: Any) -> int:
        number = int_text(value) if isinstance(value, str) else None
        if number is None or not low <= number <= high:
            message = "'%(name)s' must be a whole number from %(low)s to %(high)s"  # as query_int says
            raise ValueError(gettext(message, name=name, low=low, high=high))
        return number

    return Annotated[
        int, BeforeValidator(check), WithJsonSchema({"type": "integer", "minimum": low, "maximum": high})
    ]


class ResponseModel(BaseModel):
    """A response body: built by the server from its own objects (from attributes allowed); a key
    the model does not name is refused, so an answer cannot grow undocumented fields."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")


Instant = Annotated[
    datetime,
    PlainSerializer(lambda value: iso(value), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""A point in time, answered as RFC 3339 in UTC with a Z (`server.api.io.iso`)."""


class _Generate(GenerateJsonSchema):
    """pydantic's generator without a `title` on every property (the name says it already)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: Any) -> Schema:
        """An optional request field's `None` default means "not sent", not "send null": left out."""
        generated = super().default_schema(schema)
        if "default" in generated and generated["default"] is None:
            del generated["default"]
        return generated


def is_shape(value: object) -> bool:
    """Whether `request=`/`response=`/`query=` got a pydantic type (a model or e.g. `list[Model]`)
    rather than hand-written schema dicts (still accepted while the areas are converted)."""
    return value is not None and not isinstance(value, dict | list | tuple)


@cache
def _adapter(shape: Any) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


def json_schema(shape: Any, mode: Mode) -> tuple[Schema, dict[str, Schema]]:
    """The schema to put in an operation (a `$ref` for a model) and the components it needs."""
    schema = _adapter(shape).json_schema(ref_template=REF_TEMPLATE, schema_generator=_Generate, mode=mode)
    components: dict[str, Schema] = schema.pop("$defs", {})
    if isinstance(shape, type) and issubclass(shape, BaseModel):
        components[shape.__name__] = schema
        return {"$ref": REF_TEMPLATE.format(model=shape.__name__)}, components
    return schema, components


def read_body(model: type[BaseModel]) -> BaseModel:
    """The request's JSON body as `model`, or a 4xx with one sentence saying what to fix."""
    json_body()  # the bounded reader's checks first; then the model reads the same bytes as JSON
    try:
        # JSON mode: in strict mode an enum or a date-time may still be written as a string
        return model.model_validate_json(request.get_data(cache=True))
    except ValidationError as error:
        abort(400, error_text(error, model))


def read_query(model: type[BaseModel]) -> BaseModel:
    """The request's query parameters as `model` (empty values absent), or a 400 naming the one."""
    names = [field.alias or name for name, field in model.model_fields.items()]
    sent = {name: request.args[name] for name in names if request.args.get(name, "").strip()}
    try:
        return model.model_validate(sent)
    except ValidationError as error:
        abort(400, error_text(error, model))


def query_parameters(model: type[BaseModel]) -> tuple[list[Schema], dict[str, Schema]]:
    """The documented query parameters of `model` (each property with its description) and the
    components they refer to (an enum, say); the model itself is no component."""
    _ref, components = json_schema(model, "validation")
    own = components.pop(model.__name__)
    parameters = []
    for name, field in own.get("properties", {}).items():
        schema = {key: value for key, value in field.items() if key != "description"}
        parameter = {"name": name, "schema": schema}
        if "description" in field:
            parameter["description"] = field["description"]
        parameters.append(parameter)
    return parameters, components


def dump(shape: Any, value: Any) -> Any:
    """`value` (a model instance, or plain data of the shape) checked against `shape`, as JSON data."""
    adapter = _adapter(shape)
    checked = adapter.validate_python(value, strict=False, from_attributes=True)
    return adapter.dump_python(checked, mode="json")


def error_text(error: ValidationError, model: type[BaseModel]) -> str:
    """One sentence for the first problem: the field in quotes, then what is wrong with it."""
    problems = error.errors(include_url=False)
    unknown = [_where(p["loc"]) for p in problems if p["type"] == "extra_forbidden"]
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        takes = ", ".join(sorted(model.model_fields))
        return gettext("unknown field(s) %(names)s: this request takes %(join)s", names=names, join=takes)
    first = problems[0]
    where = _where(first["loc"])
    if first["type"] == "missing":
        return gettext("'%(name)s' is required", name=where)
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, ValueError) and str(cause):
        return str(cause)  # a field validator's own sentence, which names the field
    message = problem_text(first)  # pydantic's, in the request's language (server/api/pydantic_texts.py)
    return f"'{where}': {message}" if where else message


def _where(loc: tuple[int | str, ...]) -> str:
    """`('weekly', 'weekday')` -> `weekly.weekday`; `('items', 3)` -> `items[3]`; union and
    validator labels (`function-before[...]`) left out."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif "[" not in part and "-" not in part:
            text += f".{part}" if text else part
    return text
