"""`visage edge run`: the classroom device's agent (camera -> recognition -> MQTT).

Exit code 2 with one sentence for a configuration to fix (unreadable file, bad value, missing video).
"""

from __future__ import annotations

import argparse
import json
import logging

from visage.subcommands import edge_models
from visage.subcommands.errors import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("edge", help="run the classroom edge agent")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)
    run = commands.add_parser("run", help="capture, recognise and publish sightings")
    run.add_argument("--config", required=True, help="TOML or JSON settings file (see edge/config.py)")
    run.add_argument("--source", default=None, help="override the source: USB index, RTSP URL or video file")
    run.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    run.add_argument("--no-mqtt", action="store_true", help="write events to the outbox only")
    run.set_defaults(handler=run_edge)
    edge_models.register(commands)


def run_edge(args: argparse.Namespace) -> int:
    from edge.agent import EdgeAgent
    from edge.capture import CaptureError
    from edge.config import ConfigError, load_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = load_config(args.config)
        agent = EdgeAgent(config, mqtt=not args.no_mqtt)
        stats = agent.run(source=args.source, max_frames=args.max_frames)
    except (ConfigError, CaptureError) as exc:
        raise CommandError(str(exc)) from None
    summary = {
        "frames": stats.frames,
        "faces": stats.faces,
        "embeddings": stats.embeddings,
        "events": stats.events,
        "full_detections": stats.full_detections,
        "regional_detections": stats.regional_detections,
    }
    print(json.dumps(summary))
    return 0
