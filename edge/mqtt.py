"""The device's MQTT link: drains the outbox in QoS 1 batches, keeps its status retained, takes orders.

Protocol choice: MQTT v5 with `clean_start=False` and a Session Expiry Interval (default one day).
A v5 session survives a short network drop (the broker keeps our subscriptions and any QoS 1
gallery/command messages queued for us) but, unlike v3.1.1 clean_session=False, it does expire, so a
decommissioned device does not pin broker memory forever. The client id is stable
(`visage-edge-<device_id>`) so the broker can find that session again.

Delivery (why no sighting is lost or counted twice):
- every event is in the SQLite outbox before it is published (edge/outbox.py);
- one MQTT message carries up to 50 events (one event per message loses most of them to the
  broker's 1000-message queue limit, see docs/mqtt.md); at most `max_inflight` (20, Mosquitto's
  own max_inflight_messages default) batches are unacknowledged at once, so the broker's queue for a
  slow subscriber fills 50x slower and paho never buffers an unbounded backlog in RAM;
- a batch leaves the outbox only when its PUBACK arrives (`on_publish` -> `Outbox.ack`);
- after a reconnect paho retransmits its unacknowledged messages itself (same payload, same event
  ids); a batch still unacknowledged after `ack_timeout_s` is requeued and sent again under a new
  batch id with the SAME event ids; at startup every in-flight row is requeued (the previous process
  died before its PUBACK). The server's insert is idempotent on event_id, so duplicates cost nothing.

Status: Last Will = retained `offline` Status on the status topic (sent by the broker when the
connection dies without DISCONNECT); a retained `online` Status is published on every connect and a
retained `offline` one on a clean `stop()`.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.outbox import Outbox
from shared.messages import (
    Command,
    Gallery,
    MessageError,
    ModelsAnnouncement,
    SightingBatch,
    Status,
    Telemetry,
    topic,
)
from shared.mqtt_connect import (
    BrokerLogin,
    RecordingClient,
    apply_login,
    describe_connect_error,
    describe_refusal,
)

log = logging.getLogger(__name__)

SOFTWARE = "visage-edge/1"


@dataclass
class MqttSettings:
    """Where and how the device connects; TLS and credentials are optional (production uses both)."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    keepalive_s: int = 30
    # "5" (default) or "3.1.1" for brokers without MQTT 5, such as the embedded amqtt broker of
    # `visage demo`: a v3.1.1 persistent session (clean_session=False) never expires by itself.
    protocol: str = "5"
    session_expiry_s: int = 86_400
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    batch_events: int = 50
    max_inflight: int = 20
    ack_timeout_s: float = 60.0
    telemetry_interval_s: float = 30.0
    extra: dict = field(default_factory=dict)


