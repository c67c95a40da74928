"""The devices pages (blueprint `devices`): every device's health, and one device's charts and
refused messages. Charts are inline SVG drawn here, so the page needs no script (strict CSP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from server.auth.decorators import role_required
from server.db import db_session
from server.db.enums import Role
from server.db.models import Device
from server.devices import commands, service, texts
from server.devices.charts import line_chart
from server.devices.live import device_live
from server.web.live import refresh_seconds
from shared.messages import COMMANDS

bp = Blueprint("devices", __name__)
REJECTED_SHOWN = 50
UPLOT_SCRIPT = "vendor/uplot/uPlot.iife.min.js"
bp.add_app_template_global(texts.page_words, "device_words")


@bp.get("/devices")
@role_required(Role.ADMIN)
def overview() -> str:
    return render_template(
        "devices/index.html",
        devices=service.overview(db_session),
        refresh_seconds=refresh_seconds(),
    )


@bp.get("/devices/<device_id>")
@role_required(Role.ADMIN)
def detail(device_id: str) -> str:
    device = service.find(db_session, device_id)
    if device is None:
        abort(404)
    return _detail_page(device)


@bp.post("/devices/<device_id>/commands")
@role_required(Role.ADMIN)
def post_command(device_id: str) -> Response | tuple[str, int]:
    """Queue a command from the page's buttons (CSRF-protected form); the ingest worker sends it."""
    device = service.find(db_session, device_id)
    if device is None:
        abort(404)
    name = request.form.get("name", "")
    try:
        command = commands.queue(db_session, device, name, _form_args(name), current_user)
    except commands.CommandRejected as exc:
        db_session.rollback()
        return _detail_page(device, error=gettext(str(exc))), 400  # a marked sentence, translated
    flash(
        gettext(
            "Command %(name)s queued for %(device)s; its answer appears below.",
            name=command.name,
            device=device.device_id,
        ),
        "info",
    )
    return redirect(url_for(".detail", device_id=device.device_id, _anchor="commands"), 303)


def _form_args(name: str) -> dict[str, Any]:
    """Form fields as the command's arguments (validated by `commands.queue`)."""
    if name == "set_crops":
        return {"mode": request.form.get("mode", "")}  # checked against CROP_MODES by the contract
    if name == "set_thumbnails":
        value = request.form.get("enabled", "")
        if value not in ("on", "off"):
            raise commands.CommandRejected(gettext("set_thumbnails: choose on or off"))
        return {"enabled": value == "on"}
    if name == "set_telemetry_interval":
        text = request.form.get("seconds", "").strip()
        try:
            return {"seconds": float(text)}
        except ValueError:
            raise commands.CommandRejected(
                gettext("set_telemetry_interval: '%(text)s' is not a number", text=text[:20])
            ) from None
    return {}


def _detail_page(device: Device, error: str | None = None) -> str:
    live = device_live(db_session, device)  # what static/devices.js refreshes: the same document
    entry = live["device"]
    rows = service.history(db_session, device, None, limit=500)
    times = [r.at for r in rows]
    charts = [
        (gettext("Frames per second"), line_chart(times, [r.fps for r in rows])),
        (gettext("Outbox backlog (messages)"), line_chart(times, [r.outbox_depth for r in rows])),
        (gettext("CPU temperature (°C)"), line_chart(times, [r.cpu_temperature_c for r in rows])),
    ]
    return render_template(
        "devices/detail.html",
        device=entry,
        charts=charts,
        rejected=service.rejected(db_session, device.device_id, REJECTED_SHOWN),
        commands=commands.recent(db_session, device),
        latest=live["telemetry"],
        refresh_seconds=refresh_seconds(),
        uplot=uplot_available(),
        command_names=list(COMMANDS),
        error=error,
    )


def uplot_available() -> bool:
    """Whether scripts/fetch_uplot.py put the chart library in static/vendor (else the SVG charts stay)."""
    return (Path(str(current_app.static_folder)) / UPLOT_SCRIPT).is_file()
