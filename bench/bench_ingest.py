"""Ingest throughput: sightings per second from Mosquitto into MariaDB through the real ingest worker,
next to Mosquitto's raw delivery rate of the same batches to a plain paho subscriber, in one run.

Both contestants receive identical traffic: `--events` sightings in batches of `--batch` events (the
device's default, 50) published at QoS 1 by one paho client as fast as the broker acknowledges them,
spread over `--devices` devices. The clock starts at the first publish and stops when the last event
is *delivered* (raw: the subscriber's callback saw it) or *stored* (ingest: committed in MariaDB,
i.e. `IngestWorker.stats["inserted"]`, then counted in the table). Passes alternate raw / ingest
(`--passes`, default 2), each ingest pass with fresh event ids; each contestant keeps its best pass.

Uses the system Mosquitto (127.0.0.1:1883) and a throwaway database on the local MariaDB
(created and dropped here). Last line: one JSON object, `ratio` = ingest rate / raw broker rate.

    python bench/bench_ingest.py [--events 40000] [--batch 50] [--devices 10] [--passes 2]
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt
import pymysql

from bench.common import LoadMonitor, machine_info, versions
from shared.messages import SightingBatch, SightingEvent, topic

BROKER = ("127.0.0.1", 1883)
MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root"}


def payloads(devices: list[str], events: int, batch: int, tag: str) -> list[tuple[str, bytes]]:
    """(topic, SightingBatch) pairs carrying `events` unique events, round-robin over devices."""
    now = datetime.now(timezone.utc)
    out = []
    for index, start in enumerate(range(0, events, batch)):
        device = devices[index % len(devices)]
        chunk = tuple(
            SightingEvent(
                event_id=f"{tag}-{n:08d}",
                track_id=n % 40,
                captured_at=now,
                score=0.7,
                student_id=None,
                quality=0.8,
            )
            for n in range(start, min(start + batch, events))
        )
        message = SightingBatch(device, f"b-{tag}-{index}", now, chunk, gallery_version=1)
        out.append((topic(device, "sightings"), message.encode()))
    return out


def publish_all(messages: list[tuple[str, bytes]]) -> float:
    """Publish at QoS 1 with a wide window; returns the monotonic time of the first publish."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{secrets.token_hex(3)}")
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.connect(*BROKER)
    client.loop_start()
    started = time.monotonic()
    infos = [client.publish(name, payload, qos=1) for name, payload in messages]
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()
    return started


def raw_pass(messages: list[tuple[str, bytes]], events: int) -> float:
    """Seconds from first publish until a plain subscriber received every event."""
    received = [0]
    done = threading.Event()
    last = [0.0]

    def on_message(client, userdata, message) -> None:
        received[0] += message.payload.count(b'"event_id"')
        if received[0] >= events:
            last[0] = time.monotonic()
            done.set()

    subscribed = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-raw-{secrets.token_hex(3)}")
    sub.on_message = on_message
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect(*BROKER)
    sub.loop_start()
    group = f"bench-{secrets.token_hex(3)}"
    sub.subscribe(f"$share/{group}/visage/v1/devices/+/sightings", qos=1)
    subscribed.wait(10)
    started = publish_all(messages)
    if not done.wait(300):
        raise SystemExit(f"raw subscriber got {received[0]} of {events} events")
    sub.disconnect()
    sub.loop_stop()
    return last[0] - started


def ingest_pass(app, messages: list[tuple[str, bytes]], events: int, batch_size: int) -> float:
    """Seconds from first publish until the ingest worker committed every event to MariaDB."""
    from sqlalchemy import func, select

    from server.db import get_db
    from server.db.models import Sighting
    from server.ingest import IngestWorker

    worker = IngestWorker(
        app,
        f"bench-{secrets.token_hex(3)}",
        *BROKER,
        batch_size=batch_size,
        group=f"bench-{secrets.token_hex(3)}",
    )
    worker.start()
    with get_db(app).session() as session:
        before = session.scalar(select(func.count()).select_from(Sighting))
    try:
        started = publish_all(messages)
        deadline = time.monotonic() + 600
        while worker.stats["inserted"] < events:
            if worker.failed.is_set() or time.monotonic() > deadline:
                raise SystemExit(f"ingest stored {worker.stats['inserted']} of {events}: {worker.failure}")
            time.sleep(0.002)
        finished = time.monotonic()
    finally:
        worker.stop()
        forget = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=worker.client._client_id.decode())
        forget.connect(*BROKER)  # clean session: the broker drops the worker's persistent one
        forget.disconnect()
    with get_db(app).session() as session:
        stored = session.scalar(select(func.count()).select_from(Sighting)) - before
    if stored != events:  # (rejections of other devices' retained status messages do not count)
        raise SystemExit(f"ingest stored {stored} of {events} ({worker.stats})")
    return finished - started


