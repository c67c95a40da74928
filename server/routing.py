"""Path integers bounded to the column they name: `<int:...>` is a key of an INT column (most
tables), `<bigid:...>` of a BIGINT one (`server.db.types.BigId`: sightings, jobs, deepfake checks).

Werkzeug's int converter takes any run of digits, and an id beyond its column went on to SQL:
`GET /api/v1/courses/9223372036854775808` was a 500 (SQLite's driver raises OverflowError), and a
5,000-digit id one too (Python refuses to parse it). Here such an id is a 404 with a sentence
before any view runs, on every route at once, API and web pages alike (issue 14).
"""

from __future__ import annotations

from flask import Flask
from flask_babel import gettext
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter, Map

from server.db.types import BIGINT_MAX, INT_MAX


class IdConverter(IntegerConverter):
    """Digits naming a row: 0 to `limit`; a bigger number answers 404 saying why."""

    limit = INT_MAX

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = None,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits, min, self.limit if max is None else max, signed)

    def to_python(self, value: str) -> int:
        digits = value.lstrip("-").lstrip("0") or "0"
        if len(digits) > len(str(self.max)) or int(digits) > self.max:  # the length first: no huge int()
            raise NotFound(
                gettext(
                    "No such resource: ids in this address are whole numbers up to %(max)s.", max=self.max
                )
            )
        return super().to_python(value)


class BigIdConverter(IdConverter):
    limit = BIGINT_MAX


CONVERTERS = {"int": IdConverter, "bigid": BigIdConverter}


def init_app(app: Flask) -> None:
    """Register the converters; call before any blueprint adds its rules."""
    app.url_map.converters.update(CONVERTERS)
