"""TLS and passwords on a private Mosquitto running the shipped configuration plus a TLS listener
(a CA and server certificate made with the openssl CLI in tmp): the device publisher delivers over
TLS with its account; a wrong CA, a wrong password or plain MQTT on the TLS port are refused, and the
publisher says which in one sentence (`last_error`) instead of retrying silently."""

from __future__ import annotations

import queue
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge.mqtt import DevicePublisher, MqttSettings
from edge.outbox import Outbox
from shared.messages import SightingBatch, SightingEvent
from shared.mqtt_connect import BrokerLogin, apply_login
from tests.test_mosquitto_config import ACCOUNTS, Broker, _binary

pytestmark = pytest.mark.device_profile

WAIT = 15.0


def openssl(*args: str) -> None:
    binary = shutil.which("openssl") or _binary("openssl")
    subprocess.run([binary, *args], check=True, capture_output=True)


def make_ca(folder: Path, name: str) -> tuple[Path, Path]:
    key, cert = folder / f"{name}.key", folder / f"{name}.crt"
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
    )  # fmt: skip
    return key, cert


def make_server_cert(folder: Path, ca_key: Path, ca_cert: Path) -> tuple[Path, Path]:
    key, csr, cert = folder / "server.key", folder / "server.csr", folder / "server.crt"
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1",
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(cert), "-days", "2", "-extfile", str(ext),
    )  # fmt: skip
    for path in (key, cert, ca_cert):
        path.chmod(0o644)  # mosquitto may drop to its own user
    return key, cert


class TlsBroker(Broker):
    """The shipped config's auth, ACL and persistence, with its one listener made a TLS listener."""

    def __init__(self, tmp: Path):
        super().__init__(tmp)
        ca_key, self.ca = make_ca(tmp, "visage-test-ca")
        _, self.rogue_ca = make_ca(tmp, "rogue-ca")
        key, cert = make_server_cert(tmp, ca_key, self.ca)
        self.conf.write_text(self.conf.read_text() + f"cafile {self.ca}\ncertfile {cert}\nkeyfile {key}\n")

    def settings(self, username: str = "dev-a", password: str | None = None, **changes) -> MqttSettings:
        values = {
            "host": "127.0.0.1",
            "port": self.port,
            "username": username,
            "password": ACCOUNTS[username] if password is None else password,
            "tls": True,
            "ca_certs": str(self.ca),
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 1.0,
            **changes,
        }
        return MqttSettings(**values)


@pytest.fixture
def broker(tmp_path) -> Iterator[TlsBroker]:
    tls = TlsBroker(tmp_path)
    tls.start()
    yield tls
    tls.stop()


def events(count: int) -> list[SightingEvent]:
    now = datetime.now(timezone.utc)
    return [
        SightingEvent(event_id=f"tls-{secrets.token_hex(6)}", track_id=n, captured_at=now, score=0.5)
        for n in range(count)
    ]


def wait_for(check, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_device_publishes_over_tls_with_its_account(broker, tmp_path):
    got: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    subscribed = queue.Queue()
    reader = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="visage-ingest-tls-test")
    apply_login(reader, BrokerLogin("visage-ingest", ACCOUNTS["visage-ingest"], True, str(broker.ca)))
    reader.on_message = lambda c, u, m: got.put(m)
    reader.on_subscribe = lambda *a: subscribed.put(True)
    reader.connect("127.0.0.1", broker.port)
    reader.loop_start()
    outbox = Outbox(tmp_path / "outbox.sqlite")
    publisher = DevicePublisher("dev-a", outbox, broker.settings())
    try:
        reader.subscribe("visage/v1/devices/+/sightings", qos=1)
        subscribed.get(timeout=WAIT)
        sent = events(7)
        outbox.add(sent)
        publisher.start()
        assert publisher.wait_connected(WAIT), publisher.last_error
        batch = SightingBatch.decode(got.get(timeout=WAIT).payload, expected_device="dev-a")
        assert {e.event_id for e in batch.events} == {e.event_id for e in sent}
        wait_for(lambda: outbox.depth() == 0)  # acknowledged by the broker over TLS
        assert publisher.last_error is None
    finally:
        publisher.stop()
        outbox.close()
        reader.disconnect()
        reader.loop_stop()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"password": "not-the-password"}, "refused user 'dev-a'"),
        ({"ca_certs": "rogue"}, "is not trusted by"),
        ({"tls": False, "ca_certs": None}, "is it a TLS port?"),
    ],
    ids=["wrong-password", "wrong-ca", "plain-on-tls-port"],
)
def test_wrong_ca_password_or_plain_mqtt_is_refused_with_a_clear_error(broker, tmp_path, changes, expected):
    if changes.get("ca_certs") == "rogue":
        changes = {**changes, "ca_certs": str(broker.rogue_ca)}
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.add(events(3))
    publisher = DevicePublisher("dev-a", outbox, broker.settings(**changes))
    publisher.start()
    try:
        wait_for(lambda: publisher.last_error is not None)
        assert not publisher.connected
        assert expected in publisher.last_error, publisher.last_error
        time.sleep(0.5)
        assert outbox.depth() == 3  # nothing left the device
    finally:
        publisher.stop()
        outbox.close()
