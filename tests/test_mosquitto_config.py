"""The shipped broker configuration (deploy/mosquitto/) does what docs/mqtt.md promises.

A private mosquitto runs the shipped visage.conf with only the listener/TLS lines and file paths
replaced (everything else, auth, ACL, persistence and queue limits, byte for byte), so a change
to those lines is caught here: anonymous and wrong-password logins, cross-device publishing and
subscribing, persistence across a restart and queues above mosquitto's default 1000 messages.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

paho = pytest.importorskip("paho.mqtt.client")
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto"
ROOT = "visage/v1/devices"
SHARED = "$share/visage-ingest/visage/v1/devices/+/sightings"
ACCOUNTS = {"dev-a": "secret-a", "dev-b": "secret-b", "visage-ingest": "secret-ingest"}
# Lines the test environment must replace: the network listeners and TLS files (no certificates
# here), and process settings that need root paths. Everything else is kept as shipped.
REPLACED = {
    "listener",
    "protocol",
    "cafile",
    "certfile",
    "keyfile",
    "tls_version",
    "user",
    "pid_file",
    "log_dest",
}
WAIT = 10.0


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install mosquitto mosquitto-clients)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render_config(tmp: Path, port: int) -> str:
    """The shipped config with test listener, paths and log; every other line unchanged."""
    paths = {
        "password_file": tmp / "passwd",
        "acl_file": DEPLOY / "visage.acl",
        "persistence_location": f"{tmp / 'persist'}/",
    }
    lines = []
    for line in (DEPLOY / "visage.conf").read_text().splitlines():
        key = line.split()[0] if line.strip() and not line.lstrip().startswith("#") else ""
        if key in REPLACED:
            continue
        lines.append(f"{key} {paths[key]}" if key in paths else line)
    user = "root" if os.geteuid() == 0 else "mosquitto"  # as root, stay root to write tmp_path
    lines += [f"user {user}", "log_dest stderr", f"listener {port} 127.0.0.1"]
    return "\n".join(lines) + "\n"


class Broker:
    """A private mosquitto subprocess that can be stopped and started on the same state."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.port = _free_port()
        self.conf = tmp / "visage-test.conf"
        self.conf.write_text(render_config(tmp, self.port))
        (tmp / "persist").mkdir()
        passwd = tmp / "passwd"
        for index, (name, password) in enumerate(ACCOUNTS.items()):
            flags = ["-b", "-c"] if index == 0 else ["-b"]
            subprocess.run([_binary("mosquitto_passwd"), *flags, str(passwd), name, password], check=True)
        self.process: subprocess.Popen | None = None
        self.log = tmp / "mosquitto.log"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([_binary("mosquitto"), "-c", str(self.conf)], stderr=log)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"mosquitto exited: {self.log.read_text()}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"mosquitto did not listen on {self.port}: {self.log.read_text()}")

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its in-memory database on a clean stop."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(WAIT)
        self.process = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    instance = Broker(tmp_path)
    instance.start()
    yield instance
    instance.stop()


