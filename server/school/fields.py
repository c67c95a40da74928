"""Reading request values: one place that says what a valid code, name or id is, so that the API
and the web forms accept and refuse the same things with the same sentences.

Values arrive as JSON (already typed) or as form strings; the web layer converts form strings
(an empty field is None) before calling these.

Each validator has its JSON Schema beside it (`text_schema`, `STUDENT_NUMBER_SCHEMA`, `ID_SCHEMA`...),
and the pydantic field types at the end (`Text(200)`, `StudentNumber`, `NullableId`) join the two
for request models (`server/*/schemas.py`). Each schema is written to accept exactly what its
validator accepts: the OpenAPI document is built from
these, and tests/server/test_server_api_contract.py checks the pairs against each other on hostile
strings. That is why a text is stripped of ASCII whitespace only (`SPACE`: Python's `str.strip()`
also strips characters no schema pattern can name the same way) and its length is counted before
stripping (as JSON Schema's `maxLength` counts).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from flask_babel import gettext
from pydantic import BeforeValidator, ValidationInfo, WithJsonSchema

from server.db.types import INT_MAX
from server.school.errors import Invalid

STUDENT_NUMBER = re.compile(r"[A-Za-z0-9._-]{1,32}")
"""Student numbers also name photo files in bulk enrolment: letters, digits, dot, dash, underscore."""
DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""The id a device publishes under on MQTT: it is a topic level, so no '/', '+', '#' or spaces."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SPACE = " \t\n\r\x0b\x0c"
"""What a text field strips from both ends."""
UNICODE_SPACES = r"\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""The characters above U+007F that Python's `str.isspace()` calls space (a test checks the list)."""
_EDGE = r"[\t\n\x0b\x0c\r ]*"
TEXT_PATTERN = rf"^{_EDGE}[^\x00-\x1f\x7f]*[^\x00-\x20\x7f{UNICODE_SPACES}][^\x00-\x1f\x7f]*{_EDGE}$"
"""`text()` as a pattern (valid in Python and ECMA-262): spaces around one line without control
characters that shows at least one character other than a space."""
BLANK_PATTERN = rf"^[\t\n\x0b\x0c\r\x1c-\x1f {UNICODE_SPACES}]*$"
"""A text that `str.strip()` makes empty."""


def text_schema(max_length: int) -> dict[str, Any]:
    """The JSON Schema of `text(value, name, max_length)`."""
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": TEXT_PATTERN}


def _pattern_schema(core: re.Pattern[str], max_length: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length, "pattern": f"^{_EDGE}{core.pattern}{_EDGE}$"}


STUDENT_NUMBER_SCHEMA = _pattern_schema(STUDENT_NUMBER, 32)
DEVICE_ID_SCHEMA = _pattern_schema(DEVICE_ID, 64)
ID_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": INT_MAX}
"""A row id (INT key), as `optional_id` takes it."""
NULLABLE_ID_SCHEMA: dict[str, Any] = {**ID_SCHEMA, "type": ["integer", "null"]}


def text(
    value: Any, name: str, max_length: int, pattern: re.Pattern[str] | None = None, hint: str = ""
) -> str:
    """A required one-line string of at most `max_length` characters, stripped of `SPACE` (and
    matching `pattern`); `text_schema(max_length)` says the same."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid(gettext("'%(name)s' is required: give a non-empty text", name=name))
    if len(value) > max_length:
        raise Invalid(
            gettext("'%(name)s' is too long: at most %(length)s characters", name=name, length=max_length)
        )
    value = value.strip(SPACE)
    if _CONTROL.search(value):
        raise Invalid(
            gettext("'%(name)s' must not contain control characters (tabs, line breaks)", name=name)
        )
    if pattern is not None and not pattern.fullmatch(value):
        raise Invalid(
            gettext("'%(name)s' %(repr)s is not valid: %(hint)s", name=name, repr=repr(value), hint=hint)
        )
    return value


def student_number(value: Any, name: str = "student_number") -> str:
    return text(value, name, 32, STUDENT_NUMBER, "use 1 to 32 letters, digits, '.', '-' or '_'")


def device_id(value: Any, name: str = "device_id") -> str:
    return text(value, name, 64, DEVICE_ID, "use 1 to 64 letters, digits, '-' or '_'")


def integer(value: Any, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (JSON number without fraction; booleans are not integers here)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(gettext("'%(name)s' must be an integer", name=name))
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if minimum is not None and maximum is not None:
            message = gettext(
                "'%(name)s' must be an integer from %(low)s to %(high)s", name=name, low=minimum, high=maximum
            )
        elif minimum is not None:
            message = gettext("'%(name)s' must be an integer from %(low)s", name=name, low=minimum)
        else:
            message = gettext("'%(name)s' must be an integer to %(high)s", name=name, high=maximum)
        raise Invalid(message)
    return value


def optional_id(value: Any, name: str) -> int | None:
    """A row id or None (JSON null clears a link); ids are INT keys, 1 to 2^31-1."""
    return None if value is None else integer(value, name, minimum=1, maximum=INT_MAX)


def string_list(value: Any, name: str, max_items: int) -> list[str]:
    """A JSON list of strings (1 to `max_items`), duplicates dropped, order kept."""
    if not isinstance(value, list) or not value:
        raise Invalid(gettext("'%(name)s' must be a non-empty list of strings", name=name))
    if len(value) > max_items:
        raise Invalid(
            gettext(
                "'%(name)s' has %(count)s items: send at most %(items)s per request",
                name=name,
                count=len(value),
                items=max_items,
            )
        )
    if not all(isinstance(item, str) for item in value):
        raise Invalid(gettext("'%(name)s' must contain strings only", name=name))
    return list(dict.fromkeys(item.strip() for item in value if item.strip()))


def _checked(check: Callable[[Any, str], Any]) -> Callable[[Any, ValidationInfo], Any]:
    """A validator above as a pydantic before-validator: same checks, same sentence (a ValueError,
    which `server.api.shapes.error_text` answers as it is)."""

    def validate(value: Any, info: ValidationInfo) -> Any:
        try:
            return check(value, info.field_name or "value")
        except Invalid as error:
            raise ValueError(error.message) from None

    return validate


def Text(max_length: int) -> Any:
    """A model field that `text(value, name, max_length)` checks, documented as `text_schema`."""
    return Annotated[
        str,
        BeforeValidator(_checked(lambda value, name: text(value, name, max_length))),
        WithJsonSchema(text_schema(max_length)),
    ]


StudentNumber = Annotated[
    str, BeforeValidator(_checked(student_number)), WithJsonSchema(STUDENT_NUMBER_SCHEMA)
]
DeviceId = Annotated[str, BeforeValidator(_checked(device_id)), WithJsonSchema(DEVICE_ID_SCHEMA)]
NullableId = Annotated[int | None, BeforeValidator(_checked(optional_id)), WithJsonSchema(NULLABLE_ID_SCHEMA)]
"""A row id or null (null clears a link): 1 to 2^31-1, booleans and "7" refused."""


def split_numbers(raw: str) -> list[str]:
    """Student numbers typed or pasted into a form: separated by commas, semicolons or whitespace."""
    return [part for part in re.split(r"[\s,;]+", raw) if part]
