"""Background jobs (server/jobs/): who runs them and how often the runner looks.

JOBS_START: empty starts the in-process runner where the app serves (gunicorn, `visage server run`);
true also in `create_app`; false never (jobs are left to `visage server worker`)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from server.settings.base import AreaSettings, keyed

RUNNERS = ("thread", "rq", "none")


class JobsSettings(AreaSettings):
    AREA: ClassVar[str] = "jobs"
    model_config = keyed("JOBS_")

    runner: Literal["thread", "rq", "none"] = Field(
        "thread",
        description="`thread` (a pool in the server), `rq` (workers on Redis) or `none` (only submit).",
    )
    threads: int = Field(2, ge=1, description="Threads of the in-process runner.")
    start: bool | None = Field(
        None,
        description="Run jobs in this process (empty: where the app serves; true: also here; false: never).",
    )
    redis_url: str | None = Field(
        None, alias="REDIS_URL", description="Redis for `rq`, e.g. `redis://127.0.0.1:6379/0`."
    )
    rq_queue: str = Field("visage-jobs", description="The RQ queue's name.")
    rq_timeout: int = Field(6 * 3600, ge=1, description="Seconds an RQ job may run.")
    poll_seconds: float = Field(2.0, gt=0, description="How often an idle runner looks for queued jobs.")
    heartbeat_seconds: float = Field(10.0, gt=0, description="How often a running job says it is alive.")
    stale_seconds: float = Field(
        90.0, gt=0, description="A running job silent this long is taken as dead and queued again."
    )
    progress_seconds: float = Field(0.5, ge=0, description="Progress is written at most this often.")

    @model_validator(mode="before")
    @classmethod
    def _known_runner(cls, values: Any) -> Any:
        """Keep the sentence operators and the CLI test know: `JOBS_RUNNER must be one of ...`."""
        mode = values.get("JOBS_RUNNER", "thread") if isinstance(values, dict) else "thread"
        if mode not in RUNNERS:
            raise ValueError(f"JOBS_RUNNER must be one of {', '.join(RUNNERS)}, not {mode!r}")
        return values

    @model_validator(mode="after")
    def _rq_needs_redis(self) -> JobsSettings:
        if self.runner == "rq" and not self.redis_url:
            raise ValueError("JOBS_RUNNER is 'rq' but REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)")
        return self
