"""Account endpoints: who am I, and my API tokens."""

from __future__ import annotations

from typing import Any

from flask import abort, g
from flask_login import current_user
from sqlalchemy import select

from server.api.endpoints import api_route, registry
from server.api.io import json_body
from server.api.schemas import API_TOKEN, USER, token_json, user_json
from server.auth import tokens
from server.db import db_session
from server.db.models import ApiToken
from server.school import fields
from server.school.errors import Invalid

ME = registry.schema(
    "Me",
    {
        "allOf": [
            USER,
            {
                "type": "object",
                "properties": {"auth": {"type": "string", "enum": ["session", "token"]}},
                "required": ["auth"],
            },
        ]
    },
)
NEW_TOKEN_REQUEST = registry.schema(
    "NewApiTokenRequest",
    {
        "type": "object",
        "properties": {
            "name": {**fields.text_schema(100), "description": "What the token is for (one line)."},
            "expires_in_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 3650},
        },
        "required": ["name"],
    },
)
NEW_TOKEN = registry.schema(
    "NewApiToken",
    {
        "allOf": [
            API_TOKEN,
            {
                "type": "object",
                "properties": {"token": {"type": "string", "description": "Shown once; store it now."}},
                "required": ["token"],
            },
        ]
    },
)


@api_route("/me", "GET", response=ME, tags=["accounts"])
def get_me() -> dict[str, Any]:
    """The authenticated account, and how it authenticated."""
    return {**user_json(current_user), "auth": "token" if "api_token" in g else "session"}


@api_route("/tokens", "GET", response={"type": "array", "items": API_TOKEN}, tags=["accounts"])
def list_tokens() -> list[dict[str, Any]]:
    """The caller's API tokens, newest first (revoked ones included, marked by `revoked_at`)."""
    rows = db_session.scalars(
        select(ApiToken).where(ApiToken.user_id == current_user.id).order_by(ApiToken.id.desc())
    )
    return [token_json(row) for row in rows]


@api_route("/tokens", "POST", request=NEW_TOKEN_REQUEST, response=NEW_TOKEN, status=201, tags=["accounts"])
def create_token() -> tuple[dict[str, Any], int]:
    """Create an API token for the caller; the response is the only time the token is shown."""
    body = json_body()
    days = body.get("expires_in_days")
    try:
        name = fields.text(body.get("name"), "name", 100)
    except Invalid as exc:
        abort(400, f"{exc.message}: say in one line what the token is for")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3650):
        abort(400, "'expires_in_days' must be an integer from 1 to 3650")
    user = current_user._get_current_object()
    row, token = tokens.create(db_session, user, name, days, actor=user)  # audited, as on the settings page
    db_session.commit()
    return {**token_json(row), "token": token}, 201


@api_route("/tokens/<int:token_id>", "DELETE", response=API_TOKEN, errors=[404], tags=["accounts"])
def revoke_token(token_id: int) -> dict[str, Any]:
    """Revoke one of the caller's tokens (at once: the next request with it gets 401)."""
    row = db_session.get(ApiToken, token_id)
    if row is None or row.user_id != current_user.id:
        abort(404, f"you have no API token with id {token_id}")
    tokens.revoke_audited(db_session, row, actor=current_user._get_current_object())
    db_session.commit()
    return token_json(row)
