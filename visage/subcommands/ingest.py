"""`visage server ingest`: run one MQTT ingest worker until interrupted.

By default the worker holds a plain persistent subscription: Mosquitto 2.0 restores it after a
broker restart, so nothing a device sends before the worker reconnects is dropped (a `$share`
subscription is not restored; see docs/mqtt.md). To split the load, give workers disjoint
`--device` sets, or opt into one shared-subscription group with `--share-group NAME`. The worker id
must stay the same across restarts: it names the broker session that keeps the messages published
while the worker was down.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from visage.subcommands.running import wait_until_stopped

if TYPE_CHECKING:  # paho is imported only when the command runs (core installs have no paho)
    from server.settings.ingest import IngestSettings
    from shared.mqtt_connect import BrokerLogin


def register_action(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("ingest", help="store MQTT sightings, status and telemetry from devices")
    parser.add_argument(
        "--worker-id", required=True, help="stable id of this worker (names its broker session)"
    )
    parser.add_argument("--broker-host", default=None, help="MQTT broker (default: MQTT_HOST or 127.0.0.1)")
    parser.add_argument("--broker-port", type=int, default=None, help="default: MQTT_PORT or 1883")
    parser.add_argument("--batch-size", type=int, default=200, help="messages per transaction (default: 200)")
    parser.add_argument(
        "--share-group",
        default="",
        help="join this shared-subscription group to split the load (default: none, a plain persistent "
        "subscription, which the broker restores after its own restart)",
    )
    parser.add_argument(
        "--device",
        action="append",
        default=None,
        metavar="ID",
        help="only this device's topics (repeatable; default: every device)",
    )
    parser.add_argument("--broker-username", default=None, help="default: MQTT_USERNAME (e.g. visage-ingest)")
    parser.add_argument(
        "--broker-password-file",
        default=None,
        help="file whose first line is the password (default: the MQTT_PASSWORD setting)",
    )
    parser.add_argument("--broker-tls", action="store_true", default=None, help="TLS (default: MQTT_TLS)")
    parser.add_argument(
        "--broker-ca", default=None, help="CA certificate that signed the broker's (default: MQTT_CA_CERTS)"
    )
    parser.set_defaults(handler=run_ingest)


def run_ingest(args: argparse.Namespace) -> int:
    from visage.subcommands.errors import CommandError
    from visage.subcommands.server import database_errors, load_app, require_schema

    app = load_app()
    with database_errors(app):
        require_schema(app)
    from server.ingest import IngestWorker
    from server.logs import configure_logging

    configure_logging(app)  # text, or JSON lines with VISAGE_LOG_FORMAT=json
    from server.settings import settings_of

    ingest = settings_of(app).ingest
    host = args.broker_host or ingest.mqtt_host
    port = args.broker_port or ingest.mqtt_port
    if args.batch_size < 1:
        raise CommandError("--batch-size must be at least 1")
    from server.config import ConfigError

    try:
        worker = IngestWorker(
            app,
            args.worker_id,
            host=host,
            port=port,
            batch_size=args.batch_size,
            login=broker_login(args, ingest),
            group=args.share_group,
            devices=args.device,
        )
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    try:
        worker.start()
    except ConnectionError as exc:  # already one sentence (shared.mqtt_connect)
        raise CommandError(str(exc)) from exc
    except OSError as exc:
        raise CommandError(f"cannot reach the MQTT broker at {host}:{port}: {exc}") from exc
    print(f"ingest worker '{args.worker_id}' subscribed at {host}:{port}; Ctrl-C to stop", flush=True)
    try:
        wait_until_stopped(worker.failed)  # a processing failure ends the command, as SIGTERM or Ctrl-C do
    finally:
        worker.stop()
    print(f"ingest stopped: {worker.stats}")
    if worker.failure is not None:
        raise CommandError(f"ingest failed: {worker.failure}")
    return 0


def broker_login(args: argparse.Namespace, settings: IngestSettings) -> BrokerLogin:
    """Credentials and TLS from the options, else the MQTT_* settings (VISAGE_MQTT_PASSWORD, ...):
    a password never needs to appear on the command line."""
    from shared.mqtt_connect import BrokerLogin
    from visage.subcommands.errors import CommandError

    password = settings.mqtt_password
    if args.broker_password_file:
        try:
            password = Path(args.broker_password_file).read_text().splitlines()[0]
        except (OSError, IndexError) as exc:
            raise CommandError(f"cannot read a password from {args.broker_password_file}: {exc}") from None
    ca = args.broker_ca or settings.mqtt_ca_certs
    if ca and not Path(ca).is_file():
        raise CommandError(f"the CA certificate {ca} does not exist")
    return BrokerLogin(
        username=args.broker_username or settings.mqtt_username,
        password=password,
        tls=bool(args.broker_tls if args.broker_tls is not None else settings.mqtt_tls) or bool(ca),
        ca_certs=ca,
    )
