"""Schemas and serialisers of the account resources (users, tokens) shared by several endpoints."""

from __future__ import annotations

from typing import Any

from server.api.endpoints import registry
from server.api.io import DATETIME, NULLABLE_DATETIME, iso
from server.db.enums import Role
from server.db.models import ApiToken, User

USER = registry.schema(
    "User",
    {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "email": {"type": "string", "format": "email"},
            "display_name": {"type": "string"},
            "role": {"type": "string", "enum": [role.value for role in Role]},
            "active": {"type": "boolean"},
            "created_at": DATETIME,
            "last_login_at": NULLABLE_DATETIME,
        },
        "required": ["id", "email", "display_name", "role", "active", "created_at"],
    },
)

API_TOKEN = registry.schema(
    "ApiToken",
    {
        "type": "object",
        "description": "A token's metadata; the token itself is never shown again after creation.",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "prefix": {"type": "string", "description": "The token's first characters, to recognise it."},
            "created_at": DATETIME,
            "expires_at": NULLABLE_DATETIME,
            "last_used_at": NULLABLE_DATETIME,
            "revoked_at": NULLABLE_DATETIME,
        },
        "required": ["id", "name", "prefix", "created_at"],
    },
)


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "display_name": user.display_name,
        "role": user.role.value,
        "active": user.active,
        "created_at": iso(user.created_at),
        "last_login_at": iso(user.last_login_at),
    }


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": iso(token.created_at),
        "expires_at": iso(token.expires_at),
        "last_used_at": iso(token.last_used_at),
        "revoked_at": iso(token.revoked_at),
    }
