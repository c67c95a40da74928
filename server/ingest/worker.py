"""The MQTT side of ingest: a persistent subscription, a queue, and acknowledgements after commit.

By default a worker holds a plain subscription, which Mosquitto 2.0 restores after its own restart
(a `$share` one it does not: messages published before the worker resubscribes would be
acknowledged to the device and dropped; docs/mqtt.md). Several workers split the load by disjoint
`devices`, or opt into a shared-subscription `group` (`$share/<group>/<topic>`), where the broker
hands every message to one of them. Each worker has a stable client id (`visage-ingest-<worker id>`)
and a persistent session (clean_session=False), so QoS 1 messages published while it is down are
queued for it by the broker (Mosquitto: up to `max_queued_messages`, 1000 by default, and only in
memory unless persistence is configured).

paho's network thread only enqueues; one processing thread takes up to `batch_size` messages,
writes them in one transaction and, after the commit, acknowledges each (manual acks, paho 2.x).
A crash between receipt and commit leaves them unacknowledged, and the broker redelivers them to
the session; idempotent inserts make that harmless. Acks are only sent on the connection that
received the message: after a reconnect the broker redelivers the unacknowledged ones anyway.

No single message can stop the loop (`_commit`). When a batch fails, a database that does not
answer `SELECT 1`, a lost connection, a lock timeout or a deadlock is an outage: wait and retry,
acknowledging nothing. A failure while the database answers is the data's fault (or a race with
another worker): the batch is retried twice, then each message alone, and one that still fails
alone is recorded in the reject log as `internal_error` (with the exception class) and
acknowledged. A persistent session would otherwise hand the same poison message to every restart.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from server.attendance.service import policy_from_config
from server.db import get_db
from server.devices.commands import publish_pending
from server.ingest.models_publisher import publish_models
from server.ingest.publisher import publish_galleries
from server.ingest.store import Incoming, IngestSettings, Outcome, process_batch, record_rejection
from server.ingest.watch import gallery_watermark
from server.settings import settings_of
from shared.messages import TOPIC_ROOT
from shared.mqtt_connect import BrokerLogin, apply_login, describe_connect_error, describe_refusal

log = logging.getLogger(__name__)

KINDS = ("sightings", "status", "telemetry")
ATTEMPTS = 3  # tries of a failing batch (then of each of its messages) while the database answers
OUTAGE_WAIT_S = 2.0
# Driver error codes retried like an outage whatever `SELECT 1` says: MariaDB's lock wait timeout
# and deadlock, and its client's connection errors (2000-2999: gone away, lost, cannot connect).
# SQLite says "database is locked" (after its 30 s busy timeout).
BUSY_CODES = (1205, 1213)
CLIENT_CODES = range(2000, 3000)


def subscriptions(group: str | None = None, devices: Sequence[str] | None = None) -> list[tuple[str, int]]:
    """Plain subscriptions (the default: restored by the broker after a restart; also what a broker
    without `$share` needs, such as the embedded amqtt broker of `server.broker`), or shared ones of
    `group`. `devices` limits them
    to those devices' topics (a worker per set of rooms; a simulation on a shared broker, where
    taking every device's messages would only fill this worker's broker queue)."""
    prefix = f"$share/{group}/" if group else ""
    names = list(devices) if devices else ["+"]
    return [(f"{prefix}{TOPIC_ROOT}/{name}/{kind}", 1) for name in names for kind in KINDS]


@dataclass(frozen=True)
class _Ack:
    mid: int
    qos: int
    generation: int


class IngestWorker:
    """One ingest worker: `start()`, then `stop()`; `stats` counts outcomes for logs and tests."""

    def __init__(
        self,
        app: Flask,
        worker_id: str,
        host: str = "127.0.0.1",
        port: int = 1883,
        batch_size: int = 200,
        settings: IngestSettings | None = None,
        group: str | None = None,
        login: BrokerLogin | None = None,
        devices: Sequence[str] | None = None,
    ) -> None:
        self.app = app
        self.login = login or BrokerLogin()
        self.refused: str | None = None  # why the broker refused our login, if it did
        self.database = get_db(app)
        ingest = settings_of(app).ingest
        self.settings = settings or ingest
        # Sightings are placed in sessions with the attendance window (server.school.schedule).
        self.margin = policy_from_config(app.config).window_margin
        self.batch_size = batch_size
        self.host, self.port, self.group = host, port, group
        self.devices = list(devices) if devices else None
        self.queue: queue.Queue[Incoming] = queue.Queue()
        self.stats = {"stored": 0, "duplicate": 0, "rejected": 0, "ignored": 0, "inserted": 0, "galleries": 0}
        # Galleries are published from the processing thread every `gallery_interval` seconds
        # and when `publish_galleries_now()` asks (server.ingest.publisher).
        self.gallery_interval = ingest.gallery_publish_seconds
        self._publish_now = threading.Event()
        self._next_publish = 0.0
        # Queued device commands are published, and gallery changes noticed, every `poll_interval` s.
        self.poll_interval = ingest.poll_seconds
        self.linger_s = ingest.linger_seconds  # wait to fill a batch
        self._next_poll = 0.0
        self._watermark: tuple | None = None
        self.subscribed = threading.Event()
        self._generation = 0
        self._stopping = threading.Event()
        # Set when processing ended by itself (an unexpected error, kept in `failure`): nothing
        # more is stored or acknowledged, so the process should exit and be restarted.
        self.failed = threading.Event()
        self.failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"visage-ingest-{worker_id}",
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        apply_login(self.client, self.login)  # credentials and TLS (shared.mqtt_connect)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect

    # ------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 10.0) -> None:
        """Connect, subscribe and start processing; raises if the broker did not answer in time."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="visage-ingest", daemon=True)
        self._thread.start()
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except OSError as exc:  # refused, unreachable, or a TLS certificate the CA did not sign
            self._stopping.set()
            self._thread.join()
            raise ConnectionError(describe_connect_error(exc, self.host, self.port, self.login)) from exc
        self.client.loop_start()
        deadline = time.monotonic() + timeout
        while not self.subscribed.wait(0.05) and self.refused is None and time.monotonic() < deadline:
            pass
        if not self.subscribed.is_set():
            refused = self.refused
            self.stop(drain=False)
            raise ConnectionError(
                refused or f"no subscription acknowledged by the broker at {self.host}:{self.port}"
            )

    def stop(self, drain: bool = True) -> None:
        """Disconnect; with `drain`, first store (and acknowledge) what is already queued.

        Without it, queued messages are dropped unacknowledged, as in a crash: the broker keeps
        them in the session and redelivers them when this worker id connects again.
        """
        if drain and not self.failed.is_set():
            self.queue.join()
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        self.client.disconnect()
        self.client.loop_stop()
        self.subscribed.clear()

    # ------------------------------------------------------------ paho callbacks (network thread)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.refused = describe_refusal(reason_code, self.host, self.port, self.login)
            log.error("%s", self.refused)
            return
        self.refused = None
        self._generation += 1
        client.subscribe(subscriptions(self.group, self.devices))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._generation += 1  # acks of messages received before this point are not sent
        if not self._stopping.is_set():
            log.warning("disconnected from the broker (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        self.queue.put(
            Incoming(
                message.topic, bytes(message.payload), token=_Ack(message.mid, message.qos, self._generation)
            )
        )

    # ------------------------------------------------------------ processing thread

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # unacknowledged messages stay with the broker for the next run
            log.exception("ingest processing failed")
            self.failure = exc
            self.failed.set()

    def publish_galleries_now(self) -> None:
        """Ask for a gallery round at the next turn of the processing loop (e.g. after enrolment)."""
        self._publish_now.set()

    def _galleries(self) -> None:
        if not self._publish_now.is_set() and time.monotonic() < self._next_publish:
            return
        self._publish_now.clear()
        self._next_publish = time.monotonic() + self.gallery_interval
        try:
            self.stats["galleries"] += publish_galleries(self.app, self.client)
        except (DBAPIError, OSError) as exc:  # retried on the next round; ingest goes on
            log.error("gallery publishing failed: %s", exc)
        try:  # the model bundle announcement travels the same way (server.ingest.models_publisher)
            self.stats["models"] = self.stats.get("models", 0) + publish_models(self.app, self.client)
        except (DBAPIError, OSError) as exc:
            log.error("model bundle announcement failed: %s", exc)

    def _poll(self) -> None:
        """Publish queued commands; ask for a gallery round when enrolment or schedule changed."""
        if time.monotonic() < self._next_poll:
            return
        self._next_poll = time.monotonic() + self.poll_interval
        try:
            with self.database.session() as session:
                watermark = gallery_watermark(session)
                if self._watermark is not None and watermark != self._watermark:
                    self._publish_now.set()
                self._watermark = watermark
                self.stats["commands"] = self.stats.get("commands", 0) + publish_pending(session, self.client)
        except (DBAPIError, OSError) as exc:  # retried on the next poll; ingest goes on
            log.error("command/gallery poll failed: %s", exc)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._poll()
            self._galleries()
            try:
                first = self.queue.get(timeout=0.1)
            except queue.Empty:
                continue
            batch = [first]
            # Linger a moment for more: one commit (an fsync on MariaDB) per few messages instead of
            # per message is what keeps a busy worker ahead of the broker (bench/bench_ingest.py).
            linger_until = time.monotonic() + self.linger_s
            while len(batch) < self.batch_size:
                wait = linger_until - time.monotonic()
                try:
                    batch.append(self.queue.get(timeout=wait) if wait > 0 else self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._store(batch)
            finally:
                for _ in batch:
                    self.queue.task_done()

    def _store(self, batch: list[Incoming]) -> None:
        """Commit the batch, then acknowledge it (nothing is acknowledged when stopping mid-outage)."""
        outcomes = self._commit(batch)
        if outcomes is None:
            return  # unacknowledged: the broker redelivers them
        self._count(outcomes)
        for message in batch:
            token: _Ack = message.token
            if token is not None and token.qos > 0 and token.generation == self._generation:
                self.client.ack(token.mid, token.qos)

    def _commit(self, batch: list[Incoming]) -> list[Outcome] | None:
        """The outcomes of `batch`, committed; None when stopping during an outage (module doc)."""
        failures = 0
        while True:
            try:
                with self.database.session() as session:
                    outcomes = process_batch(session, batch, self.settings, self.margin)
                    session.commit()
                return outcomes
            except Exception as exc:
                if self._stopping.is_set():
                    return None
                if _transient(exc) or not self._database_answers():
                    log.error("database unavailable (%s); retrying in %g s", _cause(exc), OUTAGE_WAIT_S)
                    time.sleep(OUTAGE_WAIT_S)
                    continue
                failures += 1
                if failures < ATTEMPTS:  # e.g. another worker inserted some of these event ids
                    continue
                if len(batch) > 1:
                    log.warning("a batch of %d failed (%s); storing them one by one", len(batch), _cause(exc))
                    return self._one_by_one(batch)
                return self._refuse(batch[0], exc)

    def _one_by_one(self, batch: list[Incoming]) -> list[Outcome] | None:
        outcomes: list[Outcome] = []
        for message in batch:
            single = self._commit([message])
            if single is None:
                return None
            outcomes += single
        return outcomes

    def _refuse(self, message: Incoming, exc: Exception) -> list[Outcome] | None:
        """Record a message that cannot be stored as `internal_error`, so that it is acknowledged
        instead of stopping ingest at every redelivery."""
        detail = f"ingest could not store this message ({exc.__class__.__name__}: {_cause(exc)})"
        log.error("refusing %s: %s", message.topic, detail)
        while True:
            try:
                with self.database.session() as session:
                    record_rejection(session, message, "internal_error", detail)
                    session.commit()
                break
            except Exception as second:
                if self._stopping.is_set():
                    return None
                if _transient(second) or not self._database_answers():
                    time.sleep(OUTAGE_WAIT_S)
                    continue
                log.exception("could not record the refusal of %s either; acknowledging it", message.topic)
                break
        return [Outcome(message, "rejected", "internal_error")]

    def _database_answers(self) -> bool:
        try:
            with self.database.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def _count(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self.stats[outcome.result] += 1
            self.stats["inserted"] += outcome.inserted
            if outcome.result == "rejected":
                log.warning("rejected %s: %s", outcome.message.topic, outcome.reason)


def _cause(exc: BaseException) -> str:
    """The driver's message of a database error (without SQLAlchemy's SQL and parameters), cut short."""
    return str(getattr(exc, "orig", None) or exc)[:300]


def _transient(exc: Exception) -> bool:
    """A lost connection, a lock timeout or a deadlock: not the data's fault, whatever the database
    answers a moment later."""
    if not isinstance(exc, DBAPIError):
        return False
    code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    return (
        exc.connection_invalidated
        or code in BUSY_CODES
        or (isinstance(code, int) and code in CLIENT_CODES)
        or "database is locked" in str(exc.orig)
    )
