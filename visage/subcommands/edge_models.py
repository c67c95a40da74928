"""`visage edge models pull`: install the model bundle on a device, from the server or from an archive.

    visage edge models pull --config /etc/visage/edge.toml      # from [server], with the device token
    visage edge models pull --from bundle.tar --config ...       # offline, a `visage models pack` archive

Either way every file is checked against the bundle manifest before the set is swapped in; any
failure (unreachable server, wrong sha256, truncated file, newer bundle format) is one sentence,
exit code 2, and the models in use stay as they were.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from visage.subcommands.errors import CommandError


def register(edge_commands: argparse._SubParsersAction) -> None:
    parser = edge_commands.add_parser("models", help="install the model bundle on this device")
    actions = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    pull = actions.add_parser("pull", help="fetch, verify and install the model bundle")
    pull.add_argument("--config", default=None, help="the edge settings ([server], models_dir)")
    pull.add_argument("--from", dest="archive", type=Path, default=None, help="a `visage models pack` file")
    pull.add_argument("--models-dir", type=Path, default=None, help="override the config's models_dir")
    pull.set_defaults(handler=run_pull)


def run_pull(args: argparse.Namespace) -> int:
    from edge.models_sync import ServerSettings, pull
    from shared.bundle import install_archive
    from shared.model_registry import default_models_dir

    if args.config is None and args.archive is None:
        raise CommandError("give --config (to fetch from its [server]) or --from FILE.tar")
    server = ServerSettings()
    models_dir = args.models_dir
    if args.config is not None:
        from edge.config import ConfigError, load_config

        try:
            config = load_config(args.config)
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        server = config.server
        models_dir = models_dir or config.models_path
    models_dir = models_dir or default_models_dir()
    if args.archive is not None:
        result = install_archive(args.archive, models_dir)
    elif not server.configured:
        raise CommandError(f"{args.config} has no [server] url to fetch the models from")
    else:
        result = pull(server, models_dir)
    manifest = result.manifest
    print(
        json.dumps(
            {
                "version": manifest["version"],
                "embedder": manifest["embedder"],
                "files": len(manifest["files"]),
                "downloaded": result.downloaded,
                "changed": result.changed,
                "models_dir": str(models_dir),
            }
        )
    )
    return 0
