"""Ingest of device messages from MQTT (server/ingest/, docs/mqtt.md): the one typed object the
worker and `process_batch` read (`server.ingest.IngestSettings` is this class).

The time window: a device time (`sent_at`, telemetry `at`, `captured_at`, an ack's `at`) may lead
arrival by INGEST_MAX_AHEAD_SECONDS (1 day); a send time may trail it by INGEST_MAX_SENT_AGE_SECONDS
(30 days: messages wait in the broker while ingest is down, over a weekend and more); an event time
may not be older than INGEST_EARLIEST_TIME (2000-01-01, the floor of any clock that was ever set)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import ClassVar

from pydantic import Field, field_validator

from server.settings.base import AreaSettings, keyed
from shared.messages import EARLIEST_TIME, TimeWindow, parse_time

MAX_WINDOW_S = 10 * 365 * 86_400.0  # beyond ten years a window setting is a typo
FLOOR, CEILING = (datetime(year, 1, 1, tzinfo=timezone.utc) for year in (1970, 2100))


class IngestSettings(AreaSettings):
    AREA: ClassVar[str] = "ingest"
    model_config = keyed("INGEST_")

    max_clock_skew_s: float = Field(
        120.0,
        ge=0,
        alias="INGEST_MAX_CLOCK_SKEW_SECONDS",
        description="Device clock skew tolerated before it is reported.",
    )
    telemetry_keep: int = Field(10_000, ge=1, description="Newest telemetry rows kept per device.")
    max_ahead_s: float = Field(
        86_400.0,
        ge=0,
        le=MAX_WINDOW_S,
        alias="INGEST_MAX_AHEAD_SECONDS",
        description="A device time may lead arrival by this much.",
    )
    max_sent_age_s: float = Field(
        30 * 86_400.0,
        ge=0,
        le=MAX_WINDOW_S,
        alias="INGEST_MAX_SENT_AGE_SECONDS",
        description="A send time may trail arrival by this much.",
    )
    earliest: datetime = Field(
        EARLIEST_TIME,
        alias="INGEST_EARLIEST_TIME",
        description="ISO 8601 time with an offset (1970 to 2100) no event may be older than.",
    )
    gallery_publish_seconds: float = Field(
        60, gt=0, description="How often galleries are republished to devices."
    )
    poll_seconds: float = Field(0.5, gt=0, description="How often the worker looks for new messages.")
    linger_seconds: float = Field(0.05, ge=0, description="How long the worker waits to fill a batch.")
    mqtt_host: str = Field("127.0.0.1", alias="MQTT_HOST", description="The MQTT broker.")
    mqtt_port: int = Field(1883, ge=1, le=65535, alias="MQTT_PORT", description="The broker's port.")
    mqtt_username: str | None = Field(None, alias="MQTT_USERNAME", description="The ingest account.")
    mqtt_password: str | None = Field(None, alias="MQTT_PASSWORD", repr=False, description="Its password.")
    mqtt_tls: bool = Field(False, alias="MQTT_TLS", description="Connect with TLS.")
    mqtt_ca_certs: str | None = Field(None, alias="MQTT_CA_CERTS", description="CA bundle for TLS.")

    @field_validator("earliest", mode="before")
    @classmethod
    def _plausible(cls, value: object) -> object:
        if value is None:
            return EARLIEST_TIME
        parsed = value if isinstance(value, datetime) else parse_time(str(value), "INGEST_EARLIEST_TIME")
        if not FLOOR <= parsed <= CEILING:
            raise ValueError("must be from 1970 to 2100")
        return parsed

    def window(self, received_at: datetime) -> TimeWindow:
        """The device times believed for a message that arrived at `received_at`."""
        return TimeWindow(received_at, self.max_ahead_s, self.max_sent_age_s, self.earliest)
