"""What every area's settings model shares: config keys as aliases, and errors that name the key.

An area's model (`AlbumSettings`, ...) has snake_case fields whose config key is the area's prefix
plus the upper-cased name (`max_photo_bytes` -> `ALBUM_MAX_PHOTO_BYTES`); a field whose key breaks
that pattern says so with `Field(alias=...)`. Models are frozen: settings change only through
`server.settings.update_settings`, which validates the new values like app start does.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import AliasGenerator, BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from server.config import ConfigError


def keyed(prefix: str) -> ConfigDict:
    """Model config for an area whose keys are `prefix` + the field name in upper case."""
    generate: Callable[[str], str] = lambda name: prefix + name.upper()  # noqa: E731
    return ConfigDict(
        alias_generator=AliasGenerator(validation_alias=generate, serialization_alias=generate),
        populate_by_name=True,
        frozen=True,
        extra="ignore",  # the app config holds Flask's and other areas' keys too
        allow_inf_nan=False,
        coerce_numbers_to_str=True,  # VISAGE_MQTT_PASSWORD=1234 is JSON-decoded to a number
        validate_default=True,
    )


class AreaSettings(BaseModel):
    """One area's typed settings; `AREA` names it in docs/configuration.md."""

    AREA: ClassVar[str] = ""

    @classmethod
    def keys(cls) -> dict[str, str]:
        """Field name -> config key."""
        return {name: field.serialization_alias or name for name, field in cls.model_fields.items()}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AreaSettings:
        """This area's keys of `config`, validated (defaults where absent); ConfigError names bad keys."""
        values = {key: config[key] for key in cls.keys().values() if key in config}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(describe(exc)) from None

    def as_config(self) -> dict[str, Any]:
        """The values under their config keys (what `app.config` holds after validation)."""
        return self.model_dump(by_alias=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_true_for_a_number(cls, value: object, info: ValidationInfo) -> object:
        """pydantic's lax mode reads `true` as 1; a number setting set to true is a mistake."""
        if isinstance(value, bool) and info.field_name is not None:
            annotation = cls.model_fields[info.field_name].annotation
            if bool not in (annotation, *typing.get_args(annotation)):
                raise ValueError("must be a number, not true or false")
        return value


SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN")  # keys whose values an error must not print

_MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "int_parsing": lambda ctx: "must be a whole number",
    "int_type": lambda ctx: "must be a whole number",
    "int_from_float": lambda ctx: "must be a whole number",
    "float_parsing": lambda ctx: "must be a number",
    "float_type": lambda ctx: "must be a number",
    "finite_number": lambda ctx: "must be a finite number",
    "bool_parsing": lambda ctx: "must be true or false",
    "bool_type": lambda ctx: "must be true or false",
    "string_type": lambda ctx: "must be a string",
    "list_type": lambda ctx: "must be a list",
    "greater_than_equal": lambda ctx: f"must be at least {ctx['ge']}",
    "greater_than": lambda ctx: f"must be more than {ctx['gt']}",
    "less_than_equal": lambda ctx: f"must be at most {ctx['le']}",
    "less_than": lambda ctx: f"must be less than {ctx['lt']}",
    "literal_error": lambda ctx: f"must be one of {ctx['expected']}",
    "time_delta_parsing": lambda ctx: "must be a number of seconds",
    "time_delta_type": lambda ctx: "must be a number of seconds",
}


def describe(error: ValidationError) -> str:
    """One sentence per bad key: `ALBUM_MAX_SIDE_PX='abc': must be a whole number`."""
    parts: dict[str, str] = {}
    for item in error.errors(include_url=False):
        key = str(item["loc"][0]) if item["loc"] else "settings"
        if key in parts:
            continue  # a union reports each member; the first says enough
        explain = _MESSAGES.get(item["type"])
        reason = explain(item.get("ctx") or {}) if explain else str(item["msg"]).removeprefix("Value error, ")
        shown = "<hidden>" if any(word in key for word in SECRET_WORDS) else repr(item["input"])
        parts[key] = f"{key}={shown}: {reason}" if item["loc"] else reason
    return "; ".join(parts.values())
