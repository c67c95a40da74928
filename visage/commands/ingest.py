"""`visage server ingest`: run one MQTT ingest worker until interrupted.

Run several (each with its own `--worker-id`) to share the load: they form one shared-subscription
group. The worker id must stay the same across restarts: it names the broker session that keeps
the messages published while the worker was down.
"""

from __future__ import annotations

import argparse
import logging
import signal


def register_action(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("ingest", help="store MQTT sightings, status and telemetry from devices")
    parser.add_argument(
        "--worker-id", required=True, help="stable id of this worker (names its broker session)"
    )
    parser.add_argument("--broker-host", default=None, help="MQTT broker (default: MQTT_HOST or 127.0.0.1)")
    parser.add_argument("--broker-port", type=int, default=None, help="default: MQTT_PORT or 1883")
    parser.add_argument("--batch-size", type=int, default=200, help="messages per transaction (default: 200)")
    parser.set_defaults(handler=run_ingest)


def run_ingest(args: argparse.Namespace) -> int:
    from visage.commands.errors import CommandError
    from visage.commands.server import database_errors, load_app, require_schema

    app = load_app()
    with database_errors(app):
        require_schema(app)
    from server.ingest import IngestWorker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    host = args.broker_host or app.config.get("MQTT_HOST", "127.0.0.1")
    port = args.broker_port or int(app.config.get("MQTT_PORT", 1883))
    if args.batch_size < 1:
        raise CommandError("--batch-size must be at least 1")
    worker = IngestWorker(app, args.worker_id, host=host, port=port, batch_size=args.batch_size)
    try:
        worker.start()
    except OSError as exc:
        raise CommandError(f"cannot reach the MQTT broker at {host}:{port}: {exc}") from exc
    print(f"ingest worker '{args.worker_id}' subscribed at {host}:{port}; Ctrl-C to stop", flush=True)
    done = worker.failed  # a processing failure ends the command, as SIGTERM or Ctrl-C do
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop()
    print(f"ingest stopped: {worker.stats}")
    if worker.failure is not None:
        raise CommandError(f"ingest failed: {worker.failure}")
    return 0
