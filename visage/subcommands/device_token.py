"""`visage server device-token DEVICE_ID [--revoke]`: a device's token for model downloads.

Prints the new token once on stdout (the server keeps only its SHA-256); put it in the device's edge
config, `[server] token = "vsd_..."`. Running it again rotates: the previous token stops working.
"""

from __future__ import annotations

import argparse
import sys

from visage.subcommands.errors import CommandError


def register_action(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "device-token", help="issue (or rotate) a device's token for model downloads (printed once)"
    )
    parser.add_argument("device_id", help="the device's id (as registered and used on MQTT)")
    parser.add_argument("--revoke", action="store_true", help="remove the device's token instead")
    parser.set_defaults(handler=run_device_token)


def run_device_token(args: argparse.Namespace) -> int:
    from server.audit import record
    from server.db import get_db
    from server.devices.service import find
    from server.devices.tokens import issue_device_token, revoke_device_token
    from visage.subcommands.server import database_errors, load_app, require_schema

    app = load_app()
    with database_errors(app):
        require_schema(app)
        with get_db(app).session() as session:
            device = find(session, args.device_id)
            if device is None:
                raise CommandError(
                    f"no device '{args.device_id}': register it first (web UI or POST /devices)"
                )
            if args.revoke:
                before = {"prefix": device.token_prefix}
                revoke_device_token(device)
                record(session, None, "device.token_revoked", "device", device.id, before=before)
                session.commit()
                print(f"device {device.device_id} has no token now", file=sys.stderr)
                return 0
            token = issue_device_token(session, device)
            record(session, None, "device.token", "device", device.id, after={"prefix": device.token_prefix})
            session.commit()
            print(token)
            print(
                f"device token {device.token_prefix}... for {device.device_id}: shown once, put it in the "
                "device's edge config ([server] token); any earlier token no longer works.",
                file=sys.stderr,
            )
    return 0
