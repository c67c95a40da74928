"""`visage` command line: subcommand groups are registered by the modules that implement them.

Exit codes: 0 success, 1 the command ran but found a problem it reports (e.g. a failed
check), 2 the input or the setup is wrong (a sentence on stderr says what to do).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from visage.subcommands import deepfake, demo, edge, faces, models, server, simulate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="visage", description="Visage face-AI core and services.")
    subparsers = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for module in (faces, models, server, edge, deepfake, demo, simulate):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("visage: interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:
        from visage.subcommands.errors import user_message

        message = user_message(exc)
        if message is None:
            raise
        print(f"visage: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
