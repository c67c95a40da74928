"""The devices list and one device's page in a real headless Chromium, updated without a reload
(static/devices.js through the shared poll helper static/live.js): telemetry, status and a command's
acknowledgement written to the database while the page is open appear on it, and the Face crops
selector follows the mode the device acknowledged. The MQTT path that writes those rows is tested
end to end in test_browser_devices_commands.py; here the rows are written directly.
"""

from __future__ import annotations

from datetime import timedelta

from tests.browser.conftest import add_user, make_app, open_signed_in, serving


def test_device_pages_refresh_themselves(browser, tmp_path):
    from playwright.sync_api import expect

    from server.db import get_db, utcnow
    from server.db.models import Device, DeviceCommand, DeviceHealth, DeviceTelemetry

    app = make_app(tmp_path, LIVE_REFRESH_SECONDS=1)
    database = get_db(app)
    now = utcnow().replace(microsecond=0)
    with database.session() as db:
        add_user(db, app, "root@school.example", "Root", "admin")
        cam = Device(device_id="cam-live", name="Front")
        db.add(cam)
        db.flush()
        db.add(
            DeviceTelemetry(
                device_id=cam.id,
                at=now - timedelta(minutes=1),
                fps=8.0,
                faces_per_second=3.0,
                outbox_depth=0,
                outbox_capacity=100,
                stage_ms={"detect": 90.0},
                crops="unknown",
            )
        )
        db.commit()
        cam_pk = cam.id

    try:
        with serving(app) as base:
            context, page, problems = open_signed_in(browser, f"{base}/devices", "root@school.example")
            status = page.locator("tr[data-device='cam-live'] [data-col='status']")
            expect(status).to_have_text("offline")
            with database.session() as db:
                db.add(DeviceHealth(device_id=cam_pk, status="online", status_at=now, last_seen_at=now))
                db.commit()
            expect(status).to_have_text("online")  # no reload

            page.goto(f"{base}/devices/cam-live")
            latest = page.locator("#latest-telemetry")
            expect(latest).to_contain_text("8.0 FPS")
            expect(page.locator("#cmd-crops-mode")).to_have_value("unknown")
            expect(page.locator("#no-commands")).to_be_visible()
            with database.session() as db:
                db.add(
                    DeviceTelemetry(
                        device_id=cam_pk,
                        at=now,
                        fps=9.3,
                        faces_per_second=4.0,
                        outbox_depth=2,
                        outbox_capacity=100,
                        stage_ms={"detect": 101.5, "embed": 12.4},
                        crops="unknown",
                    )
                )
                db.add(
                    DeviceCommand(
                        command_id="c-1",
                        device_id=cam_pk,
                        name="set_crops",
                        args={"mode": "all"},
                        status="sent",
                        expires_at=now + timedelta(minutes=5),
                    )
                )
                db.commit()
            expect(latest).to_contain_text("9.3 FPS, 4.0 faces/s, detect 101.5 ms, embed 12.4 ms")
            row = page.locator("#command-list tr[data-command-id='c-1']")
            expect(row.locator(".command-status")).to_have_text("sent")
            expect(page.locator("#cmd-crops-mode")).to_have_value("unknown")  # not acknowledged yet

            with database.session() as db:  # the device acknowledges before its next telemetry
                command = db.query(DeviceCommand).filter_by(command_id="c-1").one()
                command.status, command.detail = "done", "crops all"
                command.answered_at = now + timedelta(seconds=5)
                db.commit()
            expect(row.locator(".command-status")).to_have_text("done")
            expect(row.locator(".command-detail")).to_have_text("crops all")
            expect(page.locator("#cmd-crops-mode")).to_have_value("all")
            expect(page.locator("#device-crops")).to_contain_text("every face")
            page.screenshot(path="/tmp/visage-device-live.png", full_page=True)
            assert problems == [], f"the browser reported errors: {problems}"
            context.close()
    finally:
        database.dispose()


def test_device_charts_have_axes_units_hover_values_and_grow_live(browser, tmp_path):
    """uPlot (fetched from npm by scripts/fetch_uplot.py) draws the telemetry with a time axis in the
    deployment's zone, a y axis labelled with its unit, one line per pipeline stage, and the values
    under the cursor; a telemetry row stored while the page is open is added to the charts without a
    reload."""
    from pathlib import Path

    from playwright.sync_api import expect

    from server.db import get_db, utcnow
    from server.db.models import Device, DeviceTelemetry
    from tests.conftest import unavailable

    vendor = (
        Path(__file__).resolve().parents[2] / "server" / "static" / "vendor" / "uplot" / "uPlot.iife.min.js"
    )
    if not vendor.is_file():
        unavailable("uPlot is not fetched: run python scripts/fetch_uplot.py (scripts/setup.sh does)")
    app = make_app(tmp_path, LIVE_REFRESH_SECONDS=1)
    database = get_db(app)
    now = utcnow().replace(microsecond=0)

    def report(db, pk: int, minutes_ago: float, fps: float, detect: float) -> None:
        db.add(
            DeviceTelemetry(
                device_id=pk,
                at=now - timedelta(minutes=minutes_ago),
                fps=fps,
                faces_per_second=2.0,
                outbox_depth=3,
                outbox_capacity=100,
                stage_ms={"detect": detect, "embed": 10.0, "track": 1.5},
                cpu_temperature_c=55.0,
            )
        )

    with database.session() as db:
        add_user(db, app, "root@school.example", "Root", "admin")
        cam = Device(device_id="cam-chart", name="Front")
        db.add(cam)
        db.flush()
        for i in range(10):
            report(db, cam.id, 10 - i, 8.0 + i / 10, 90.0 + i)
        db.commit()
        cam_pk = cam.id

    try:
        with serving(app) as base:
            context, page, problems = open_signed_in(
                browser, f"{base}/devices/cam-chart", "root@school.example", width=1200
            )
            stages = page.locator("#chart-stages")
            expect(page.locator("#live-charts")).to_be_visible()
            expect(page.locator("section.chart").first).to_be_hidden()  # the SVG fallback gives way
            expect(stages.locator(".u-title")).to_have_text("Latency per stage (ms)")
            expect(stages.locator(".u-legend .u-series")).to_have_count(4)  # time + detect, embed, track
            for stage in ("detect", "embed", "track"):
                expect(stages.locator(".u-legend")).to_contain_text(stage)
            expect(stages.locator(".u-axis")).to_have_count(2)
            # axis labels; the time is in the deployment's zone (DISPLAY_TIMEZONE, default Asia/Seoul)
            assert "ms" in stages.inner_text() and "time (Asia/Seoul)" in stages.inner_text()

            over = stages.locator(".u-over")
            area = over.bounding_box()
            page.mouse.move(area["x"] + area["width"] - 1, area["y"] + area["height"] / 2)
            expect(stages.locator(".u-legend")).to_contain_text("99.0 ms")  # the newest point's detect

            with database.session() as db:
                report(db, cam_pk, -0.5, 9.9, 123.4)  # newer than every point so far
                db.commit()
            page.mouse.move(area["x"] + 1, area["y"] + 1)
            page.mouse.move(area["x"] + area["width"] - 1, area["y"] + area["height"] / 2)
            expect(stages.locator(".u-legend")).to_contain_text("123.4 ms")  # no reload
            expect(page.locator("#chart-fps .u-legend")).to_contain_text("frames/s")
            page.screenshot(path="/tmp/visage-device-charts.png", full_page=True)
            assert problems == [], f"the browser reported errors: {problems}"
            context.close()
    finally:
        database.dispose()
