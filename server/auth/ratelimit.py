"""Login rate limiting: at most LOGIN_MAX_FAILURES failed sign-ins per (email, client address) within
LOGIN_FAILURE_WINDOW_SECONDS; after that the pair is refused (HTTP 429) until failures age out.

Stored in the database (table `login_attempts`), not in process memory, so that every worker of a
deployment counts the same failures and a restart does not reset them. Keyed on the pair, not the
account alone, so that an attacker cannot lock a real user out by failing on purpose from elsewhere.
A successful sign-in clears the pair's failures. Attempts refused while blocked are not recorded
(the block ends on time).

Concurrency: an attempt takes its place (`reserve`) before the slow password check: it writes its
row and commits, then counts the rows of its pair up to and including its own id. So of a burst of
parallel wrong passwords exactly `max_failures` are evaluated and the rest refused, on every worker
process and on both databases (ids grow with commit order on SQLite and with insert order on
MariaDB's auto-increment); checking first and recording after the password check let bursts of 40
or 80 evaluate 18 each. Behind a reverse proxy set TRUSTED_PROXIES, or every client shares the
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

    def reserve(self, session: Session, email: str, ip: str, now: datetime | None = None) -> int | None:
        """Take a place for one attempt of the pair (committed); None when it may go on, else the
        seconds to wait (its place is given back). Keep the place as the failure if the password is
        wrong; `clear` removes it with the others after a success."""
        now = now or utcnow()
        session.execute(delete(LoginAttempt).where(LoginAttempt.at <= now - self.window))
        attempt = LoginAttempt(email=email, ip=ip, at=now)
        session.add(attempt)
        session.commit()
        count, oldest = session.execute(
            select(func.count(), func.min(LoginAttempt.at)).where(
                LoginAttempt.email == email,
                LoginAttempt.ip == ip,
                LoginAttempt.at > now - self.window,
                LoginAttempt.id <= attempt.id,
            )
        ).one()
        if count <= self.max_failures:
            return None
        session.delete(attempt)
        session.commit()
        return max(1, int((oldest + self.window - now).total_seconds()) + 1)

    def clear(self, session: Session, email: str, ip: str) -> None:
        session.execute(delete(LoginAttempt).where(LoginAttempt.email == email, LoginAttempt.ip == ip))
