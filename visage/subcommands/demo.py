"""`visage demo`: the whole system on this machine, on the embedded default, in one command.

    visage demo [--port 8000] [--broker-port 1883] [--instance DIR] [--faces DIR]

One process tree: this process runs the embedded MQTT broker (amqtt, `server.broker`), the web app
(Werkzeug's threaded server), one ingest worker and the in-process job runner; one child process
is the classroom device (`visage.subcommands.demo_edge`: a real edge agent playing a simulated lecture
video, made once and cached in the instance folder). SQLite in the instance folder holds the data.
Seeds (idempotent, `server.demo`): demo accounts with printed passwords, a course enrolled from
sample faces, a lecture now, an album with sample photos queued for indexing and a deepfake sample
queued for checking (those two when their parts are installed; skipped with a log line otherwise).

SIGINT (Ctrl-C) and SIGTERM stop everything in order, child included, and exit 0. Exit 2 with one
sentence for setup to fix (no sample faces, models not exported, web port taken).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from visage.subcommands.errors import CommandError

if TYPE_CHECKING:
    from flask import Flask

    from server.demo.seed import DemoWorld, Login

log = logging.getLogger("visage.demo")

REPO = Path(__file__).resolve().parents[2]
SAMPLE_FACES = (
    REPO.parent / "shared" / "data" / "lfw_deepfunneled_pairs" / "images",
    REPO.parent / "shared" / "data" / "lfw_subset_10x10",
)
DEVICE_TELEMETRY_S = 5.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the whole system here (broker, server, ingest, jobs, a simulated classroom)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="web address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="web port (default: 8000)")
    parser.add_argument(
        "--broker-port",
        type=int,
        default=1883,
        help="MQTT port; a free one is used when taken (default: 1883)",
    )
    parser.add_argument("--instance", default="instance/demo", help="data folder (default: instance/demo)")
    parser.add_argument("--faces", default=None, help="sample faces, one folder of photos per person")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated classroom (default: 0)")
    parser.add_argument(
        "--seats", type=int, default=24, help="people in the simulated classroom, 6-40 (default: 24)"
    )
    parser.set_defaults(handler=run_demo)


def find_faces(given: str | None) -> Path:
    if given is not None:
        path = Path(given)
        if not path.is_dir():
            raise CommandError(f"--faces {given} is not a folder: give one folder of photos per person")
        return path
    for path in SAMPLE_FACES:
        if path.is_dir():
            return path
    raise CommandError(
        "no sample faces found beside the repository (../shared/data): "
        "pass --faces DIR with one folder of photos per person"
    )


def check_models() -> None:
    from shared.embed import DEFAULT_EMBEDDER, model_files
    from shared.model_registry import ModelRegistry

    registry = ModelRegistry()
    needed = ("mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet", *model_files(DEFAULT_EMBEDDER))
    missing = [name for name in needed if not registry.has(name)]
    if missing:
        raise CommandError(
            f"models not exported ({', '.join(missing)}): run `visage models export` (scripts/setup.sh does)"
        )


def enrolment_gate(app: Flask):
    """The server's enrolment face gate on one photo file (the simulator casts students with it)."""
    from server.enrolment import service

    def accept(path: Path) -> bool:
        with app.app_context():
            return service.analyze(path.read_bytes(), path.name).accepted

    return accept