class Client:
    """A paho 2.x MQTT v5 client whose CONNACK/SUBACK/PUBACK and messages tests can wait for."""

    def __init__(
        self,
        broker: Broker,
        username: str | None,
        password: str | None = None,
        client_id: str = "",
        persistent: bool = False,
    ):
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.broker = broker
        self.persistent = persistent
        self.messages: queue.Queue = queue.Queue()
        self.connack = threading.Event()
        self.reason = None
        self.subacks: queue.Queue = queue.Queue()
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)
        self.client.on_subscribe = lambda _c, _u, _mid, codes, _p: self.subacks.put(codes)

    def _on_connect(self, _client, _userdata, _flags, reason, _properties) -> None:
        self.reason = reason
        self.connack.set()

    def connect(self):
        """Connect and return the CONNACK reason code (a failure leaves the client stopped)."""
        properties = Properties(PacketTypes.CONNECT)
        if self.persistent:
            properties.SessionExpiryInterval = 3600
        self.client.connect(
            "127.0.0.1",
            self.broker.port,
            keepalive=30,
            clean_start=not self.persistent,
            properties=properties,
        )
        self.client.loop_start()
        assert self.connack.wait(WAIT), "no CONNACK"
        if self.reason.is_failure:
            self.client.loop_stop()
        return self.reason

    def subscribe(self, topic: str) -> list:
        self.client.subscribe(topic, qos=1)
        return self.subacks.get(timeout=WAIT)

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(WAIT)
        assert info.is_published()

    def publish_retained(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=True)
        info.wait_for_publish(WAIT)
        assert info.is_published()

    def receive(self) -> paho.MQTTMessage:
        return self.messages.get(timeout=WAIT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def login(broker: Broker, name: str, **kwargs) -> Client:
    client = Client(broker, name, ACCOUNTS[name], client_id=kwargs.pop("client_id", name), **kwargs)
    reason = client.connect()
    assert not reason.is_failure, f"{name} was refused: {reason}"
    return client


def test_shipped_config_keeps_every_auth_acl_and_queue_line(tmp_path):
    rendered = render_config(tmp_path, 1)
    for line in (
        "allow_anonymous false",
        "persistence true",
        "max_queued_messages 0",
        "max_queued_bytes 0",
        "queue_qos0_messages false",
        "per_listener_settings false",
    ):
        assert line in rendered.splitlines()
    shipped = (DEPLOY / "visage.conf").read_text()
    assert "listener 8883" in shipped and "cafile " in shipped and "keyfile " in shipped
    assert "\nlistener 1883 127.0.0.1\n" in shipped


def test_anonymous_and_wrong_password_are_refused(broker):
    assert Client(broker, None).connect().is_failure
    assert Client(broker, "dev-a", "not-the-password").connect().is_failure
    assert Client(broker, "nobody", "secret-a").connect().is_failure
    login(broker, "dev-a").close()


def test_device_publishes_only_its_own_topics(broker):
    ingest = login(broker, "visage-ingest")
    assert not ingest.subscribe(SHARED)[0].is_failure
    # mosquitto 2.0.11 acknowledges a denied QoS 1 publish (MQTT v5: reason 135, not authorized),
    # drops it and closes the connection, so each forgery gets its own connection.
    for forged in (f"{ROOT}/dev-b/sightings", f"{ROOT}/dev-a/gallery", f"{ROOT}/dev-a/other"):
        device = login(broker, "dev-a")
        device.publish(forged, b"forged")
        device.close()
    # Published after the forgeries were acknowledged: its arrival proves they had their chance.
    device = login(broker, "dev-a")
    device.publish(f"{ROOT}/dev-a/sightings", b"genuine")
    message = ingest.receive()
    assert (message.topic, message.payload) == (f"{ROOT}/dev-a/sightings", b"genuine")
    assert ingest.messages.empty()
    device.close()
    ingest.close()


def test_device_cannot_read_another_devices_commands(broker):
    # mosquitto 2.0.11's acl_file grants every SUBACK and applies "read" rules on delivery.
    device = login(broker, "dev-a")
    for pattern in (f"{ROOT}/dev-b/commands", f"{ROOT}/+/commands", f"{ROOT}/dev-b/#"):
        assert len(device.subscribe(pattern)) == 1
    ingest = login(broker, "visage-ingest")
    ingest.publish(f"{ROOT}/dev-b/commands", b"for b")
    ingest.publish(f"{ROOT}/dev-b/gallery", b"gallery of b")
    ingest.publish(f"{ROOT}/dev-a/commands", b"for a")
    message = device.receive()  # "for a" matches only the +/commands subscription: one copy
    assert (message.topic, message.payload) == (f"{ROOT}/dev-a/commands", b"for a")
    assert device.messages.empty()
    device.close()
    ingest.close()


def _offline_ingest(broker: Broker) -> None:
    """Create the persistent shared-subscription session ingest uses, then go away."""
    ingest = login(broker, "visage-ingest", client_id="ingest-1", persistent=True)
    assert not ingest.subscribe(SHARED)[0].is_failure
    ingest.close()


def test_queued_message_survives_a_broker_restart(broker):
    _offline_ingest(broker)
    device = login(broker, "dev-a")
    device.publish(f"{ROOT}/dev-a/sightings", b"while ingest was away")
    device.close()
    broker.stop()
    broker.start()
    ingest = login(broker, "visage-ingest", client_id="ingest-1", persistent=True)
    message = ingest.receive()
    assert message.payload == b"while ingest was away"
    ingest.close()


def test_thousands_of_queued_messages_are_not_dropped(broker):
    count = 3000  # mosquitto's default max_queued_messages is 1000
    _offline_ingest(broker)
    device = login(broker, "dev-a")
    infos = [device.client.publish(f"{ROOT}/dev-a/sightings", str(i).encode(), qos=1) for i in range(count)]
    for info in infos:
        info.wait_for_publish(WAIT)
        assert info.is_published()
    device.close()
    ingest = login(broker, "visage-ingest", client_id="ingest-1", persistent=True)
    received = {int(ingest.receive().payload) for _ in range(count)}
    assert received == set(range(count))
    ingest.close()


def test_model_bundle_announcements_reach_only_their_device(broker):
    # visage-ingest writes the retained announcements; a device reads only its own and forges none.
    ingest = login(broker, "visage-ingest")
    for device in ("dev-a", "dev-b"):
        ingest.publish_retained(f"{ROOT}/{device}/models", f"bundle for {device}".encode())
    for forger, forged in (("dev-b", f"{ROOT}/dev-a/models"), ("dev-a", f"{ROOT}/dev-a/models")):
        client = login(broker, forger)
        client.publish(forged, b"forged")  # acknowledged and dropped (see above)
        client.close()
    device = login(broker, "dev-a")
    for pattern in (f"{ROOT}/dev-a/models", f"{ROOT}/dev-b/models", f"{ROOT}/+/models"):
        device.subscribe(pattern)
    first = device.receive()
    time.sleep(1.0)  # whatever else the broker would deliver arrives meanwhile
    received = {(first.topic, first.payload, first.retain)}
    while not device.messages.empty():
        message = device.messages.get()
        received.add((message.topic, message.payload, message.retain))
    assert received == {(f"{ROOT}/dev-a/models", b"bundle for dev-a", True)}
    device.close()
    ingest.close()
