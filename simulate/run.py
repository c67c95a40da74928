"""Run the whole system on a simulated lecture: edge process -> MQTT -> ingest process -> DB -> attendance.

    sim = Simulation(truth, database_url, broker=("127.0.0.1", 1883), work_dir=tmp)
    sim.prepare()            # migrate, school rows, enrol the roster (server services)
    sim.start_ingest()       # `visage server ingest` as a subprocess
    sim.provision_gallery()  # the device's gallery, as ingest published it (retained MQTT)
    sim.start_edge()         # `visage edge run` on the video, as a subprocess
    sim.wait_edge(); sim.wait_delivered()
    print(sim.report())

The ingest worker and the edge agent are separate processes, as in production, so the fault tests
can SIGKILL and restart them (`kill_*`, `start_*`; `start_edge(resume=True)` continues the video
where the killed agent was, as a camera would after a reboot). The edge keeps an outbox *ledger*
(edge.outbox) of every event id it produced: `check_exactly_once()` compares it with the rows.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy.exc import DBAPIError

from edge.gallery import GalleryStore
from shared.embed import DEFAULT_EMBEDDER
from shared.messages import Gallery, MessageError, parse_time, topic
from simulate import school
from simulate.errors import SimulationError
from simulate.score import live_summary, summary
from simulate.timeline import Truth

REPO = Path(__file__).resolve().parents[1]
# Compressed time: a track's face is re-embedded every 2 frames (20 s of lecture at 10 s/frame)
# and a track is dropped after 2 missed frames, so a student who left stops being reported
# within ~20 s of simulated time instead of the 15 frames (150 s here) a 25 fps camera needs.
# An unknown track gets one more view every 2 frames (20 s) instead of every 25 (1 s on a camera).
EDGE_RECOGNIZER = {"embed_every": 2, "repeat_s": 30.0, "retry_every": 2}
EDGE_MAX_AGE = 2
# A simulated lecture is tomorrow at 09:00 UTC (`compose_for_run`): its capture times lead the wall
# clock by up to ~1.5 days, beyond ingest's default 1 day (INGEST_MAX_AHEAD_SECONDS, docs/mqtt.md).
SIMULATED_AHEAD_S = 3 * 86_400


def _free_name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


class Simulation:
    def __init__(
        self,
        truth: Truth,
        database_url: str,
        broker: tuple[str, int] = ("127.0.0.1", 1883),
        work_dir: str | Path | None = None,
        realtime_s: float | None = None,
        tag: str | None = None,
        share_group: str | None = None,
        embedder: str = DEFAULT_EMBEDDER,
        detection: dict[str, Any] | None = None,
    ):
        """`realtime_s`: play the video paced over this many wall seconds (frames falling behind are
        skipped, as a camera would); None plays every frame as fast as the agent can.
        `share_group`: the ingest worker's shared-subscription group (default: one of its own, so
        other workers on the broker never take this run's messages); "" subscribes without
        `$share`, which Mosquitto 2.0.11 keeps across its own restart (docs/simulator.md)."""
        self.truth = truth
        self.database_url = database_url
        self.broker = broker
        self.work_dir = Path(work_dir or truth.out_dir / "run")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        if realtime_s is not None and not 0 < realtime_s <= truth.frames:
            raise SimulationError("realtime_s must leave at least one frame per second of wall time.")
        self.realtime_s = realtime_s
        self.embedder = embedder
        self.detection = dict(detection or {})  # the edge's [detection] table (edge/schedule.py)
        self.tag = tag or secrets.token_hex(3)
        self.worker_id = f"sim-{self.tag}"
        self.share_group = _free_name("sim-ingest") if share_group is None else share_group
        self.app: Any = None
        self.scenario: school.Scenario | None = None
        self.ingest: subprocess.Popen | None = None
        self.edge: subprocess.Popen | None = None
        self.edge_starts = 0
        self.secret = secrets.token_hex(16)

    # ------------------------------------------------------------ server side

    def prepare(self) -> school.Scenario:
        from server.app import create_app
        from server.db.migrate import upgrade

        upgrade(self.database_url)
        self.app = create_app(self._app_config())
        self.scenario = school.setup_school(self.app, self.truth, self.tag)
        return self.scenario

    def _app_config(self) -> dict[str, Any]:
        return {
            "INSTANCE_PATH": str(self.work_dir / "instance"),
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": self.secret,
            "INGEST_GALLERY_PUBLISH_SECONDS": 5,
            "INGEST_MAX_AHEAD_SECONDS": SIMULATED_AHEAD_S,
            "GALLERY_MODEL": self.embedder,
        }

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "VISAGE_INSTANCE_PATH": str(self.work_dir / "instance"),
                "VISAGE_SECRET_KEY": self.secret,
                "VISAGE_INGEST_GALLERY_PUBLISH_SECONDS": "5",
                "VISAGE_INGEST_MAX_AHEAD_SECONDS": str(SIMULATED_AHEAD_S),
                "VISAGE_GALLERY_MODEL": self.embedder,
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def start_ingest(self, timeout_s: float = 60.0) -> subprocess.Popen:
        """`visage server ingest` in its own process (same worker id on every restart: same session);
        returns once it is subscribed, so a fault that follows hits a running worker."""
        assert self.scenario is not None, "prepare() first"
        command = [
            sys.executable, "-m", "visage.cli", "server", "ingest",
            "--worker-id", self.worker_id,
            "--broker-host", self.broker[0], "--broker-port", str(self.broker[1]),
            "--share-group", self.share_group,
            # Only this device's topics: on a shared broker, every other device's messages would
            # fill this worker's broker queue, and Mosquitto's default limit (1000) then drops.
            "--device", self.scenario.device_id,
        ]  # fmt: skip
        path = self.work_dir / "ingest.log"
        log = open(path, "ab")  # noqa: SIM115 (the child owns it)
        offset = log.tell()
        self.ingest = subprocess.Popen(
            command, cwd=REPO, env=self._env(), stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while b"subscribed at" not in path.read_bytes()[offset:]:
            if self.ingest.poll() is not None:
                raise SimulationError(f"the ingest process exited with {self.ingest.returncode}; see {path}.")
            if time.monotonic() > deadline:
                raise SimulationError(f"the ingest process did not subscribe within {timeout_s:.0f} s.")
            time.sleep(0.1)
        return self.ingest

    def kill_ingest(self) -> None:
        _kill(self.ingest)

    # ------------------------------------------------------------ device side

    @property
    def outbox_path(self) -> Path:
        return self.work_dir / "edge-outbox.sqlite"

    @property
    def gallery_path(self) -> Path:
        return self.work_dir / "edge-gallery.json"

    def provision_gallery(self, timeout_s: float = 60.0) -> Gallery:
        """Take the device's retained gallery from the broker and store it where the agent reads it.

        A real device gets it the same way before class; doing it before the agent starts means
        the first frames are already recognised against the course's gallery."""
        assert self.scenario is not None, "prepare() first"
        device = self.scenario.device_id
        store = GalleryStore(self.gallery_path, device)
        got: list[Gallery] = []
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=_free_name("sim-gallery"))

        def on_message(_client, _userdata, message) -> None:
            try:
                gallery = Gallery.decode(message.payload, device)
            except MessageError:
                return
            if gallery.course_id == self.scenario.course_id and gallery.students:
                got.append(gallery)

        client.on_message = on_message
        client.on_connect = lambda c, *_: c.subscribe(topic(device, "gallery"), qos=1)
        client.connect(*self.broker)
        client.loop_start()
        try:
            deadline = time.monotonic() + timeout_s
            while not got:
                self._check_alive(self.ingest, "ingest")
                if time.monotonic() > deadline:
                    raise SimulationError(f"no gallery for {device} was published within {timeout_s:.0f} s.")
                time.sleep(0.1)
        finally:
            client.disconnect()
            client.loop_stop()
        if not store.offer(got[-1]):
            raise SimulationError(f"the device refused its gallery: {store.rejected[-1]}")
        return got[-1]

    def edge_config(self, start_frame: int = 0) -> Path:
        assert self.scenario is not None, "prepare() first"
        config: dict[str, Any] = {
            "device_id": self.scenario.device_id,
            "source": str(self.truth.video),
            "start_time": self.truth.video_start.isoformat(),
            "frame_interval_s": self.truth.seconds_per_frame,
            "start_frame": start_frame,
            "realtime": self.realtime_s is not None,
            "outbox_path": str(self.outbox_path),
            "gallery_path": str(self.gallery_path),
            "manifest_path": str(REPO / "models" / "manifest.json"),
            "ledger": True,
            "crops": "unknown",  # the strangers' best crop and embedding, for the review (the default)
            "embedder": self.embedder,
            "max_age": EDGE_MAX_AGE,
            # The detector's smallest face: below the back row's size (less work on every frame).
            "min_face_size": max(40, int(0.75 * min(p.seat.face_px for p in self.truth.people if p.seat))),
            "broker": {
                "host": self.broker[0],
                "port": self.broker[1],
                "reconnect_min_s": 0.5,
                "reconnect_max_s": 2.0,
            },
            "recognizer": EDGE_RECOGNIZER,
            "detection": self.detection,
        }
        path = self.work_dir / "edge.json"
        path.write_text(json.dumps(config, indent=1))
        return path

    def start_edge(self, resume: bool = False) -> subprocess.Popen:
        """`visage edge run` on the video; `resume` starts at the frame after the last one recorded."""
        start = self.resume_frame() if resume else 0
        source = self._paced_video() if self.realtime_s is not None else self.truth.video
        command = [
            sys.executable, "-m", "visage.cli", "edge", "run",
            "--config", str(self.edge_config(start)), "--source", str(source),
        ]  # fmt: skip
        log = open(self.work_dir / "edge.log", "ab")  # noqa: SIM115 (the child owns it)
        self.edge = subprocess.Popen(command, cwd=REPO, env=self._env(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.edge_starts += 1
        return self.edge

    def kill_edge(self) -> None:
        _kill(self.edge)

    def _paced_video(self) -> Path:
        """The video's frames under a container rate that makes it last `realtime_s` wall seconds.

        Written once (a link would not change the rate the container declares)."""
        import cv2

        fps = self.truth.frames / float(self.realtime_s or 1)
        path = self.work_dir / f"paced-{fps:.3f}.avi"
        if path.exists():
            return path
        source = cv2.VideoCapture(str(self.truth.video))
        writer = cv2.VideoWriter(
            str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (self.truth.width, self.truth.height)
        )
        while True:
            ok, frame = source.read()
            if not ok:
                break
            writer.write(frame)
        writer.release()
        source.release()
        return path

    def resume_frame(self) -> int:
        """The frame after the latest capture time in the ledger (0 when nothing was recorded)."""
        if not self.outbox_path.exists():
            return 0
        with sqlite3.connect(self.outbox_path) as db:
            latest = db.execute("SELECT MAX(captured_at) FROM ledger").fetchone()[0]
        if latest is None:
            return 0
        seconds = (parse_time(latest, "captured_at") - self.truth.video_start).total_seconds()
        return int(seconds // self.truth.seconds_per_frame) + 1

    def wait_edge(self, timeout_s: float) -> None:
        assert self.edge is not None
        try:
            code = self.edge.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise SimulationError(f"the edge agent did not finish the video in {timeout_s:.0f} s.") from None
        if code != 0:
            raise SimulationError(f"the edge agent exited with {code}; see {self.work_dir / 'edge.log'}.")

    def edge_detection(self) -> dict[str, Any]:
        """The schedule the edge ran with and how many frames each pass took (its summary line)."""
        summary: dict[str, Any] = {}
        for line in (self.work_dir / "edge.log").read_text(errors="replace").splitlines():
            if line.startswith("{") and '"full_detections"' in line:
                summary = json.loads(line)
        keys = ("full_detections", "regional_detections")
        return {**self.detection, **{key: summary.get(key) for key in keys}}

    # ------------------------------------------------------------ delivery

    def ledger_ids(self) -> list[str]:
        with sqlite3.connect(self.outbox_path) as db:
            return [row[0] for row in db.execute("SELECT event_id FROM ledger")]

    def outbox_depth(self) -> int:
        with sqlite3.connect(self.outbox_path) as db:
            return int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def stored_ids(self) -> list[str]:
        assert self.scenario is not None
        return school.stored_event_ids(self.app, self.scenario.device_id)

    def wait_delivered(self, timeout_s: float = 60.0) -> None:
        """Until every ledger id is stored (the outbox of a finished agent is drained by a fresh one)."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._check_alive(self.ingest, "ingest")
            try:
                if set(self.ledger_ids()) <= set(self.stored_ids()):
                    return
            except DBAPIError:  # the database is restarting (a fault test): ask again
                pass
            if self.edge is not None and self.edge.poll() is not None and self.outbox_depth():
                self.drain_outbox(deadline - time.monotonic())
            if time.monotonic() > deadline:
                raise SimulationError(f"sightings were still missing after {timeout_s:.0f} s.")
            time.sleep(0.5)

    def drain_outbox(self, timeout_s: float) -> None:
        """Send what a finished agent left in its outbox (the video ended while the broker was away),
        with the device's own publisher and client id, as the agent would on its next start."""
        from edge.mqtt import DevicePublisher, MqttSettings
        from edge.outbox import Outbox

        assert self.scenario is not None
        settings = MqttSettings(
            host=self.broker[0], port=self.broker[1], reconnect_min_s=0.5, reconnect_max_s=2.0
        )
        outbox = Outbox(self.outbox_path, ledger=True)
        publisher = DevicePublisher(self.scenario.device_id, outbox, settings).start()
        try:
            deadline = time.monotonic() + max(timeout_s, 1.0)
            while (outbox.depth() or outbox.inflight()) and time.monotonic() < deadline:
                publisher.wake()
                time.sleep(0.2)
        finally:
            publisher.stop()
            outbox.close()

    def check_exactly_once(self) -> dict[str, int]:
        """Counts of the ledger against the rows: lost, duplicated (same id twice) and foreign rows."""
        ledger = self.ledger_ids()
        rows = self.stored_ids()
        stored = set(rows)
        return {
            "published": len(ledger),
            "stored": len(rows),
            "lost": len(set(ledger) - stored),
            "duplicated": sum(n - 1 for n in Counter(rows).values() if n > 1),
            "unexpected": len(stored - set(ledger)),
        }

    # ------------------------------------------------------------ results

    def statuses(self) -> tuple[dict[str, str], int]:
        """(person -> session status the server computes, number of unknown-face groups)."""
        assert self.scenario is not None
        names = {sid: name for name, sid in self.scenario.students.items()}
        statuses, unknown = school.attendance(self.app, self.scenario)
        return {names[sid]: status for sid, status in statuses.items()}, unknown

    def report(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Attendance as the server computes it, scored against the truth (the CLI's JSON line)."""
        from server.attendance.presence import live_state
        from server.attendance.service import out_after_from_config, policy_from_config

        assert self.scenario is not None
        names = {sid: name for name, sid in self.scenario.students.items()}
        computed, unknown = self.statuses()
        sightings = {
            names[sid]: times
            for sid, times in school.student_sightings(self.app, self.scenario.device_id).items()
            if sid in names
        }
        gap = policy_from_config(self.app.config).gap_tolerance
        out_after = out_after_from_config(self.app.config)
        live = live_summary(
            self.truth, sightings, lambda times, now: live_state(times, now, out_after).state.value, out_after
        )
        return summary(
            self.truth,
            computed,
            sightings,
            gap,
            {
                "live": live,
                "unknown_faces": unknown,
                "not_enrolled": list(self.scenario.not_enrolled),
                "delivery": self.check_exactly_once(),
                **(extra or {}),
            },
        )

    def close(self) -> None:
        for process in (self.edge, self.ingest):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    _kill(process)
        if self.app is not None:
            from server.db import get_db

            get_db(self.app).dispose()
        if self.scenario is not None:
            self.forget_broker_state()

    def forget_broker_state(self) -> None:
        """Leave the broker as found: drop this run's sessions (their queues would otherwise grow
        with every later message) and the device's retained status and gallery."""
        assert self.scenario is not None
        device = self.scenario.device_id
        for client_id in (f"visage-ingest-{self.worker_id}", f"visage-edge-{device}"):
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
            try:
                client.connect(*self.broker)
                client.loop_start()
                if client_id.startswith("visage-edge-"):
                    for kind in ("status", "gallery"):
                        client.publish(topic(device, kind), b"", qos=1, retain=True).wait_for_publish(5)
                client.disconnect()
                client.loop_stop()
            except (OSError, RuntimeError, ValueError):  # broker gone: nothing left to clean
                continue

    @staticmethod
    def _check_alive(process: subprocess.Popen | None, name: str) -> None:
        if process is not None and process.poll() not in (None, -signal.SIGKILL):
            raise SimulationError(f"the {name} process exited with {process.returncode}.")


def _kill(process: subprocess.Popen | None) -> None:
    """SIGKILL, as a power cut or the OOM killer would: no cleanup runs in the process."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)


def run_simulation(
    faces_dir: str | Path,
    seed: int = 0,
    database_url: str | None = None,
    broker: tuple[str, int] = ("127.0.0.1", 1883),
    work_dir: str | Path | None = None,
    seats: int = 24,
    seconds_per_frame: float = 10.0,
    timeout_s: float = 1800.0,
    embedder: str = DEFAULT_EMBEDDER,
    detection: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Compose a class (`compose_for_run`), run the whole system on it, return the scored attendance.

    Without `database_url`, a SQLite file in the work folder is used."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="visage-sim-") as scratch:
        root = Path(work_dir) if work_dir is not None else Path(scratch)
        began = time.monotonic()
        truth = compose_for_run(faces_dir, root, seed=seed, seats=seats, seconds_per_frame=seconds_per_frame)
        composed = time.monotonic() - began
        url = database_url or f"sqlite:///{root / 'visage.db'}"
        sim = Simulation(
            truth, url, broker=broker, work_dir=root / "run", embedder=embedder, detection=detection
        )
        try:
            sim.prepare()
            sim.start_ingest()
            sim.provision_gallery()
            started = time.monotonic()
            sim.start_edge()
            sim.wait_edge(timeout_s)
            played = time.monotonic() - started
            sim.wait_delivered()
            return sim.report(
                {
                    "frames": truth.frames,
                    "compose_s": round(composed, 1),
                    "edge_s": round(played, 1),
                    "embedder": embedder,
                    "detection": sim.edge_detection(),
                }
            )
        finally:
            sim.close()


def compose_for_run(faces_dir: str | Path, root: Path, gate: bool = True, **options: Any) -> Truth:
    """A class for a whole-system run: lecture tomorrow 09:00 UTC, roster photos the gate accepts.

    Tomorrow because the server hands a device the gallery of the session running now or next in
    its room, so a simulated lecture must lie ahead of the wall clock. `gate=False` skips the
    enrolment check (faster; for runs that count deliveries, not statuses)."""
    from datetime import datetime

    from simulate.compose import compose_classroom

    tomorrow = datetime.now(timezone.utc).date() + timedelta(days=1)
    start = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, 0, tzinfo=timezone.utc)
    check = enrolment_gate(Path(faces_dir), root / "gate") if gate else None
    return compose_classroom(faces_dir, root / "class", lecture_start=start, accept_photo=check, **options)


def enrolment_gate(faces_dir: Path, instance: Path) -> Callable[[str], bool]:
    """The server's enrolment face gate on one photo (path relative to `faces_dir`)."""
    from server.app import create_app
    from server.enrolment import service

    app = create_app({"INSTANCE_PATH": str(instance), "DATABASE_URL": f"sqlite:///{instance / 'unused.db'}"})

    def accept(name: str) -> bool:
        with app.app_context():
            return service.analyze((faces_dir / name).read_bytes(), Path(name).name).accepted

    return accept
