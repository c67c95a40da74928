"""Server settings: defaults, then an optional config file, then the environment, then the caller.

Sources, later ones winning:

1. every setting's default (server/settings/: one typed model per area; docs/configuration.md
   lists them; an embedded, single-machine setup: SQLite file in the instance folder);
2. the file named by `VISAGE_CONFIG` (TOML or JSON, upper-case keys, e.g. `DATABASE_URL = "..."`);
3. `DATABASE_URL` from the environment (the usual name on hosting platforms);
4. any `VISAGE_<KEY>` environment variable, which sets `<KEY>`; values are parsed as JSON when
   they parse (`VISAGE_SESSION_COOKIE_SECURE=true` is a boolean), else kept as strings;
5. the dict given to `create_app(config)` (tests).

`create_app` then validates the result once (`server.settings.init_app`): a wrong value stops the
start with a ConfigError naming the key.

The instance folder (`VISAGE_INSTANCE_PATH`, else Flask's default: `instance/` beside the
`server` package in a checkout) holds state that is not code: the SQLite database and the
generated secret key.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import tomllib
from flask.sansio.scaffold import find_package

ENV_PREFIX = "VISAGE_"
SECRET_KEY_FILE = "secret_key"
# Settings taken verbatim from the environment even when they happen to parse as JSON.
RAW_STRING_KEYS = {"SECRET_KEY", "DATABASE_URL", "SESSION_COOKIE_NAME"}


class ConfigError(ValueError):
    """A setting the operator must fix (bad config file, malformed value)."""


def default_instance_path() -> Path:
    """`VISAGE_INSTANCE_PATH`, else where Flask would put the `server` package's instance folder."""
    configured = os.environ.get(f"{ENV_PREFIX}INSTANCE_PATH")
    if configured:
        return Path(configured).expanduser().resolve()
    prefix, package_path = find_package("server")
    if prefix is None:
        return Path(package_path) / "instance"
    return Path(prefix) / "var" / "server-instance"


def load_config(
    instance_path: Path,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """All settings resolved in the documented order; the secret key is left to `ensure_secret_key`."""
    from server.settings import default_config  # the models import ConfigError from here

    environ = os.environ if environ is None else environ
    config = default_config()
    config_file = environ.get(f"{ENV_PREFIX}CONFIG")
    if config_file:
        config.update(read_config_file(Path(config_file)))
    if environ.get("DATABASE_URL"):
        config["DATABASE_URL"] = environ["DATABASE_URL"]
    config.update(prefixed_environment(environ))
    config.update(overrides or {})
    if not config.get("DATABASE_URL"):
        config["DATABASE_URL"] = f"sqlite:///{instance_path / 'visage.db'}"
    for key in ("PERMANENT_SESSION_LIFETIME",):
        if isinstance(config[key], int | float):
            config[key] = timedelta(seconds=config[key])
    return config


def read_config_file(path: Path) -> dict[str, Any]:
    """Upper-case keys of a TOML (`.toml`) or JSON file; lower-case keys are ignored like Flask does."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path} (VISAGE_CONFIG): {exc.strerror}") from exc
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if path.suffix == ".toml" else "JSON"
        raise ConfigError(f"the config file {path} is not valid {kind}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"the config file {path} must hold a table/object of settings")
    return {key: value for key, value in data.items() if key.isupper()}


def prefixed_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """`VISAGE_<KEY>=value` as `{KEY: value}`, JSON-decoded when possible. Skips the loader's own."""
    skip = {f"{ENV_PREFIX}CONFIG", f"{ENV_PREFIX}INSTANCE_PATH"}
    settings: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in skip:
            continue
        key = name.removeprefix(ENV_PREFIX)
        if not key.isupper():
            continue
        if key in RAW_STRING_KEYS:
            settings[key] = raw
            continue
        try:
            settings[key] = json.loads(raw)
        except json.JSONDecodeError:
            settings[key] = raw
    return settings


def ensure_secret_key(config: dict[str, Any], instance_path: Path) -> None:
    """Use the configured SECRET_KEY, else the one persisted in the instance folder, else make one.

    The key is written to a private temporary file and hard-linked into place, which fails if the
    file exists: workers starting together agree on one key, and none can read a half-written one.
    """
    if config.get("SECRET_KEY"):
        return
    path = instance_path / SECRET_KEY_FILE
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=instance_path, prefix=".secret_key.")  # created with mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_hex(32) + "\n")
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise ConfigError(f"{path} is empty: delete it (a new key is generated) or set SECRET_KEY")
    config["SECRET_KEY"] = key
