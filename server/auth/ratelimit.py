"""Login rate limiting: at most LOGIN_MAX_FAILURES failed sign-ins per (email, client address) within
LOGIN_FAILURE_WINDOW_SECONDS; after that the pair is refused (HTTP 429) until failures age out.

Stored in the database (table `login_attempts`), not in process memory, so that every worker of a
deployment counts the same failures and a restart does not reset them. Keyed on the pair, not the
account alone, so that an attacker cannot lock a real user out by failing on purpose from elsewhere.
A successful sign-in clears the pair's failures. Attempts refused while blocked are not recorded
(the block ends on time). Behind a reverse proxy set TRUSTED_PROXIES, or every client shares the
proxy's address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.db.models import LoginAttempt
from server.db.types import utcnow


@dataclass(frozen=True)
class LoginLimit:
    max_failures: int
    window: timedelta

    @classmethod
    def from_config(cls, config: dict) -> LoginLimit:
        window = timedelta(seconds=int(config["LOGIN_FAILURE_WINDOW_SECONDS"]))
        return cls(int(config["LOGIN_MAX_FAILURES"]), window)

    def retry_after(self, session: Session, email: str, ip: str, now: datetime | None = None) -> int | None:
        """Seconds until the pair may try again, or None when it may try now."""
        now = now or utcnow()
        count, oldest = session.execute(
            select(func.count(), func.min(LoginAttempt.at)).where(
                LoginAttempt.email == email, LoginAttempt.ip == ip, LoginAttempt.at > now - self.window
            )
        ).one()
        if count < self.max_failures:
            return None
        return max(1, int((oldest + self.window - now).total_seconds()) + 1)

    def record_failure(self, session: Session, email: str, ip: str, now: datetime | None = None) -> None:
        """Add a failure (and prune everyone's failures older than the window); the caller commits."""
        now = now or utcnow()
        session.execute(delete(LoginAttempt).where(LoginAttempt.at <= now - self.window))
        session.add(LoginAttempt(email=email, ip=ip, at=now))

    def clear(self, session: Session, email: str, ip: str) -> None:
        session.execute(delete(LoginAttempt).where(LoginAttempt.email == email, LoginAttempt.ip == ip))
