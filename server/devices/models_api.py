"""The model bundle for devices, in /api/v1/device/models (a device's own token, never a user's).

    GET /api/v1/device/models/manifest       the bundle manifest (shared.bundle), ETag = its sha256
    GET /api/v1/device/models/files/<name>   one file, streamed, ETag = its sha256 (Range and
                                             If-None-Match answered as HTTP says)

A device (edge.models_sync) fetches the manifest, then each file it lacks, checks every file against
the manifest and swaps the set in only when all arrived intact. The manifest bytes are canonical
(shared.bundle.encode_manifest), so their sha256 is exactly what the MQTT announcement names.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, current_app, g, request, send_file
from flask_babel import gettext

from server.api.endpoints import api_route
from server.devices.models_bundle import BundleUnavailable, ServedBundle, current_bundle
from server.devices.schemas import DeviceModelBundle
from server.devices.tokens import device_required

TAGS = ["device"]
SECURITY = ["deviceToken"]


def _bundle() -> ServedBundle:
    try:
        return current_bundle(current_app)
    except BundleUnavailable as exc:
        abort(503, gettext("no model bundle to offer: %(reason)s", reason=exc))


@api_route(
    "/device/models/manifest",
    response=DeviceModelBundle,
    errors=[503],
    tags=TAGS,
    security=SECURITY,
)
@device_required
def device_models_manifest() -> Any:
    """The model bundle manifest for this device.

    Needs the device's own token (`Authorization: Bearer vsd_...`); a user's API token is refused (403).
    The body is canonical JSON whose sha256 (also the ETag) the MQTT `models` announcement names."""
    bundle = _bundle()
    response = Response(bundle.raw, mimetype="application/json")
    response.set_etag(bundle.sha256)
    response.headers["X-Visage-Bundle"] = bundle.version
    response.headers["Cache-Control"] = "no-cache"
    current_app.logger.info("device %s fetched model bundle manifest %s", g.device.device_id, bundle.version)
    return response.make_conditional(request)


@api_route(
    "/device/models/files/<name>",
    errors=[404, 503],
    tags=TAGS,
    security=SECURITY,
)
@device_required
def device_model_file(name: str) -> Any:
    """One file of the model bundle, streamed (application/octet-stream, ETag = its sha256).

    Only files the current manifest lists are served; check the bytes against the manifest's sha256
    before using them."""
    bundle = _bundle()
    entry = bundle.files.get(name)
    if entry is None:
        abort(
            404,
            gettext(
                "model bundle %(version)s has no file '%(name)s'", version=bundle.version, name=name[:80]
            ),
        )
    path = bundle.directory / entry["name"]
    try:
        if path.stat().st_size != entry["bytes"]:
            abort(
                503,
                gettext("%(name)s is changing on the server; fetch the manifest again", name=entry["name"]),
            )
    except FileNotFoundError:
        abort(
            503, gettext("%(name)s disappeared from the server; fetch the manifest again", name=entry["name"])
        )
    response = send_file(
        path,
        mimetype="application/octet-stream",
        download_name=entry["name"],
        etag=entry["sha256"],
        conditional=True,
        max_age=0,
    )
    response.headers["X-Visage-Bundle"] = bundle.version
    return response
