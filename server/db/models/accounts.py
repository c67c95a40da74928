"""Accounts: users, their API tokens, and the login attempts that rate limiting counts."""

from __future__ import annotations

import secrets

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.base import AUTOINCREMENT, Base
from server.db.enums import Role, enum_type
from server.db.types import utcnow


class User(Base):
    """A person who signs in. Emails are stored lower-cased, so uniqueness is case-insensitive."""

    __tablename__ = "users"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    # None: the account cannot sign in with a password (e.g. a token-only service account).
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_type(Role, "user_role"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Part of the id a session cookie carries: a new one (sign-out, password change) ends every
    # session of the account, including copies of the cookie taken before (migration 0013).
    session_nonce: Mapped[str] = mapped_column(String(32), default=lambda: secrets.token_hex(16))
    # The pages' language ("ko", "en"); None follows the browser's Accept-Language (migration 0019).
    language: Mapped[str | None] = mapped_column(String(16))

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    # Flask-Login's user protocol (kept here so that the model needs no Flask import).
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_nonce}"

    def end_sessions(self) -> None:
        """Invalidate every session of this account (the caller commits)."""
        self.session_nonce = secrets.token_hex(16)

    def has_role(self, *roles: Role | str) -> bool:
        """True when the user holds one of `roles`; an administrator holds them all."""
        return self.role == Role.ADMIN or self.role in {Role(r) for r in roles}

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"


class ApiToken(Base):
    """A bearer token for scripts and devices. Only its SHA-256 is stored; the token is shown once.

    `prefix` (the first characters of the token, not secret on its own) lets a user tell their
    tokens apart in a listing and lets logs name a token without revealing it.
    """

    __tablename__ = "api_tokens"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="tokens")

    def usable_at(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


class LoginAttempt(Base):
    """A failed password sign-in, counted per (email, client address) for rate limiting.

    Kept in the database rather than process memory so that every worker process of a deployment
    sees the same count; rows older than the window are pruned as new ones arrive.
    """

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_email_ip_at", "email", "ip", "at"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(45))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
