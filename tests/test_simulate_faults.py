"""Faults during a simulated lecture: no sighting lost, none stored twice.

One run of the whole system on a PRIVATE Mosquitto and a PRIVATE MariaDB (started here on free
ports, so the shared ones other tests use are never touched), with the edge playing the video
paced like a camera. During it:

1. the ingest process is SIGKILLed and restarted (its broker session redelivers what it had not
   acknowledged);
2. the edge agent is SIGKILLed and restarted (its SQLite outbox resends what the broker had not
   acknowledged; it resumes the video where it was, as a rebooted camera would);
3. Mosquitto is stopped for 60 s (the edge keeps recognising into its outbox) and started again
   (persistence keeps the ingest session and its queue);
4. MariaDB is restarted while ingest stores the backlog (ingest retries the transaction).

Afterwards the rows are counted against the edge's ledger of every event id it produced.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from simulate.run import Simulation, compose_for_run
from tests.conftest import data_path

OUTAGE_S = 60.0  # the issue asks for a 60 s broker outage


def binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path is None:
        message = f"{name} is not installed (apt-get install mosquitto mariadb-server)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, up: bool, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            state = True
        except OSError:
            state = False
        if state == up:
            return
        assert time.monotonic() < deadline, f"port {port} did not go {'up' if up else 'down'} in {timeout} s"
        time.sleep(0.1)


class Daemon:
    """A server process we own: start, stop (SIGTERM, clean) and kill (SIGKILL)."""

    def __init__(self, command: list[str], port: int, log: Path):
        self.command, self.port, self.log = command, port, log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.port, up=True)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(60)
        wait_port(self.port, up=False)


@pytest.fixture
def mosquitto(tmp_path) -> Iterator[Daemon]:
    """Persistence on and no queue limit (as deploy/mosquitto/visage.conf), anonymous on localhost."""
    port = free_port()
    store = tmp_path / "mosquitto"
    store.mkdir()
    config = store / "mosquitto.conf"
    user = "root" if os.geteuid() == 0 else "mosquitto"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        f"persistence_location {store}/\nautosave_interval 5\nmax_queued_messages 0\n"
        f"user {user}\nlog_dest stderr\n"
    )
    daemon = Daemon([binary("mosquitto"), "-c", str(config)], port, store / "log.txt")
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture
def mariadb(tmp_path) -> Iterator[Daemon]:
    """A throwaway mariadbd on its own data directory and port."""
    port = free_port()
    root = tmp_path / "mariadb"
    root.mkdir()
    user = "root" if os.geteuid() == 0 else getpass.getuser()
    subprocess.run(
        [
            binary("mariadb-install-db"),
            "--no-defaults",
            f"--datadir={root / 'data'}",
            "--auth-root-authentication-method=normal",
            f"--user={user}",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    daemon = Daemon(
        [
            binary("mariadbd"),
            "--no-defaults",
            f"--datadir={root / 'data'}",
            f"--port={port}",
            f"--socket={root / 'sock'}",
            "--skip-networking=0",
            "--bind-address=127.0.0.1",
            f"--user={user}",
            f"--pid-file={root / 'pid'}",
            "--innodb-buffer-pool-size=32M",
        ],
        port,
        root / "log.txt",
    )
    daemon.start()
    import pymysql

    admin = pymysql.connect(host="127.0.0.1", port=port, user="root", autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute("CREATE DATABASE visage CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    admin.close()
    yield daemon
    daemon.stop()


def stored(sim: Simulation) -> int:
    """Rows stored so far; a restarting database counts as "not yet"."""
    try:
        return len(sim.stored_ids())
    except DBAPIError:
        return -1


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_no_sighting_lost_or_doubled_through_faults(tmp_path, mosquitto, mariadb):
    faces = data_path("lfw_deepfunneled_pairs", "images")
    # No enrolment gate: this test counts deliveries, not statuses (the e2e test checks those).
    truth = compose_for_run(
        faces, tmp_path, gate=False, seed=5, seats=8, seconds_per_frame=20.0, width=960, height=540
    )
    url = f"mysql+pymysql://root@127.0.0.1:{mariadb.port}/visage"
    # Paced like a camera over 100 s of wall time, so the faults below land mid-lecture.
    sim = Simulation(
        truth,
        url,
        broker=("127.0.0.1", mosquitto.port),
        work_dir=tmp_path / "run",
        realtime_s=100,
        # One worker, subscribed without `$share`: Mosquitto 2.0.11 does not restore shared
        # subscriptions from persistence, so with them every sighting the edge sends between the
        # broker's restart and the worker's reconnect is acknowledged and then dropped (this test
        # found it: 272 of 476 lost). Plain subscriptions of a persistent session are restored.
        share_group="",
    )
    try:
        sim.prepare()
        sim.start_ingest()
        sim.provision_gallery()
        sim.start_edge()
        wait_until(lambda: stored(sim) > 0, 60, "the first stored sightings")

        # 1. ingest SIGKILL while sightings flow, and restart (same worker id: same session).
        sim.kill_ingest()
        sim.start_ingest()

        # 2. edge SIGKILL, and restart where it was.
        time.sleep(3)
        sim.kill_edge()
        resume = sim.resume_frame()
        assert 0 < resume < truth.frames
        sim.start_edge(resume=True)

        # 3. Mosquitto down for 60 s while the edge keeps recognising into its outbox.
        mosquitto.stop()
        down_at = len(sim.ledger_ids())
        time.sleep(OUTAGE_S)
        produced_offline = len(sim.ledger_ids()) - down_at
        backlog = sim.outbox_depth()
        mosquitto.start()

        # 4. MariaDB restarted while ingest stores the backlog the broker now delivers.
        before = max(stored(sim), 0)
        wait_until(lambda: stored(sim) > before, 150, "ingest storing again after the outage")
        mariadb.stop()
        time.sleep(3)
        mariadb.start()

        sim.wait_edge(300)
        sim.wait_delivered(180)
        result = sim.check_exactly_once()
        ingest_alive = sim.ingest is not None and sim.ingest.poll() is None
    finally:
        sim.close()

    assert produced_offline > 0 and backlog > 0, "the outage must hit while the edge produces sightings"
    assert sim.edge_starts == 2 and ingest_alive
    assert result["published"] > 0
    assert result["lost"] == 0, result
    assert result["duplicated"] == 0, result
    assert result["unexpected"] == 0, result
    assert result["stored"] == result["published"]
