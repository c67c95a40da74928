"""The embedded MQTT broker of the one-machine default: amqtt in a thread of the server process.

Why amqtt: a maintained, pure-Python broker, so `visage demo` (and a small single-machine site) runs
without installing Mosquitto. Production uses Mosquitto (`deploy/mosquitto/`), which persists to
disk, enforces one account per device and scales; amqtt is the zero-setup default.

What it guarantees, and what it does not:

* MQTT 3.1.1 only (amqtt has no MQTT 5 and no `$share` shared subscriptions), so devices connect
  with `protocol = "3.1.1"` in `[broker]` and the ingest worker subscribes without a share group
  (one worker: `IngestWorker(..., group=None)`).
* QoS 1 is never dropped while the broker runs: a persistent session (clean_session=False) that is
  disconnected gets every QoS 1 message in an unbounded in-memory queue, delivered when it
  reconnects. amqtt only queues for sessions it did not mark anonymous, and its stock
  `AnonymousAuthPlugin` marks every client anonymous; hence `LoopbackAuth` below, which admits
  clients on the loopback interface without that mark.
* A delivery the subscriber has not acknowledged stays in its session and is resent when it
  reconnects (MQTT 3.1.1 section 4.4). amqtt 0.12 instead forgets it after 5 s without PUBACK or
  when the connection drops, which would lose the batch an ingest worker had received but not yet
  committed (it acknowledges only after the commit); `keep_unacknowledged()` replaces that flow.
* Nothing survives the broker process: queued messages live in memory. A device keeps every
  sighting in its own outbox until the broker acknowledges it, so what can be lost is only what the
  broker had acknowledged and not yet handed to ingest when the whole server died. Mosquitto with
  `persistence true` closes that gap in production.
* It listens on 127.0.0.1 only: no authentication, so never on a public interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from dataclasses import dataclass

from amqtt.broker import Broker
from amqtt.mqtt.constants import QOS_1
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import OUTGOING, Session

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
ACK_WAIT_S = 10.0


class BrokerError(RuntimeError):
    """The embedded broker could not start (port taken, amqtt failure)."""


class LoopbackAuth(BaseAuthPlugin):
    """Admit every client (the listener is bound to loopback) without marking it anonymous.

    amqtt queues QoS 1 messages for a disconnected persistent session only when the session is not
    anonymous; the ingest worker's and the devices' sessions must keep their messages."""

    @dataclass
    class Config:
        """No options: the plugin exists for the `is_anonymous` flag it does not set."""

    async def authenticate(self, *, session: Session) -> bool:
        session.is_anonymous = False
        return True


_original_qos1_flow = BrokerProtocolHandler._handle_qos1_message_flow
_original_puback = BrokerProtocolHandler.handle_puback


async def _qos1_flow_keeping_unacknowledged(self, app_message) -> None:
    """Send a QoS 1 PUBLISH to a subscriber; forget it only when its PUBACK arrives.

    Without a PUBACK (connection lost, slow subscriber) the message stays in the session's
    `inflight_out`, which amqtt resends with DUP set when the client reconnects. The wait is
    bounded (as amqtt's is) because amqtt awaits these flows before serving a reconnected client."""
    if app_message.direction != OUTGOING or app_message.qos != QOS_1:
        return await _original_qos1_flow(self, app_message)
    packet_id = app_message.packet_id
    self.session.inflight_out.setdefault(packet_id, app_message)
    dup = app_message.publish_packet is not None
    packet = app_message.build_publish_packet(dup=dup) if dup else app_message.build_publish_packet()
    waiter: asyncio.Future = asyncio.get_running_loop().create_future()
    self._puback_waiters[packet_id] = waiter
    try:
        await self._send_packet(packet)
        app_message.publish_packet = packet
        app_message.puback_packet = await asyncio.wait_for(waiter, ACK_WAIT_S)
        self.session.inflight_out.pop(packet_id, None)
    except TimeoutError:  # still in flight: a late PUBACK or the resend on reconnect settles it
        log.debug("no PUBACK for %s after %s s; kept for redelivery", packet_id, ACK_WAIT_S)
    finally:
        self._puback_waiters.pop(packet_id, None)
    return None


async def _puback_late_or_not(self, puback) -> None:
    """A PUBACK whose waiter is gone (the retry on reconnect timed out) still settles the message."""
    packet_id = puback.variable_header.packet_id if puback.variable_header is not None else None
    if packet_id is not None and packet_id not in self._puback_waiters and self.session is not None:
        self.session.inflight_out.pop(packet_id, None)
        return
    await _original_puback(self, puback)


def keep_unacknowledged() -> None:
    """Patch amqtt's broker-side QoS 1 flow as described in the module docstring (idempotent)."""
    BrokerProtocolHandler._handle_qos1_message_flow = _qos1_flow_keeping_unacknowledged
    BrokerProtocolHandler.handle_puback = _puback_late_or_not


def port_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    """A port the OS says is free now (another process may still take it before we bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def broker_config(port: int, host: str = HOST) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 200}},
        "timeout_disconnect_delay": 2,
        "plugins": {"server.broker.LoopbackAuth": {}},
    }


class EmbeddedBroker:
    """`start()` runs amqtt on its own event loop in a daemon thread; `stop()` shuts it down.

    With `port=None` (or a taken port and `fallback=True`) a free port is chosen; `port` tells which."""

    def __init__(self, port: int | None = 1883, host: str = HOST, fallback: bool = True) -> None:
        self.host = host
        self.requested = port
        self.fallback = fallback
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Broker | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _choose_port(self) -> int:
        if self.requested is None:
            return free_port(self.host)
        if port_free(self.requested, self.host):
            return self.requested
        if not self.fallback:
            raise BrokerError(f"port {self.requested} on {self.host} is taken: choose another --broker-port")
        port = free_port(self.host)
        log.info("MQTT port %s is taken (another broker?); the embedded broker uses %s", self.requested, port)
        return port

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        keep_unacknowledged()
        self.port = self._choose_port()
        self._thread = threading.Thread(target=self._run, name="mqtt-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise BrokerError(f"the embedded MQTT broker did not start within {timeout:.0f} s")
        if self._error is not None:
            raise BrokerError(f"the embedded MQTT broker failed to start: {self._error}") from self._error
        log.info("embedded MQTT broker (amqtt) on %s:%s", self.host, self.port)
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._broker = Broker(broker_config(int(self.port or 0), self.host), loop=loop)
            loop.run_until_complete(self._broker.start())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Close every session and the listener, then end the loop and its thread."""
        loop, broker = self._loop, self._broker
        if loop is None or broker is None or not loop.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
        try:
            future.result(timeout)
        except Exception as exc:  # still stop the loop: the process is going away
            log.warning("embedded broker shutdown: %s", exc)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
