"""The account shapes (users, API tokens) shared by several endpoints: one pydantic model per shape
(`server.api.shapes`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask_babel import gettext
from pydantic import BeforeValidator, Field, WithJsonSchema

from server.api.shapes import Instant, RequestModel, ResponseModel
from server.db.enums import Role
from server.db.models import User as UserRow
from server.school import fields
from server.school.errors import Invalid


class User(ResponseModel):
    id: int
    email: Annotated[str, WithJsonSchema({"type": "string", "format": "email"})]
    display_name: str
    role: Role
    active: bool
    created_at: Instant
    last_login_at: Instant | None

    @classmethod
    def of(cls, user: UserRow) -> User:
        return cls.model_validate(user)


class Me(User):
    auth: Literal["session", "token"]


class ApiToken(ResponseModel):
    """A token's metadata; the token itself is never shown again after creation."""

    id: int
    name: str
    prefix: str = Field(description="The token's first characters, to recognise it.")
    created_at: Instant
    expires_at: Instant | None
    last_used_at: Instant | None
    revoked_at: Instant | None


class NewApiToken(ApiToken):
    token: str = Field(description="Shown once; store it now.")


def _token_name(value: Any) -> str:
    try:
        return fields.text(value, "name", 100)
    except Invalid as error:
        raise ValueError(
            gettext("%(problem)s: say in one line what the token is for", problem=error.message)
        ) from None


def _days(value: Any) -> int | None:
    try:
        return None if value is None else fields.integer(value, "expires_in_days", 1, 3650)
    except Invalid as error:
        raise ValueError(error.message) from None


class NewApiTokenRequest(RequestModel):
    name: Annotated[
        str,
        BeforeValidator(_token_name),
        WithJsonSchema({**fields.text_schema(100), "description": "What the token is for (one line)."}),
    ]
    expires_in_days: Annotated[
        int | None,
        BeforeValidator(_days),
        WithJsonSchema({"type": ["integer", "null"], "minimum": 1, "maximum": 3650}),
    ] = None
