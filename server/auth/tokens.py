"""API tokens for scripts and devices: `Authorization: Bearer vsg_...`.

A token is 32 random bytes (URL-safe base64) behind a `vsg_` marker that secret scanners can
match. Only its SHA-256 is stored: a database leak reveals no usable token, and a fast hash is
enough because the token, unlike a password, has full entropy.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask_babel import gettext
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug import Request

from server.audit import record
from server.db.models import ApiToken, User
from server.db.types import utcnow

TOKEN_MARKER = "vsg_"
MAX_EXPIRES_DAYS = 3650
PREFIX_LENGTH = 12  # "vsg_" + 8 characters: enough to tell tokens apart, useless to an attacker


def generate_token() -> str:
    return TOKEN_MARKER + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(
    session: Session, user: User, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new token row for `user` (added to the session, not committed) and the token itself,
    which the caller shows once: it cannot be recovered later."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError(
            gettext("a token needs a name of 1 to 100 characters (what it is for, e.g. 'gallery sync')")
        )
    token = generate_token()
    row = ApiToken(
        user=user,
        name=name,
        prefix=token[:PREFIX_LENGTH],
        token_sha256=token_digest(token),
        expires_at=expires_at,
    )
    session.add(row)
    return row, token


def create(
    session: Session, owner: User, name: str, expires_in_days: int | None, actor: User | None
) -> tuple[ApiToken, str]:
    """A new, audited token for `owner` (the settings page, the API and the CLI all come here);
    `actor` None: an operator at the command line. ValueError with one sentence for bad input,
    before anything is added. The caller commits."""
    if expires_in_days is not None and (
        isinstance(expires_in_days, bool)
        or not isinstance(expires_in_days, int)
        or not 1 <= expires_in_days <= MAX_EXPIRES_DAYS
    ):
        raise ValueError(
            gettext("the expiry must be a whole number of days from 1 to %(most)s", most=MAX_EXPIRES_DAYS)
        )
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    row, token = issue_token(session, owner, name, expires_at)
    session.flush()  # the id, for the audit entry
    expires = expires_at.isoformat() if expires_at else None
    after = {"name": row.name, "prefix": row.prefix, "expires_at": expires}
    record(session, actor, "api_token.created", "api_token", row.id, after=after)
    return row, token


def revoke_audited(session: Session, row: ApiToken, actor: User | None) -> None:
    """Revoke `row` and record who did (nothing is recorded for a token already revoked)."""
    if row.revoked_at is not None:
        return
    revoke(row)
    before = {"name": row.name, "prefix": row.prefix}
    record(session, actor, "api_token.revoked", "api_token", row.id, before=before)


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, '' for a malformed one, None if absent."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def find_token(session: Session, token: str, now: datetime | None = None) -> ApiToken | None:
    """The usable (not revoked, not expired, owner active) token row for `token`, else None."""
    if not token.startswith(TOKEN_MARKER) or len(token) > 200:
        return None
    row = session.scalars(select(ApiToken).where(ApiToken.token_sha256 == token_digest(token))).one_or_none()
    now = now or utcnow()
    if row is None or not row.usable_at(now) or not row.user.active:
        return None
    return row


def touch(session: Session, row: ApiToken, every: timedelta, now: datetime | None = None) -> None:
    """Record that the token was used, at most once per `every` (not a write on every request).

    Runs in its own transaction so that it never commits, or is rolled back with, the request's work."""
    now = now or utcnow()
    if row.last_used_at is not None and now - row.last_used_at < every:
        return
    with session.get_bind().connect() as connection:
        connection.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
        connection.commit()


def revoke(row: ApiToken, now: datetime | None = None) -> None:
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