def service_pids(names: tuple[str, ...] = ("mosquitto", "mariadbd", "mysqld")) -> set[int]:
    """The broker's and database's processes: their CPU is part of what is measured, not background."""
    found = set()
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() in names:
                found.add(int(comm.parent.name))
        except OSError:
            continue
    return found


def throwaway_database() -> tuple[str, str]:
    name = f"visage_bench_{secrets.token_hex(4)}"
    admin = pymysql.connect(**MARIADB, autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    admin.close()
    return name, f"mysql+pymysql://root@127.0.0.1:3306/{name}"


def drop_database(name: str) -> None:
    admin = pymysql.connect(**MARIADB, autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")
    admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--batch", type=int, default=50, help="events per MQTT message (device default 50)")
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--ingest-batch", type=int, default=200, help="messages per ingest transaction")
    args = parser.parse_args()

    from server.app import create_app
    from server.db import get_db
    from server.db.migrate import upgrade
    from server.db.models import Classroom, Course, Device, LectureSession

    name, url = throwaway_database()
    try:
        upgrade(url)
        app = create_app({"DATABASE_URL": url, "INGEST_TELEMETRY_KEEP": 100})
        devices = [f"bench-cam-{n:02d}" for n in range(args.devices)]
        with get_db(app).session() as session:  # each device in its own room, a lecture running
            now = datetime.now(timezone.utc)
            for device in devices:
                room = Classroom(name=f"room-{device}")
                course = Course(code=f"C-{device}", title="Bench")
                lecture = LectureSession(
                    course=course,
                    classroom=room,
                    starts_at=now - timedelta(hours=1),
                    ends_at=now + timedelta(hours=2),
                )
                session.add_all(
                    [room, course, lecture, Device(device_id=device, name=device, classroom=room)]
                )
            session.commit()
        raw_times, ingest_times = [], []
        monitors = {"raw": LoadMonitor(), "ingest": LoadMonitor()}
        for monitor in monitors.values():
            monitor.pids |= service_pids()
        for index in range(args.passes):
            messages = payloads(devices, args.events, args.batch, f"p{index}")
            monitors["raw"].begin()
            raw_times.append(raw_pass(messages, args.events))
            monitors["raw"].end()
            monitors["ingest"].begin()
            ingest_times.append(ingest_pass(app, messages, args.events, args.ingest_batch))
            monitors["ingest"].end()
            print(
                f"pass {index + 1}: raw {args.events / raw_times[-1]:,.0f} sightings/s, "
                f"ingest {args.events / ingest_times[-1]:,.0f} sightings/s",
                flush=True,
            )
    finally:
        drop_database(name)
    raw_rate = args.events / min(raw_times)
    ingest_rate = args.events / min(ingest_times)
    print(f"mosquitto raw delivery : {raw_rate:10,.0f} sightings/s (best of {args.passes})")
    print(f"ingest into MariaDB    : {ingest_rate:10,.0f} sightings/s (best of {args.passes}; target 3,000)")
    result = {
        "ingest_sightings_per_s": round(ingest_rate),
        "mosquitto_raw_sightings_per_s": round(raw_rate),
        "ratio": round(ingest_rate / raw_rate, 3),
        "target_sightings_per_s": 3000,
        "events": args.events,
        "events_per_message": args.batch,
        "devices": args.devices,
        "passes": args.passes,
        "background_cores": {name: monitor.foreign_cores for name, monitor in monitors.items()},
        "machine": {k: v for k, v in machine_info(0).items() if k != "threads"},
        "versions": versions("paho.mqtt", "sqlalchemy", "pymysql"),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
