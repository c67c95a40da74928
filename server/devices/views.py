"""The devices pages (blueprint `devices`): every device's health, and one device's charts and
refused messages. Charts are inline SVG drawn here, so the page needs no script (strict CSP)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from server.auth.decorators import role_required
from server.db import db_session
from server.db.enums import Role
from server.devices import service
from server.devices.charts import line_chart

bp = Blueprint("devices", __name__)
REJECTED_SHOWN = 50


@bp.get("/devices")
@role_required(Role.ADMIN)
def overview() -> str:
    return render_template("devices/index.html", devices=service.overview(db_session))


@bp.get("/devices/<device_id>")
@role_required(Role.ADMIN)
def detail(device_id: str) -> str:
    device = service.find(db_session, device_id)
    if device is None:
        abort(404)
    entry = next(e for e in service.overview(db_session) if e["id"] == device.id)
    rows = service.history(db_session, device, None, limit=500)
    times = [r.at for r in rows]
    charts = [
        ("Frames per second", line_chart(times, [r.fps for r in rows])),
        ("Outbox backlog (messages)", line_chart(times, [r.outbox_depth for r in rows])),
        ("CPU temperature (°C)", line_chart(times, [r.cpu_temperature_c for r in rows])),
    ]
    return render_template(
        "devices/detail.html",
        device=entry,
        charts=charts,
        rejected=service.rejected(db_session, device.device_id, REJECTED_SHOWN),
    )
