"""Account rules shared by the web UI, the API and the CLI: validation, creation, authentication."""

from __future__ import annotations

import re

from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, Passwords
from server.db.enums import Role
from server.db.models import User
from server.db.types import utcnow

# Deliberately loose: one @, something on each side, a dot in the domain. Deliverability is the
# mail server's to judge; this only catches typos such as a missing @.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AccountError(ValueError):
    """Input an operator or user must fix; the message is one sentence saying what to do, in the
    request's language (English at the command line, where no request names one)."""


def normalize_email(email: str) -> str:
    return email.strip().lower()


def parse_role(role: str) -> Role:
    try:
        return Role(role.strip().lower())
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise AccountError(
            gettext("unknown role %(role)s: choose one of %(choices)s", role=repr(role), choices=choices)
        ) from None


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            gettext("the password is too short: use at least %(least)s characters", least=MIN_PASSWORD_LENGTH)
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(
            gettext("the password is too long: use at most %(most)s characters", most=MAX_PASSWORD_LENGTH)
        )


def find_user(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == normalize_email(email))).one_or_none()


def create_user(
    session: Session,
    passwords: Passwords,
    *,
    email: str,
    display_name: str,
    role: Role | str,
    password: str | None,
) -> User:
    """A new active account, committed. Raises AccountError for bad input or a taken email."""
    email = normalize_email(email)
    display_name = display_name.strip()
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        raise AccountError(gettext("%(email)s is not an email address", email=repr(email)))
    if not display_name or len(display_name) > 200:
        raise AccountError(gettext("the display name must be 1 to 200 characters"))
    role = role if isinstance(role, Role) else parse_role(role)
    if password is not None:
        check_password(password)
    if find_user(session, email) is not None:
        raise AccountError(gettext("a user with email %(email)s already exists", email=email))
    user = User(
        email=email,
        display_name=display_name,
        role=role,
        password_hash=passwords.hash(password) if password is not None else None,
    )
    session.add(user)
    try:
        session.commit()
    except IntegrityError:  # created by someone else between the check and the insert
        session.rollback()
        raise AccountError(gettext("a user with email %(email)s already exists", email=email)) from None
    return user


def authenticate(session: Session, passwords: Passwords, email: str, password: str) -> User | None:
    """The active user whose email and password match, else None (same cost either way).

    Upgrades the stored hash when the configured argon2 parameters have grown; the caller commits."""
    user = find_user(session, email)
    ok = passwords.verify(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        return None
    assert user.password_hash is not None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash(password)
    user.last_login_at = utcnow()
    return user


def set_password(session: Session, passwords: Passwords, user: User, password: str) -> None:
    """A new password for `user`; every session of the account ends (a stolen cookie with it). The
    caller commits."""
    check_password(password)
    user.password_hash = passwords.hash(password)
    user.end_sessions()
