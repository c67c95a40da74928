"""The embedded amqtt broker (`server.broker`) keeps the delivery promises the MQTT path relies on:
QoS 1 queued for a disconnected persistent session, unacknowledged deliveries resent, retained
status and Last Will, a free port when the asked one is taken, a clean stop."""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
import pytest

from edge.config import ConfigError, parse_config
from edge.mqtt import DevicePublisher, MqttSettings
from edge.outbox import Outbox
from server.broker import BrokerError, EmbeddedBroker, free_port, port_free
from shared.messages import SightingBatch, SightingEvent, topic
from tests.conftest import wait_until

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def broker():
    with EmbeddedBroker(port=None) as running:
        yield running


class Subscriber:
    """A paho v3.1.1 client with a persistent session, acknowledging only when told to."""

    def __init__(self, port: int, client_id: str, topic: str, ack: bool = True) -> None:
        self.received: list[tuple[str, bytes, bool]] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=not ack,
        )
        self.client.on_connect = lambda c, *_: c.subscribe(topic, 1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, bytes(m.payload), m.retain))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "no SUBACK from the embedded broker"

    def close(self, clean: bool = True) -> None:
        if clean:
            self.client.disconnect()
        else:  # a crash: the socket just goes away, no DISCONNECT
            self.client._sock_close()  # paho has no public "die" call
        self.client.loop_stop()


def publisher(port: int, client_id: str = "test-publisher", **will) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    if will:
        client.will_set(**will)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def test_qos1_waits_for_a_disconnected_persistent_session(broker):
    sub = Subscriber(broker.port, "ingest-a", "visage/v1/devices/+/sightings")
    pub = publisher(broker.port)
    sub.close()
    for i in range(300):  # more than Mosquitto's default queue of 100/1000 would keep
        pub.publish("visage/v1/devices/cam/sightings", str(i), qos=1).wait_for_publish(5)
    sub = Subscriber(broker.port, "ingest-a", "visage/v1/devices/+/sightings")
    assert wait_until(lambda: len(sub.received) >= 300, 20)
    assert sorted(int(payload) for _, payload, _ in sub.received) == list(range(300))
    sub.close()
    pub.loop_stop()


def test_an_unacknowledged_delivery_is_sent_again_after_a_crash(broker):
    sub = Subscriber(broker.port, "ingest-b", "visage/v1/devices/+/sightings", ack=False)
    pub = publisher(broker.port)
    pub.publish("visage/v1/devices/cam/sightings", b"batch-1", qos=1).wait_for_publish(5)
    assert wait_until(lambda: sub.received)
    sub.close(clean=False)  # received, never acknowledged (as ingest dying before its commit)
    again = Subscriber(broker.port, "ingest-b", "visage/v1/devices/+/sightings")
    assert wait_until(lambda: again.received, 15), "the unacknowledged message was not resent"
    assert again.received[0][1] == b"batch-1"
    again.close()
    pub.loop_stop()


def test_retained_status_and_last_will(broker):
    status = "visage/v1/devices/cam/status"
    device = publisher(broker.port, "device-cam", topic=status, payload=b"offline", qos=1, retain=True)
    device.publish(status, b"online", qos=1, retain=True).wait_for_publish(5)
    late = Subscriber(broker.port, "watcher", status)
    assert wait_until(lambda: late.received)
    assert late.received[0][1:] == (b"online", True)
    device._sock_close()  # a crash: the broker sends the Last Will
    device.loop_stop()
    assert wait_until(lambda: any(payload == b"offline" for _, payload, _ in late.received), 15)
    late.close()


def test_a_taken_port_falls_back_to_a_free_one_or_is_refused():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        assert not port_free(taken)
        with pytest.raises(BrokerError, match="taken"):
            EmbeddedBroker(port=taken, fallback=False).start()
        with EmbeddedBroker(port=taken) as running:
            assert running.port != taken and not port_free(running.port)
            client = publisher(running.port, "probe")
            info = client.publish("t", b"x", qos=1)
            info.wait_for_publish(5)
            assert info.is_published()  # the PUBACK came from the fallback port
            client.loop_stop()
            client.disconnect()


def test_stop_closes_the_port_and_ends_the_thread():
    port = free_port()
    running = EmbeddedBroker(port=port).start()
    assert running.port == port and not port_free(port)
    running.stop()
    assert port_free(port)
    assert not any(t.name == "mqtt-broker" and t.is_alive() for t in threading.enumerate())


def test_a_slow_acknowledgement_does_not_lose_the_message(broker, monkeypatch):
    """amqtt alone forgets a delivery 5 s without PUBACK; the embedded broker keeps it for the resend."""
    monkeypatch.setattr("server.broker.ACK_WAIT_S", 0.3)
    sub = Subscriber(broker.port, "ingest-c", "visage/v1/devices/+/sightings", ack=False)
    pub = publisher(broker.port)
    pub.publish("visage/v1/devices/cam/sightings", b"slow", qos=1).wait_for_publish(5)
    assert wait_until(lambda: sub.received)
    time.sleep(1.0)  # past the broker's wait for this PUBACK
    sub.close(clean=False)
    again = Subscriber(broker.port, "ingest-c", "visage/v1/devices/+/sightings")
    assert wait_until(lambda: again.received, 15), "the message was dropped after the ack timeout"
    assert again.received[0][1] == b"slow"
    again.close()
    pub.loop_stop()


def test_a_device_on_mqtt_3_1_1_delivers_every_event_through_a_subscriber_outage(broker, tmp_path):
    """The edge publisher with `protocol = "3.1.1"` (amqtt has no MQTT 5) against the embedded broker,
    the ingest-like subscriber away for part of the stream: every event id arrives."""
    device = "demo-cam-test"
    sub = Subscriber(broker.port, "ingest-d", topic(device, "sightings"))
    box = Outbox(tmp_path / "outbox.sqlite")
    settings = MqttSettings(port=broker.port, protocol="3.1.1", reconnect_min_s=0.2, reconnect_max_s=1)
    publisher_ = DevicePublisher(device, box, settings).start()
    sent = [SightingEvent(f"{device}-{i:06d}", i % 7, T0 + timedelta(seconds=i), 0.9, 3) for i in range(600)]
    try:
        assert publisher_.wait_connected(10)
        box.add(sent[:300])
        publisher_.wake()
        assert wait_until(lambda: box.depth() == 0, 20)
        before = list(sub.received)
        sub.close(clean=False)
        box.add(sent[300:])
        publisher_.wake()
        assert wait_until(lambda: box.depth() == 0, 20)  # acknowledged by the broker, queued for ingest
        sub = Subscriber(broker.port, "ingest-d", topic(device, "sightings"))

        def ids() -> set[str]:
            return {
                e.event_id
                for _, payload, _ in [*before, *sub.received]
                for e in SightingBatch.decode(payload, device).events
            }

        assert wait_until(lambda: len(ids()) == 600, 20), f"{600 - len(ids())} events missing"
        assert ids() == {e.event_id for e in sent}
    finally:
        publisher_.stop()
        box.close()
        sub.close()


def test_the_edge_config_accepts_only_known_protocols():
    assert parse_config({"device_id": "cam", "broker": {"protocol": "3.1.1"}}).broker.protocol == "3.1.1"
    assert parse_config({"device_id": "cam", "broker": {"protocol": 5}}).broker.protocol == "5"
    with pytest.raises(ConfigError, match="protocol"):
        parse_config({"device_id": "cam", "broker": {"protocol": "4"}})
