"""The JSON shapes of the devices API (status, telemetry, refused messages, commands, tokens, the
model bundle): one pydantic model per shape (`server.api.shapes`). The figures are those ingest
stored (`server.devices.service`); the models say which keys an answer has and of what type."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from server.api.shapes import Instant, QueryInt, QueryModel, RequestModel, ResponseModel
from server.i18n import N_
from shared.messages import COMMANDS, MessageError, check_command


class Backlog(ResponseModel):
    depth: int
    capacity: int
    ratio: float
    alarm: bool = Field(description="Above 80 % of the outbox: the device cannot keep up sending.")


class RunsOn(ResponseModel):
    provider: str = Field(description="The execution provider these models run on first (e.g. CPU).")
    models: list[str]


class DeviceStatus(ResponseModel):
    """A device's health and latest telemetry, as the devices page shows it."""

    id: int
    device_id: str
    name: str
    classroom: str | None
    online: bool
    status: str | None
    software: str | None
    last_seen_at: Instant | None
    clock_skew_seconds: float | None
    clock_skew_exceeded: bool
    gallery_version: int | None
    published_gallery_version: int | None
    fps: float | None
    faces_per_second: float | None
    stage_ms: dict[str, Any]
    cpu_temperature_c: float | None
    providers: dict[str, Any]
    models: dict[str, Any]
    models_bundle: str | None
    crops: str | None = Field(description="The face crops the device sends: unknown, all or off.")
    problems: list[str]
    runs_on: list[RunsOn]
    telemetry_at: Instant | None
    backlog: Backlog | None


class DeviceStatusList(ResponseModel):
    devices: list[DeviceStatus]


class DeviceTelemetryPoint(ResponseModel):
    at: Instant = Field(description="The device's clock.")
    fps: float
    faces_per_second: float
    outbox_depth: int
    outbox_capacity: int
    stage_ms: dict[str, Any]
    cpu_temperature_c: float | None
    gallery_version: int | None
    providers: dict[str, Any]
    models: dict[str, Any]
    models_bundle: str | None
    models_error: str | None
    capture_error: str | None
    crops: str | None


class DeviceTelemetry(ResponseModel):
    device_id: str
    telemetry: list[DeviceTelemetryPoint]


class RejectedMessage(ResponseModel):
    id: int
    device_id: str | None
    topic: str
    reason: str
    detail: str
    received_at: Instant
    payload_size: int


def _since(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        raise ValueError(
            N_("since must be an ISO 8601 date-time with an offset, e.g. 2026-01-31T09:00:00Z")
        ) from None
    if moment.tzinfo is None:
        raise ValueError(N_("since must carry a time zone offset (e.g. Z)"))
    return moment


class TelemetryQuery(QueryModel):
    since: Annotated[
        datetime, BeforeValidator(_since), WithJsonSchema({"type": "string", "format": "date-time"})
    ] = None


MAX_REJECTED = 500


class RejectedQuery(QueryModel):
    device: str = Field(None, description="Device id named by the topic.")
    limit: QueryInt("limit", 1, MAX_REJECTED) = 50


class RejectedMessageList(ResponseModel):
    rejected: list[RejectedMessage]


COMMAND_NAME: dict[str, Any] = {"type": "string", "enum": list(COMMANDS)}


class DeviceCommand(ResponseModel):
    command_id: str
    name: Annotated[str, WithJsonSchema(COMMAND_NAME)]
    args: dict[str, Any]
    status: Annotated[
        str, WithJsonSchema({"type": "string", "enum": ["pending", "sent", "done", "refused", "expired"]})
    ]
    detail: str | None
    created_at: Instant
    expires_at: Instant
    sent_at: Instant | None
    answered_at: Instant | None


class DeviceCommandList(ResponseModel):
    device_id: str
    commands: list[DeviceCommand]


def _command_name(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(N_("name must be a command name"))
    return value


def _args(value: Any) -> Any:
    if value is not None and not isinstance(value, dict):
        raise ValueError(N_("args must be an object"))
    return value


class DeviceCommandRequest(RequestModel):
    """Checked with the contract's own rules (`shared.messages.check_command`), as the device checks it."""

    name: Annotated[str, BeforeValidator(_command_name), WithJsonSchema(COMMAND_NAME)]
    args: Annotated[
        dict[str, Any] | None,
        BeforeValidator(_args),
        WithJsonSchema(
            {
                "type": ["object", "null"],
                "description": "set_crops: {mode: unknown|all|off}; set_thumbnails: {enabled: bool} "
                "(true: all, false: unknown); set_telemetry_interval: {seconds: 1-3600}; the others "
                "take none.",
            }
        ),
    ] = None

    @model_validator(mode="after")
    def _known_command(self) -> DeviceCommandRequest:
        try:
            check_command(self.name, self.args or {})
        except MessageError as error:
            raise ValueError(str(error)) from None
        return self


class DeviceLive(ResponseModel):
    device: DeviceStatus = Field(description="As in GET /devices/status; `crops` is the acknowledged mode.")
    telemetry: DeviceTelemetryPoint | None
    commands: list[DeviceCommand]


class DeviceToken(ResponseModel):
    device_id: str
    token: str = Field(description="Shown once: put it in the device's [server] table.")
    prefix: str
    issued_at: Instant


class BundleFile(ResponseModel):
    name: str
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    bytes: int


class DeviceModelBundle(ResponseModel):
    """A model bundle manifest (format 1); see models/README.md."""

    format: int = Field(description="Bundle format; devices refuse a newer one.")
    version: str = Field(pattern="^[0-9a-f]{16}$", description="Content address.")
    embedder: str = Field(description="Embedder id the galleries are made with.")
    embedders: list[str] = Field(default_factory=list)
    exporter: int | None = Field(None, description="Exporter recipe version.")
    files: list[BundleFile]
    models: dict[str, Any] = Field(description="The models/manifest.json entries.")