class DevicePublisher:
    """Owns one paho client and one drain thread; thread-safe `wake()` after the agent adds events."""

    def __init__(
        self,
        device_id: str,
        outbox: Outbox,
        settings: MqttSettings | None = None,
        on_gallery: Callable[[Gallery], None] | None = None,
        on_command: Callable[[Command], None] | None = None,
        telemetry: Callable[[], Telemetry] | None = None,
        gallery_version: Callable[[], int | None] | None = None,
        on_models: Callable[[ModelsAnnouncement], None] | None = None,
    ):
        self.device_id = device_id
        self.outbox = outbox
        self.settings = settings or MqttSettings()
        self.on_gallery = on_gallery
        self.on_command = on_command
        self.telemetry = telemetry
        self.gallery_version = gallery_version
        self.topics = {kind: topic(device_id, kind) for kind in ("status", "telemetry", "sightings")}
        self.gallery_topic = topic(device_id, "gallery")
        self.commands_topic = topic(device_id, "commands")
        self.on_models = on_models
        self.models_topic = topic(device_id, "models")  # the model bundle to run (edge.models_sync)
        self.last_error: str | None = None  # why the broker cannot be reached or refused us, if so
        self.rejected: list[tuple[str, str]] = []  # (reason, text) of the last invalid inbound messages

        self._connected = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._telemetry_due = threading.Event()
        self._acks: queue.SimpleQueue[tuple[int, bool]] = queue.SimpleQueue()
        self._pending: dict[int, tuple[str, float]] = {}  # mid -> (batch_id, published monotonic time)
        self._thread: threading.Thread | None = None
        self.client = self._make_client()

    # ------------------------------------------------------------ lifecycle

    @property
    def client_id(self) -> str:
        return f"visage-edge-{self.device_id}"

    @property
    def mqtt5(self) -> bool:
        if self.settings.protocol not in ("5", "3.1.1"):
            raise ValueError(f'[broker] protocol must be "5" or "3.1.1", not {self.settings.protocol!r}')
        return self.settings.protocol == "5"

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> DevicePublisher:
        """Requeue what a previous process left in flight, connect (retrying in the background), drain."""
        requeued = self.outbox.requeue_inflight()
        if requeued:
            log.info("requeued %d events left in flight by a previous run", requeued)
        s = self.settings
        if self.mqtt5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = s.session_expiry_s
            self.client.connect_async(s.host, s.port, s.keepalive_s, clean_start=False, properties=props)
        else:
            self.client.connect_async(s.host, s.port, s.keepalive_s)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._drain_loop, name=f"outbox-{self.device_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Publish a retained `offline`, disconnect cleanly, stop threads; undelivered events stay on disk."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self.connected:
            info = self.client.publish(self.topics["status"], self._status("offline"), qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout_s)
        self.client.disconnect()
        self.client.loop_stop()

    def drain(self, timeout_s: float) -> bool:
        """Wait (at most `timeout_s`) until every event in the outbox is acknowledged; True if so.

        For a source that ends (a video file): deliver what it produced before the process exits.
        Whatever is left stays on disk for the next run."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.outbox.depth() == 0 and self.outbox.inflight() == 0:
                return True
            self._wake.set()
            time.sleep(0.05)
        return self.outbox.depth() == 0 and self.outbox.inflight() == 0

    def wake(self) -> None:
        """Tell the drain thread new events are in the outbox (it also polls, so this is only latency)."""
        self._wake.set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def telemetry_now(self) -> None:
        """Send telemetry at the next turn of the drain loop (e.g. to deliver a command's ack)."""
        self._telemetry_due.set()
        self._wake.set()

    def set_telemetry_interval(self, seconds: float) -> None:
        self.settings.telemetry_interval_s = seconds
        self.telemetry_now()

    def resync_gallery(self) -> None:
        """Subscribe to the gallery topic again: the broker hands over its retained gallery anew."""
        self.client.subscribe(self.gallery_topic, qos=1)

    def publish_telemetry(self, telemetry: Telemetry) -> None:
        """QoS 0: a lost health sample is replaced by the next one; it must never queue behind sightings."""
        self.client.publish(self.topics["telemetry"], telemetry.encode(), qos=0)

    # ------------------------------------------------------------ paho wiring

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = RecordingClient(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5 if self.mqtt5 else mqtt.MQTTv311,
            clean_session=None if self.mqtt5 else False,
        )
        apply_login(client, self.login)
        client.on_connect_fail = self._on_connect_fail
        client.will_set(self.topics["status"], self._status("offline"), qos=1, retain=True)
        client.reconnect_delay_set(min_delay=s.reconnect_min_s, max_delay=s.reconnect_max_s)
        client.max_inflight_messages_set(s.max_inflight)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _status(self, state: str) -> bytes:
        return Status(self.device_id, state, datetime.now(timezone.utc), SOFTWARE).encode()

    @property
    def login(self) -> BrokerLogin:
        s = self.settings
        return BrokerLogin(s.username, s.password, s.tls, s.ca_certs, s.certfile, s.keyfile)

    def _report(self, text: str) -> None:
        """Keep the latest connection problem (`last_error`) and log each new one once, as an error:
        a wrong CA or password is a configuration to fix, not a network hiccup to retry quietly."""
        if text != self.last_error:
            log.error("%s Retrying with backoff.", text)
        self.last_error = text

    def _on_connect_fail(self, client, userdata) -> None:
        error = getattr(client, "connect_error", None)
        s = self.settings
        self._report(
            describe_connect_error(error, s.host, s.port, self.login) if error else "connect failed."
        )

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._report(describe_refusal(reason_code, self.settings.host, self.settings.port, self.login))
            return
        self.last_error = None
        log.info(
            "connected to %s:%s (session present: %s)",
            self.settings.host,
            self.settings.port,
            flags.session_present,
        )
        client.publish(self.topics["status"], self._status("online"), qos=1, retain=True)
        client.subscribe([(self.gallery_topic, 1), (self.commands_topic, 1), (self.models_topic, 1)])
        self._connected.set()
        self._wake.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if not self._connected.is_set() and self.last_error is None and not self._stop.is_set():
            s = self.settings
            self._report(
                f"the MQTT broker at {s.host}:{s.port} closed the connection before answering the login"
                f" ({reason_code}); {'is it a TLS port?' if not s.tls else 'check its logs.'}"
            )
        self._connected.clear()
        if not self._stop.is_set():
            log.warning("disconnected from the broker (%s); reconnecting with backoff", reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        # Runs on paho's network thread while paho holds its own locks: only hand the ack over.
        self._acks.put((mid, not reason_code.is_failure))
        self._wake.set()

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        try:
            if message.topic == self.gallery_topic:
                if not message.payload:  # a cleared retained gallery
                    return
                gallery = Gallery.decode(message.payload, self.device_id)
                if self.on_gallery is not None:
                    self.on_gallery(gallery)
            elif message.topic == self.commands_topic:
                command = Command.decode(message.payload, self.device_id)
                if self.on_command is not None:
                    self.on_command(command)
            elif message.topic == self.models_topic and message.payload:  # empty: a cleared retained one
                announcement = ModelsAnnouncement.decode(message.payload, self.device_id)
                if self.on_models is not None:
                    self.on_models(announcement)
        except MessageError as exc:
            self.rejected = [*self.rejected, (exc.reason, str(exc))][-50:]
            log.warning("rejected message on %s: %s (%s)", message.topic, exc.reason, exc)
        except Exception:  # a callback bug must not kill paho's network thread
            log.exception("handler for %s failed", message.topic)

    # ------------------------------------------------------------ the drain loop

    def _drain_loop(self) -> None:
        next_telemetry = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(0.2)
            self._wake.clear()
            try:
                self._take_acks()
                self._expire()
                if self.connected:
                    self._fill_window()
                    due = self._telemetry_due.is_set() or time.monotonic() >= next_telemetry
                    if self.telemetry is not None and due:
                        self._telemetry_due.clear()
                        next_telemetry = time.monotonic() + self.settings.telemetry_interval_s
                        self.publish_telemetry(self.telemetry())
            except Exception:  # keep draining: a transient disk or encode error must not stop delivery
                log.exception("outbox drain step failed")
                time.sleep(0.5)

    def _take_acks(self) -> None:
        while True:
            try:
                mid, ok = self._acks.get_nowait()
            except queue.Empty:
                return
            entry = self._pending.pop(mid, None)
            if entry is None:
                continue  # status/telemetry publish, or a batch already requeued by timeout
            if ok:
                self.outbox.ack(entry[0])
            else:
                log.warning("broker refused batch %s; it will be resent", entry[0])
                self.outbox.requeue_batch(entry[0])

    def _expire(self) -> None:
        limit = time.monotonic() - self.settings.ack_timeout_s
        for mid, (batch_id, sent) in list(self._pending.items()):
            if sent < limit:
                log.warning(
                    "batch %s unacknowledged after %.0f s; requeueing", batch_id, self.settings.ack_timeout_s
                )
                del self._pending[mid]
                self.outbox.requeue_batch(batch_id)

    def _fill_window(self) -> None:
        s = self.settings
        while len(self._pending) < s.max_inflight and not self._stop.is_set():
            batch_id, events = self.outbox.next_batch(s.batch_events)
            if batch_id is None:
                return
            payload = SightingBatch(
                device_id=self.device_id,
                batch_id=batch_id,
                sent_at=datetime.now(timezone.utc),
                events=tuple(events),
                gallery_version=self.gallery_version() if self.gallery_version else None,
            ).encode()
            info = self.client.publish(self.topics["sightings"], payload, qos=1)
            # Registered even if paho reports no connection: paho keeps QoS 1 messages and sends them
            # on reconnect; if it did not, the ack timeout requeues the batch.
            self._pending[info.mid] = (batch_id, time.monotonic())
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return
