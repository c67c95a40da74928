"""Password hashing with argon2id (argon2-cffi), parameters from the app's configuration."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import Flask, current_app

from server.settings import settings_of

EXTENSION_KEY = "visage.passwords"
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # hashing is deliberately slow; do not let a request make it slower


class Passwords:
    """The app's hasher, plus a hash of a random password to verify against when the account does not
    exist, so that a wrong email takes as long as a wrong password (no account enumeration by timing)."""

    def __init__(self, time_cost: int, memory_cost: int, parallelism: int) -> None:
        self.hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
        )
        self._dummy_hash: str | None = None

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when `password` matches; False for a mismatch, a malformed hash or no hash at all."""
        if stored_hash is None:
            if self._dummy_hash is None:
                self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
            stored_hash = self._dummy_hash
            password = ""  # never matches: the dummy's password was random and is gone
        try:
            return self.hasher.verify(stored_hash, password[:MAX_PASSWORD_LENGTH])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with weaker parameters than today's (rehash at next login)."""
        try:
            return self.hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True


def init_app(app: Flask) -> Passwords:
    settings = settings_of(app).server
    passwords = Passwords(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_cost,
        parallelism=settings.argon2_parallelism,
    )
    app.extensions[EXTENSION_KEY] = passwords
    return passwords


def passwords(app: Flask | None = None) -> Passwords:
    """The hasher of `app` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION_KEY]
