"""The device's MQTT link against real Mosquitto brokers: delivery, broker outage, Last Will, inbound.

The system broker (127.0.0.1:1883) carries the plain delivery tests; the outage test starts its own
broker on a free port so it can stop and restart it. Waits poll against a deadline so a failure fails.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.mqtt import DevicePublisher, MqttSettings
from edge.outbox import Outbox
from edge.telemetry import TelemetryCollector, cpu_temperature_c, model_versions
from shared.messages import Command, MessageError, SightingBatch, SightingEvent, Status, Telemetry, topic

pytestmark = pytest.mark.device_profile

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
DEADLINE_S = 30


def reachable(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def system_broker() -> int:
    if not reachable(1883):
        message = "Mosquitto is not reachable at 127.0.0.1:1883 (see README: mosquitto -d)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return 1883


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnBroker:
    """A Mosquitto subprocess on a free port, stoppable and restartable.

    Persistence is on (saved on SIGTERM), as the deployment configures it: a broker that restarts
    without it forgets the server's subscription, and whatever a device retransmits before the
    server resubscribes is acknowledged to the device and then dropped for want of a subscriber.
    """

    def __init__(self, tmp_path):
        if shutil.which("mosquitto") is None:
            pytest.fail("the mosquitto binary is not installed") if os.environ.get("CI") else pytest.skip(
                "the mosquitto binary is not installed"
            )
        self.port = free_port()
        self.conf = tmp_path / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nlog_dest file {tmp_path}/mosquitto.log\n"
            f"persistence true\npersistence_location {tmp_path}/\nmax_queued_messages 1000\n"
            # run as root, mosquitto drops to user "mosquitto", which cannot write our tmp_path
            f"user {getpass.getuser()}\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stderr=subprocess.DEVNULL)
        wait_for(lambda: reachable(self.port), "own broker to listen")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def own_broker(tmp_path):
    broker = OwnBroker(tmp_path)
    broker.start()
    yield broker
    broker.stop()


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


class Collector:
    """A paho subscriber that records sighting event ids and status messages of one device."""

    def __init__(self, port: int, device: str, persistent: bool = False):
        self.ids: list[str] = []
        self.statuses: list[str] = []
        self.telemetry: list[Telemetry] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"collector-{device}",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(f"visage/v1/devices/{device}/#", qos=1)
        self.client.reconnect_delay_set(0.2, 1)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 300 if persistent else 0
        self.client.connect_async("127.0.0.1", port, clean_start=not persistent, properties=props)
        self.client.loop_start()
        assert self.subscribed.wait(DEADLINE_S), "collector could not subscribe"

    def _on_message(self, client, userdata, message) -> None:
        kind = message.topic.rsplit("/", 1)[1]
        if kind == "sightings":
            self.ids.extend(e.event_id for e in SightingBatch.decode(message.payload).events)
        elif kind == "status" and message.payload:
            self.statuses.append(Status.decode(message.payload).state)
        elif kind == "telemetry":
            self.telemetry.append(Telemetry.decode(message.payload))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def events(device: str, start: int, n: int) -> list[SightingEvent]:
    return [
        SightingEvent(f"{device}-{i:08d}", i % 17, T0 + timedelta(milliseconds=i), 0.8, 5 if i % 3 else None)
        for i in range(start, start + n)
    ]


def new_device() -> str:
    return "t" + uuid.uuid4().hex[:12]


def settings(port: int, **kw) -> MqttSettings:
    return MqttSettings(port=port, reconnect_min_s=0.2, reconnect_max_s=1, session_expiry_s=60, **kw)


def clear_retained(port: int, device: str) -> None:
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(topic(device, "status"), b"", qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def test_2000_events_all_arrive_and_the_outbox_drains(tmp_path, system_broker):
    device = new_device()
    sub = Collector(system_broker, device)
    box = Outbox(tmp_path / "o.db")
    pub = DevicePublisher(device, box, settings(system_broker)).start()
    try:
        for start in range(0, 2000, 100):
            box.add(events(device, start, 100))
            pub.wake()
        wait_for(lambda: box.depth() == 0, "the outbox to drain")
        wait_for(lambda: len(set(sub.ids)) == 2000, "all 2000 event ids at the subscriber")
        assert set(sub.ids) == {e.event_id for e in events(device, 0, 2000)}
        wait_for(lambda: "online" in sub.statuses, "the retained online status")
    finally:
        pub.stop()
        wait_for(lambda: sub.statuses[-1:] == ["offline"], "offline status on clean stop")
        sub.close()
        clear_retained(system_broker, device)
        box.close()


def test_broker_outage_loses_nothing(tmp_path, own_broker):
    device = new_device()
    sub = Collector(own_broker.port, device, persistent=True)  # like the server's ingest subscriber
    box = Outbox(tmp_path / "o.db")
    pub = DevicePublisher(device, box, settings(own_broker.port)).start()
    try:
        assert pub.wait_connected(DEADLINE_S)
        for start in range(0, 500, 50):
            box.add(events(device, start, 50))
            pub.wake()
        own_broker.stop()  # mid-stream: some batches are surely unacknowledged
        wait_for(lambda: not pub.connected, "the publisher to notice the outage")
        for start in range(500, 1500, 100):  # the device keeps seeing faces during the outage
            box.add(events(device, start, 100))
            pub.wake()
            time.sleep(0.2)
        assert box.depth() > 0
        own_broker.start()
        sub.subscribed.clear()
        assert sub.subscribed.wait(DEADLINE_S), "collector did not resubscribe"
        wait_for(lambda: box.depth() == 0, "the outbox to drain after the restart")
        wanted = {e.event_id for e in events(device, 0, 1500)}
        try:
            wait_for(lambda: wanted <= set(sub.ids), "every event id, before and during the outage")
        except AssertionError:
            missing = sorted(wanted - set(sub.ids))
            raise AssertionError(
                f"{len(missing)} event ids never arrived: {missing[:2]}..{missing[-2:]}"
            ) from None
        assert set(sub.ids) == wanted  # duplicates allowed (at-least-once), strangers not
    finally:
        pub.stop()
        sub.close()
        box.close()


def test_last_will_marks_the_device_offline(tmp_path, system_broker):
    device = new_device()
    sub = Collector(system_broker, device)
    box = Outbox(tmp_path / "o.db")
    pub = DevicePublisher(device, box, settings(system_broker, keepalive_s=5)).start()
    try:
        wait_for(lambda: sub.statuses[-1:] == ["online"], "online status")
        pub.client.socket().shutdown(socket.SHUT_RDWR)  # the link dies without DISCONNECT
        wait_for(lambda: "offline" in sub.statuses, "the Last Will offline status")
        wait_for(lambda: sub.statuses[-1:] == ["online"], "online again after the automatic reconnect")
    finally:
        pub.stop()
        sub.close()
        clear_retained(system_broker, device)
        box.close()


def test_commands_and_invalid_messages_reach_the_device_without_crashing(tmp_path, system_broker):
    device = new_device()
    box = Outbox(tmp_path / "o.db")
    received: list[Command] = []
    pub = DevicePublisher(device, box, settings(system_broker), on_command=received.append).start()
    other = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    other.connect("127.0.0.1", system_broker)
    other.loop_start()
    try:
        assert pub.wait_connected(DEADLINE_S)
        time.sleep(0.3)  # let SUBACK land before publishing non-retained commands
        cmd_topic = topic(device, "commands")
        other.publish(cmd_topic, b"{not json", qos=1).wait_for_publish(5)
        other.publish(cmd_topic, Command("someone-else", "c1", "resync_gallery").encode(), qos=1)
        other.publish(cmd_topic, Command(device, "c2", "set_thumbnails", {"enabled": True}).encode(), qos=1)
        wait_for(lambda: len(received) == 1, "the valid command")
        assert received[0].name == "set_thumbnails" and received[0].args == {"enabled": True}
        wait_for(lambda: len(pub.rejected) == 2, "two rejected messages")
        assert [reason for reason, _ in pub.rejected] == ["malformed_json", "device_mismatch"]
        assert pub.connected
    finally:
        other.disconnect()
        other.loop_stop()
        pub.stop()
        clear_retained(system_broker, device)
        box.close()


def test_telemetry_is_published_from_the_collector(tmp_path, system_broker):
    device = new_device()
    sub = Collector(system_broker, device)
    box = Outbox(tmp_path / "o.db", capacity=500)
    collector = TelemetryCollector(device, lambda: (box.depth(), box.capacity), lambda: 4)
    for _ in range(5):
        collector.frame(faces=2)
        collector.stage("detect", 12.0)
    pub = DevicePublisher(device, box, settings(system_broker), telemetry=collector.snapshot).start()
    try:
        wait_for(lambda: sub.telemetry, "a telemetry message")
        sample = sub.telemetry[0]
        assert sample.outbox_capacity == 500 and sample.gallery_version == 4
        assert sample.stage_ms == {"detect": 12.0} and sample.fps > 0 and sample.faces_per_second > 0
    finally:
        pub.stop()
        sub.close()
        clear_retained(system_broker, device)
        box.close()


# ---------------------------------------------------------------- telemetry pieces (no broker)


def test_collector_rolls_its_window():
    now = [100.0]
    collector = TelemetryCollector("dev1", clock=lambda: now[0], manifest_path="/nonexistent", window_s=10)
    for _ in range(50):
        now[0] += 0.1
        collector.frame(faces=1)
        collector.stage("embed", 4.0)
    snap = collector.snapshot()
    assert snap.fps == pytest.approx(10.0) and snap.faces_per_second == pytest.approx(10.0)
    assert snap.stage_ms == {"embed": 4.0} and snap.models == {}
    now[0] += 60  # idle for a minute: the rates fall to zero instead of averaging the lifetime
    snap = collector.snapshot()
    assert snap.fps == 0 and snap.stage_ms == {} and snap.uptime_s == pytest.approx(65.0)
    Telemetry.decode(snap.encode(), "dev1")  # within the contract


def test_model_versions_and_temperature(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text('{"models": {"b": {"sha256": "0123456789abcdef0"}, "a": {"file": "x"}}}')
    assert model_versions(manifest) == {"b": "0123456789ab"}
    (tmp_path / "thermal_zone0").mkdir()
    (tmp_path / "thermal_zone0" / "temp").write_text("48500\n")
    (tmp_path / "thermal_zone1").mkdir()
    (tmp_path / "thermal_zone1" / "temp").write_text("garbage\n")
    assert cpu_temperature_c(str(tmp_path / "thermal_zone*" / "temp")) == 48.5
    assert cpu_temperature_c(str(tmp_path / "none*")) is None


def test_message_error_is_the_contract_type():
    with pytest.raises(MessageError):
        Command.decode(b"[]", "dev1")
