"""The web application's own settings: database, secret key, cookies, logins, request bodies, logs,
metrics and page refresh. Flask and its extensions read several of these from `app.config` under the
same names (the cookie flags, PERMANENT_SESSION_LIFETIME, MAX_CONTENT_LENGTH, WTF_CSRF_TIME_LIMIT).

Why these numbers:
* argon2id's parameters are argon2-cffi's defaults (RFC 9106's low-memory profile).
* Login rate limiting: 5 failures per (email, client address) within 15 minutes block that pair
  until the oldest failure leaves the window.
* A token's `last_used_at` is written at most once a minute, not on every request.
* A request body may pause 30 s between chunks and take 10 minutes in all (server/bodyread.py);
  512 MiB is the largest request of any upload path (deepfake videos).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from server.settings.base import AreaSettings, keyed

MiB = 1024 * 1024
SameSite = Literal["Lax", "Strict", "None"]


class ServerSettings(AreaSettings):
    AREA: ClassVar[str] = "server"
    model_config = keyed("")

    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the database (production: `mysql+pymysql://user:pass@host/visage`); "
        "empty: the SQLite file `visage.db` in the instance folder. `DATABASE_URL` works too.",
    )
    database_echo: bool = Field(False, description="Log every SQL statement (debugging).")
    secret_key: str | None = Field(
        None,
        repr=False,
        description="Signs sessions and CSRF tokens; empty: read from (or generated into) the instance "
        "folder's `secret_key`. Set the same value on every host that serves the app.",
    )
    session_cookie_name: str = Field("visage_session", description="Name of the session cookie.")
    session_cookie_httponly: bool = Field(True, description="The session cookie is not readable by scripts.")
    session_cookie_samesite: SameSite | None = Field(
        "Lax", description="The session cookie is not sent on cross-site sub-requests."
    )
    session_cookie_secure: bool = Field(
        False, description="Send the session cookie over HTTPS only: turn on in production."
    )
    remember_cookie_httponly: bool = Field(
        True, description="The remember-me cookie is not readable by scripts."
    )
    remember_cookie_samesite: SameSite | None = Field(
        "Lax", description="SameSite of the remember-me cookie."
    )
    remember_cookie_secure: bool = Field(
        False, description="Send the remember-me cookie over HTTPS only: turn on in production."
    )
    permanent_session_lifetime: timedelta = Field(
        timedelta(hours=12), description="How long a login lasts (seconds in the config)."
    )
    wtf_csrf_time_limit: int | None = Field(
        None, ge=1, description="Seconds a CSRF token lives; empty: as long as the session."
    )
    login_max_failures: int = Field(
        5, ge=1, description="Failed logins per (email, client address) within the window before blocking."
    )
    login_failure_window_seconds: int = Field(15 * 60, ge=1, description="The login rate-limiting window.")
    argon2_time_cost: int = Field(3, ge=1, description="argon2id passes over memory.")
    argon2_memory_cost: int = Field(65536, ge=8, description="argon2id memory in KiB.")
    argon2_parallelism: int = Field(4, ge=1, description="argon2id lanes.")
    token_touch_seconds: int = Field(
        60, ge=0, description="An API token's `last_used_at` is written at most this often."
    )
    trusted_proxies: int = Field(
        0,
        ge=0,
        description="Reverse proxies in front of the server whose X-Forwarded-For/-Proto to trust "
        "(0: none). Login rate limiting by client address depends on it.",
    )
    max_content_length: int | None = Field(
        512 * MiB, ge=1, description="Largest request body in bytes (Flask refuses larger with 413)."
    )
    body_idle_seconds: float = Field(
        30.0, gt=0, description="A request body that sends nothing this long is dropped (408)."
    )
    body_read_seconds: float = Field(
        600.0, gt=0, description="A request body must arrive within this time (408)."
    )
    log_format: Literal["text", "json"] = Field("text", description="`json`: one JSON object per log line.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="Lowest level logged."
    )
    metrics_local: bool = Field(True, description="Scrapes of /metrics from loopback need no token.")
    metrics_token: str | None = Field(
        None, repr=False, description="Password (HTTP basic auth) for /metrics from elsewhere."
    )
    metrics_window_seconds: int = Field(
        3600, ge=1, description="Window of `visage_ingest_rejected_recent` on /metrics."
    )
    live_refresh_seconds: int = Field(
        5, ge=1, description="How often live pages (dashboards, devices, album, deepfake) poll."
    )

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _any_case(cls, value: object, info: ValidationInfo) -> object:
        """`JSON` and `debug` were accepted before the settings were typed; they still are."""
        if not isinstance(value, str):
            return value
        return value.lower() if info.field_name == "log_format" else value.upper()
