"""An administrator sends a device command from the device page in a real headless Chromium, and sees
the device's answer: web form (CSRF) -> database -> the real ingest worker -> the real Mosquitto
(127.0.0.1:1883) -> a real edge agent's MQTT link, which executes it and acknowledges in telemetry
-> ingest -> the page. Skips without Chromium or the broker, except under CI=true, where it fails.
"""

from __future__ import annotations

import secrets
import time

from tests.browser.conftest import add_user, make_app, serving, sign_in
from tests.conftest import BROKER, require_broker


def test_admin_sends_a_command_and_sees_the_devices_answer(browser, analyzer, tmp_path):
    require_broker()
    from playwright.sync_api import expect

    from edge.agent import EdgeAgent
    from edge.config import EdgeConfig
    from edge.mqtt import MqttSettings
    from server.db import get_db
    from server.db.models import Device
    from server.ingest import IngestWorker
    from tests.server.test_server_devices_commands import forget_device_session
    from tests.server.test_server_ingest_mqtt import forget_session

    app = make_app(tmp_path)
    device_id = f"cam-{secrets.token_hex(4)}"
    database = get_db(app)
    with database.session() as db:
        add_user(db, app, "root@school.example", "Root", "admin")
        db.add(Device(device_id=device_id, name="Front"))
        db.commit()

    worker = IngestWorker(app, f"web-{secrets.token_hex(3)}", *BROKER, group=f"test-{secrets.token_hex(3)}")
    agent = EdgeAgent(
        EdgeConfig(
            device_id=device_id,
            outbox_path=str(tmp_path / "outbox.sqlite"),
            gallery_path=str(tmp_path / "gallery.json"),
            broker=MqttSettings(*BROKER, telemetry_interval_s=3600),
        ),
        analyzer=analyzer,
    )
    try:
        with serving(app) as base:
            worker.start()
            agent.publisher.start()
            try:
                assert agent.publisher.wait_connected(15)
                page = browser.new_page()
                page.set_default_timeout(15_000)
                page.goto(f"{base}/devices/{device_id}")
                sign_in(page, "root@school.example")
                expect(page.locator("h1")).to_have_text(f"Device {device_id}")
                assert agent.config.crops == "unknown"
                expect(page.locator("#cmd-crops-mode")).to_have_value("unknown")

                page.select_option("#cmd-crops-mode", "all")
                page.click("#cmd-set_crops")
                expect(page.locator(".flash").first).to_contain_text("set_crops queued")
                row = page.locator("#command-list tbody tr").first
                deadline = time.monotonic() + 20
                while row.locator(".command-status").inner_text() != "done":
                    status = row.locator(".command-status").inner_text()
                    assert time.monotonic() < deadline, f"status stayed {status}"
                    time.sleep(0.5)
                    page.reload()
                    row = page.locator("#command-list tbody tr").first
                expect(row).to_contain_text("crops all")
                assert agent.config.crops == "all"
                # The device's answer came with telemetry that reports the mode: the page shows it.
                page.reload()
                expect(page.locator("#device-crops")).to_contain_text("every face")
                expect(page.locator("#cmd-crops-mode")).to_have_value("all")

                page.fill("#cmd-telemetry-seconds", "0.5")  # below the 1 s minimum: the form will not submit
                page.click("#cmd-set_telemetry_interval")
                assert page.locator("#cmd-telemetry-seconds").evaluate("e => !e.validity.valid")
                page.reload()
                assert page.locator("#command-list tbody tr").count() == 1
            finally:
                agent.publisher.stop()
                agent.outbox.close()
                worker.stop(drain=False)
                forget_session(worker.client._client_id.decode())
                forget_device_session(agent.publisher.client_id)
    finally:
        database.dispose()
