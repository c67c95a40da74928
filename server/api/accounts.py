"""Account endpoints: who am I, and my API tokens."""

from __future__ import annotations

from flask import abort, g
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import select

from server.api.endpoints import api_route
from server.api.schemas import ApiToken as ApiTokenShape
from server.api.schemas import Me, NewApiToken, NewApiTokenRequest, User
from server.auth import tokens
from server.db import db_session
from server.db.models import ApiToken


@api_route("/me", "GET", response=Me, tags=["accounts"])
def get_me() -> Me:
    """The authenticated account, and how it authenticated."""
    return Me(**dict(User.of(current_user)), auth="token" if "api_token" in g else "session")


@api_route("/tokens", "GET", response=list[ApiTokenShape], tags=["accounts"])
def list_tokens() -> list[ApiTokenShape]:
    """The caller's API tokens, newest first (revoked ones included, marked by `revoked_at`)."""
    rows = db_session.scalars(
        select(ApiToken).where(ApiToken.user_id == current_user.id).order_by(ApiToken.id.desc())
    )
    return [ApiTokenShape.model_validate(row) for row in rows]


@api_route("/tokens", "POST", request=NewApiTokenRequest, response=NewApiToken, status=201, tags=["accounts"])
def create_token(body: NewApiTokenRequest) -> tuple[NewApiToken, int]:
    """Create an API token for the caller; the response is the only time the token is shown."""
    user = current_user._get_current_object()
    row, token = tokens.create(
        db_session, user, body.name, body.expires_in_days, actor=user
    )  # audited, as on the settings page
    db_session.commit()
    return NewApiToken(**dict(ApiTokenShape.model_validate(row)), token=token), 201


@api_route("/tokens/<int:token_id>", "DELETE", response=ApiTokenShape, errors=[404], tags=["accounts"])
def revoke_token(token_id: int) -> ApiTokenShape:
    """Revoke one of the caller's tokens (at once: the next request with it gets 401)."""
    row = db_session.get(ApiToken, token_id)
    if row is None or row.user_id != current_user.id:
        abort(404, gettext("you have no API token with id %(id)s", id=token_id))
    tokens.revoke_audited(db_session, row, actor=current_user._get_current_object())
    db_session.commit()
    return ApiTokenShape.model_validate(row)
