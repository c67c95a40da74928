"""The OpenAPI document of the JSON API, served by the API itself."""

from __future__ import annotations

from typing import Any

from server.api.endpoints import api_route, registry


@api_route("/openapi.json", "GET", public=True, response={"type": "object"}, tags=["meta"])
def openapi_document() -> dict[str, Any]:
    """This API's OpenAPI 3.1 description.

    Built from the registry of declared endpoints, so it always matches the routes."""
    return registry.document()
