"""The application factory: `create_app()` builds a configured Flask app (Flask's tutorial pattern).

    create_app()                                   # settings from the environment (server.config)
    create_app({"DATABASE_URL": "sqlite:///x.db"})  # overrides on top (tests)

The database schema is not created here: run `visage server init-db` (Alembic), which
`visage server run` also does on start.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from server import (
    album,
    bodyread,
    deepfake,
    enrolment,
    errors,
    headers,
    i18n,
    jobs,
    logs,
    metrics,
    routing,
    uploads,
)
from server.api import register_api
from server.attendance.views import bp as attendance_bp
from server.auth import manager, passwords
from server.auth.views import bp as auth_bp
from server.config import default_instance_path, ensure_secret_key, load_config
from server.db import session as db
from server.devices.views import bp as devices_bp
from server.health import bp as health_bp
from server.school.views import bp as school_bp
from server.settings import init_app as init_settings
from server.uploads.reasons import reason_text
from server.web.views import bp as web_bp


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """A configured app: settings, database, authentication, blueprints, error pages.

    `config` may name `INSTANCE_PATH` (where the SQLite file and the secret key live)."""
    overrides = dict(config or {})
    instance_path = Path(overrides.pop("INSTANCE_PATH", None) or default_instance_path())
    instance_path.mkdir(parents=True, exist_ok=True)
    app = Flask("server", instance_path=str(instance_path))
    routing.init_app(app)  # bounded <int:...> ids, before any rule is added
    app.config.update(load_config(instance_path, overrides))
    ensure_secret_key(app.config, instance_path)
    settings = init_settings(app)  # every setting validated once: a wrong one stops here

    proxies = settings.server.trusted_proxies
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    bodyread.init_app(app)  # a request body that stops arriving frees its thread (408)

    logs.init_app(app)  # first: the request id exists before any other hook logs
    metrics.init_app(app)
    db.init_app(app)
    passwords.init_app(app)
    manager.init_app(app)
    i18n.init_app(app)  # language and time zone per request, date filters (after the login manager)
    # A stored English refusal or indexing error (a photo's, a zip member's) in the reader's language.
    app.add_template_filter(reason_text, "reason")
    headers.init_app(app)
    errors.register_error_handlers(app)

    app.register_blueprint(auth_bp)
    app.register_blueprint(web_bp)
    app.register_blueprint(attendance_bp)
    app.register_blueprint(school_bp)
    app.register_blueprint(devices_bp)
    app.register_blueprint(health_bp)
    uploads.init_app(app)  # every upload route's byte ceiling, before its body is read
    enrolment.init_app(app)
    album.init_app(app)
    deepfake.init_app(app)
    jobs.init_app(app)
    register_api(app)
    return app
