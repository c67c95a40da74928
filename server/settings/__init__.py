"""Typed settings: one pydantic model per area, validated once when the app starts.

    from server.settings import current_settings
    current_settings().album.max_photo_bytes      # an int, checked at start
    settings_of(app).jobs.runner                  # outside a request

`create_app` resolves the raw values (server/config.py: defaults, VISAGE_CONFIG file, environment,
caller), then `init_app` validates every area: a wrong value is a ConfigError naming the key
(`ALBUM_MAX_SIDE_PX='abc': must be a whole number`) and the app does not start. The validated values
are written back to `app.config` under the same keys (Flask and its extensions read some there).
Settings change only through `update_settings(app, KEY=value)` (tests), which validates the same way.
docs/configuration.md lists every key; `python -m server.settings.table` rewrites it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app
from pydantic import BaseModel, ConfigDict

from server.config import ConfigError
from server.settings.album import AlbumSettings
from server.settings.attendance import AttendanceSettings
from server.settings.base import AreaSettings
from server.settings.deepfake import DeepfakeSettings
from server.settings.devices import DevicesSettings
from server.settings.enrolment import EnrolmentSettings
from server.settings.i18n import I18nSettings
from server.settings.ingest import IngestSettings
from server.settings.jobs import JobsSettings
from server.settings.retention import RetentionSettings
from server.settings.server import ServerSettings
from server.settings.storage import StorageSettings
from server.settings.uploads import UploadSettings

EXTENSION_KEY = "visage.settings"


class Settings(BaseModel):
    """Every area's settings; attribute names are the areas of docs/configuration.md."""

    model_config = ConfigDict(frozen=True)

    server: ServerSettings
    i18n: I18nSettings
    storage: StorageSettings
    uploads: UploadSettings
    devices: DevicesSettings
    enrolment: EnrolmentSettings
    album: AlbumSettings
    deepfake: DeepfakeSettings
    attendance: AttendanceSettings
    ingest: IngestSettings
    jobs: JobsSettings
    retention: RetentionSettings

    @classmethod
    def areas(cls) -> dict[str, type[AreaSettings]]:
        return {name: field.annotation for name, field in cls.model_fields.items()}  # type: ignore[misc]

    def value(self, key: str) -> Any:
        """The typed value of config key `key` (for code that names a setting by key, e.g. upload limits)."""
        area, name = locate(key)
        return getattr(getattr(self, area), name)


@functools.cache
def locate(key: str) -> tuple[str, str]:
    """(area, field name) of config key `key`; KeyError when no model has it."""
    for area, model in Settings.areas().items():
        for name, alias in model.keys().items():
            if alias == key:
                return area, name
    raise KeyError(f"{key} is not a setting (docs/configuration.md lists them)")


def load_settings(config: Mapping[str, Any]) -> Settings:
    """Validate every area of `config`; one ConfigError lists every bad key of every area."""
    built: dict[str, AreaSettings] = {}
    problems: list[str] = []
    for area, model in Settings.areas().items():
        try:
            built[area] = model.from_config(config)
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("; ".join(problems))
    return Settings(**built)


def default_config() -> dict[str, Any]:
    """Every setting's default under its config key (the first source server.config resolves)."""
    defaults: dict[str, Any] = {}
    for model in Settings.areas().values():
        for name, alias in model.keys().items():
            defaults[alias] = model.model_fields[name].get_default(call_default_factory=True)
    return defaults


def init_app(app: Flask) -> Settings:
    """Validate the app's settings (ConfigError stops the start) and keep them on the app."""
    settings = load_settings(app.config)
    _install(app, settings)
    return settings


def update_settings(app: Flask, **changes: Any) -> Settings:
    """Change settings of a running app (tests), validated like at start; on a ConfigError nothing
    changes."""
    settings = load_settings({**app.config, **changes})
    _install(app, settings)
    return settings


def _install(app: Flask, settings: Settings) -> None:
    for area in Settings.areas():
        app.config.update(getattr(settings, area).as_config())
    app.extensions[EXTENSION_KEY] = settings


def settings_of(app: Flask) -> Settings:
    """The app's validated settings (built on first use for an app `create_app` did not make)."""
    settings = app.extensions.get(EXTENSION_KEY)
    return settings if settings is not None else init_app(app)


def current_settings() -> Settings:
    """The current app's validated settings."""
    return settings_of(current_app._get_current_object())  # type: ignore[attr-defined]


__all__ = [
    "ConfigError",
    "Settings",
    "current_settings",
    "default_config",
    "init_app",
    "load_settings",
    "locate",
    "settings_of",
    "update_settings",
]