def run_demo(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("amqtt", "transitions", "werkzeug", "visage.requests"):  # pages poll every few seconds
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not 6 <= args.seats <= 40:
        raise CommandError("--seats must be from 6 to 40")
    faces = find_faces(args.faces)
    check_models()
    from server.broker import port_free

    if not port_free(args.port, args.host):
        raise CommandError(f"port {args.port} on {args.host} is taken: choose another with --port")
    demo = Demo(args, faces)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        demo.start(stop)
        if not stop.is_set():
            demo.announce()
        while not stop.wait(1.0):
            demo.watch()
    finally:
        print("visage demo: stopping...", flush=True)
        demo.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("visage demo: stopped.", flush=True)
    return 0


@dataclass
class Demo:
    """Starts the parts in dependency order and stops them in reverse; each `stop` is safe to repeat."""

    args: argparse.Namespace
    faces: Path
    instance: Path = field(init=False)
    app: Flask | None = None
    broker: Any = None
    ingest: Any = None
    web: Any = None
    edge: subprocess.Popen | None = None
    logins: list[Login] = field(default_factory=list)
    world: DemoWorld | None = None
    notes: list[str] = field(default_factory=list)
    classroom: Any = None
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.instance = Path(self.args.instance).expanduser().resolve()

    # ------------------------------------------------------------ start

    def start(self, stop: threading.Event) -> None:
        from server.broker import BrokerError, EmbeddedBroker

        self.instance.mkdir(parents=True, exist_ok=True)
        try:
            self.broker = EmbeddedBroker(self.args.broker_port or None).start()  # 0: any free port
        except BrokerError as exc:
            raise CommandError(str(exc)) from exc
        self.app = self._app()
        steps = (self._seed, self._start_ingest, self._start_web, self._start_edge, self._seed_extras)
        for step in steps:
            if stop.is_set():
                return
            step()

    def _app(self) -> Flask:
        from server.app import create_app
        from server.db.migrate import upgrade

        app = create_app(
            {
                "INSTANCE_PATH": str(self.instance),
                "DATABASE_URL": f"sqlite:///{self.instance / 'visage.db'}",
                "JOBS_RUNNER": "thread",
                "MQTT_HOST": self.broker.host,
                "MQTT_PORT": self.broker.port,
                "INGEST_GALLERY_PUBLISH_SECONDS": 10,
            }
        )
        upgrade(app.config["DATABASE_URL"])
        return app

    def _seed(self) -> None:
        from server.db import get_db
        from server.demo.seed import seed_accounts, seed_school
        from visage.subcommands.demo_classroom import prepare_classroom

        assert self.app is not None
        with self.app.app_context():
            self.classroom = prepare_classroom(
                self.faces,
                self.instance / "classroom",
                seed=self.args.seed,
                accept_photo=enrolment_gate(self.app),
                seats=self.args.seats,
            )
        log.info(
            "classroom (%s): %d students on the roster, %s",
            self.classroom.source,
            len(self.classroom.enrol),
            self.classroom.video.name,
        )
        starts_at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(
            seconds=self.classroom.lead_s
        )
        with self.app.app_context(), get_db(self.app).session() as session:
            self.logins = seed_accounts(self.app, session, self.instance)
            self.world = seed_school(session, self.classroom.enrol, starts_at, self.classroom.duration_s)
        log.info(
            "lecture session %d from %s; %d photos enrolled now",
            self.world.session_id,
            starts_at.isoformat(),
            self.world.enrolled_photos,
        )

    def _start_ingest(self) -> None:
        from server.ingest import IngestWorker

        self.ingest = IngestWorker(self.app, "demo", host=self.broker.host, port=self.broker.port, group=None)
        self.ingest.start()
        self.ingest.publish_galleries_now()

    def _start_web(self) -> None:
        from werkzeug.serving import make_server

        try:
            self.web = make_server(self.args.host, self.args.port, self.app, threaded=True)
        except OSError as exc:  # taken since the check at start
            raise CommandError(f"cannot listen on {self.args.host}:{self.args.port}: {exc.strerror}") from exc
        thread = threading.Thread(target=self.web.serve_forever, name="web", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _start_edge(self) -> None:
        assert self.world is not None
        classroom = self.classroom
        edge_dir = self.instance / "edge"
        edge_dir.mkdir(exist_ok=True)
        # An earlier run's undelivered sightings belong to the lecture the seed just replaced: sent now,
        # those captured in the new lecture's margin would count in it (issue 15).
        stale = [path for path in edge_dir.glob("outbox.sqlite*") if path.is_file()]
        for path in stale:
            path.unlink()
        if stale:
            log.info("discarded the device outbox of the previous run (%s)", ", ".join(p.name for p in stale))
        video_start = self.world.starts_at - timedelta(seconds=classroom.lead_s)
        from shared.model_registry import default_models_dir

        config = {
            "device_id": self.world.device_id,
            "source": str(classroom.video),
            "start_time": video_start.isoformat().replace("+00:00", "Z"),
            "frame_interval_s": classroom.seconds_per_frame,
            "outbox_path": str(edge_dir / "outbox.sqlite"),
            "gallery_path": str(edge_dir / "gallery.json"),
            "manifest_path": str(default_models_dir() / "manifest.json"),
            "min_face_size": classroom.min_face_size,
            "broker": {
                "host": self.broker.host,
                "port": self.broker.port,
                "protocol": "3.1.1",
                "telemetry_interval_s": DEVICE_TELEMETRY_S,
            },
        }
        path = edge_dir / "device.json"
        path.write_text(json.dumps(config, indent=1) + "\n")
        command = [sys.executable, "-m", "visage.subcommands.demo_edge", str(path)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.edge = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
        thread = threading.Thread(target=self._relay, args=(self.edge,), name="edge-log", daemon=True)
        thread.start()
        self._threads.append(thread)

    @staticmethod
    def _relay(child: subprocess.Popen) -> None:
        assert child.stdout is not None
        for line in child.stdout:
            sys.stdout.write("[device] " + line.decode(errors="replace"))
            sys.stdout.flush()

    def _seed_extras(self) -> None:
        from server.demo import extras

        assert self.app is not None
        self.notes = extras.seed_extras(self.app, REPO.parent / "shared" / "data")

    # ------------------------------------------------------------ running

    def announce(self) -> None:
        assert self.world is not None and self.broker is not None
        url = f"http://{self.args.host}:{self.args.port}/"
        lines = [
            "",
            f"Visage demo is running: {url}",
            "Sign in with:",
            *(f"  {login.role:<11} {login.email:<28} password: {login.password}" for login in self.logins),
            f"Attendance: {url}attendance (course DEMO101, session {self.world.session_id}: the simulated "
            f"{self.classroom.duration_s / 60:.0f}-minute lecture plays in a few minutes)",
            f"Devices:    {url}devices (camera {self.world.device_id})",
            *self.notes,
            f"MQTT broker (embedded amqtt): {self.broker.host}:{self.broker.port}",
            f"Data: {self.instance}",
            "Ctrl-C stops everything.",
            "",
        ]
        print("\n".join(lines), flush=True)

    def watch(self) -> None:
        if (
            self.edge is not None
            and self.edge.poll() is not None
            and not getattr(self, "_edge_reported", False)
        ):
            self._edge_reported = True
            log.warning("the classroom device exited (code %s); the rest keeps running", self.edge.returncode)

    # ------------------------------------------------------------ stop

    def stop(self) -> None:
        self._stop_edge()
        if self.web is not None:
            self.web.shutdown()
            self.web.server_close()
            self.web = None
        if self.ingest is not None:
            self.ingest.stop()
            self.ingest = None
        if self.app is not None:
            from server.demo import extras

            extras.stop_jobs(self.app)
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        for thread in self._threads:
            thread.join(5.0)

    def _stop_edge(self) -> None:
        child, self.edge = self.edge, None
        if child is None:
            return
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            log.warning("the classroom device did not stop in 20 s; killing it")
            child.kill()
            child.wait(5)
        if child.stdin is not None:
            child.stdin.close()
        if child.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL):
            log.warning("the classroom device exited with code %s", child.returncode)
