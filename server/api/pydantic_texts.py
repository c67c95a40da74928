"""pydantic's own sentences for a bad request body, marked for the catalogue.

pydantic writes its messages in English ("Input should be a valid integer") and knows nothing of
Flask-Babel. `server.api.shapes.error_text` looks the first problem up here by its error type and
answers the catalogue's sentence; a message these templates do not reproduce word for word (a
pydantic upgrade that rewords one, a type not listed) stays pydantic's English, so the English
answer never changes. Templates are lower-case first, as `error_text` writes pydantic's message
after the field name; tests/server/test_server_i18n_api_texts.py checks them against pydantic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext

from server.i18n import N_

# error type -> the English sentences pydantic writes for it in strict JSON mode, with its context
# values as %(name)s (two templates where pydantic adds a plural "s": the right one is the one that
# reproduces the message).
TEMPLATES: dict[str, tuple[str, ...]] = {
    "int_type": (N_("input should be a valid integer"),),
    "string_type": (N_("input should be a valid string"),),
    "bool_type": (N_("input should be a valid boolean"),),
    "float_type": (N_("input should be a valid number"),),
    "dict_type": (N_("input should be an object"),),
    "model_type": (N_("input should be an object"),),
    "list_type": (N_("input should be a valid array"),),
    "string_too_long": (
        N_("string should have at most %(max_length)s character"),
        N_("string should have at most %(max_length)s characters"),
    ),
    "string_too_short": (
        N_("string should have at least %(min_length)s character"),
        N_("string should have at least %(min_length)s characters"),
    ),
    "too_long": (
        N_("list should have at most %(max_length)s item after validation, not %(actual_length)s"),
        N_("list should have at most %(max_length)s items after validation, not %(actual_length)s"),
    ),
    "too_short": (
        N_("list should have at least %(min_length)s item after validation, not %(actual_length)s"),
        N_("list should have at least %(min_length)s items after validation, not %(actual_length)s"),
    ),
    "greater_than_equal": (N_("input should be greater than or equal to %(ge)s"),),
    "less_than_equal": (N_("input should be less than or equal to %(le)s"),),
    "greater_than": (N_("input should be greater than %(gt)s"),),
    "less_than": (N_("input should be less than %(lt)s"),),
    "enum": (N_("input should be %(expected)s"),),
    "literal_error": (N_("input should be %(expected)s"),),
    "datetime_type": (N_("input should be a valid datetime"),),
    "datetime_parsing": (N_("input should be a valid datetime, %(error)s"),),
    "date_type": (N_("input should be a valid date"),),
    "date_parsing": (N_("input should be a valid date in the format YYYY-MM-DD, %(error)s"),),
    "time_type": (N_("input should be a valid time"),),
    "time_parsing": (N_("input should be in a valid time format, %(error)s"),),
}


def lower_first(message: str) -> str:
    """pydantic's sentence as it follows a field name: "Input should..." -> "input should..."."""
    return message[:1].lower() + message[1:]


def problem_text(problem: Mapping[str, Any]) -> str:
    """The first-letter-lowered message of one pydantic problem, in the request's language when a
    template here reproduces its English exactly; pydantic's English otherwise."""
    english = lower_first(str(problem["msg"]))
    values = {key: str(value) for key, value in (problem.get("ctx") or {}).items()}
    for template in TEMPLATES.get(str(problem["type"]), ()):
        try:
            if template % values == english:
                return gettext(template, **values)
        except (KeyError, ValueError, TypeError):
            continue
    return english
