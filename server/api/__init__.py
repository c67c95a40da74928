"""JSON API v1 at /api/v1: the blueprint and the registry that documents every route as it is
declared (`endpoints`: `api_route`, `registry`), the pydantic layer (`shapes`), the account
endpoints and shapes (`accounts`, `schemas`), helpers (`io`), the generated OpenAPI document
(`docs`) and Swagger UI (`docs_ui`); the endpoint modules of the areas are listed below. How to add
an endpoint: see `server.api.endpoints`."""

from __future__ import annotations

import importlib

from flask import Flask

from server.api.endpoints import api, api_route, registry

# Modules that declare endpoints with `@api_route`; imported before the blueprint is registered.
ENDPOINT_MODULES: tuple[str, ...] = (
    "server.api.docs",
    "server.api.accounts",
    "server.attendance.api",
    "server.attendance.unknown_api",
    "server.school.api",
    "server.school.calibration_api",
    "server.enrolment.api",
    "server.devices.api",
    "server.album.api",
    "server.devices.commands_api",
    "server.jobs.api",
    "server.deepfake.api",
    "server.devices.models_api",
    "server.devices.token_api",
    "server.faces_api.api",
    "server.web.dashboard_api",
    "server.devices.live_api",
)


def register_api(app: Flask) -> None:
    from server.api.docs_ui import bp as docs_ui

    for module in ENDPOINT_MODULES:
        importlib.import_module(module)
    app.register_blueprint(api)
    app.register_blueprint(docs_ui)  # Swagger UI for people, at /api/docs (outside /api/v1)


__all__ = ["ENDPOINT_MODULES", "api", "api_route", "register_api", "registry"]
