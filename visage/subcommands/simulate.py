"""`visage simulate classroom|run`: the classroom simulator (simulate) from the command line.

`classroom` writes a video, enrolment photos and truth.json; `run` composes a class and plays it
through the whole system (edge agent -> MQTT -> ingest -> database -> attendance) and prints one
JSON line scoring the attendance against the truth. Exit code 2 with one sentence for a faces
folder that cannot make a class or an unreachable broker or database.
"""

from __future__ import annotations

import argparse
import json
import socket


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("simulate", help="simulated classroom video and whole-system runs")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    classroom = commands.add_parser("classroom", help="compose a lecture video with ground truth")
    _common(classroom)
    classroom.add_argument("--out", required=True, help="output folder (video, enrol/, truth.json)")
    classroom.add_argument("--minutes", type=float, default=50.0, help="lecture length (default: 50)")
    classroom.set_defaults(handler=run_classroom)

    run = commands.add_parser("run", help="run edge -> MQTT -> ingest -> attendance on a simulated class")
    _common(run)
    run.add_argument("--database-url", default=None, help="default: SQLite in a temporary folder")
    run.add_argument(
        "--broker", default="127.0.0.1:1883", help="MQTT broker HOST:PORT (default: 127.0.0.1:1883)"
    )
    run.add_argument("--work-dir", default=None, help="keep the video, logs and database here")
    run.add_argument(
        "--embedder", default="sface", help="face embedder of server and device (sface, dlib_resnet, fused)"
    )
    run.add_argument(
        "--full-every",
        type=int,
        default=None,
        help="device: full-frame detection every N frames, tracks in between (default: the edge's, 5)",
    )
    run.set_defaults(handler=run_run)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--faces", required=True, help="one folder of photos per person")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--seats", type=int, default=24, help="people in view, strangers included (default: 24)"
    )
    parser.add_argument(
        "--seconds-per-frame", type=float, default=10.0, help="simulated seconds between frames (default: 10)"
    )


def _broker(text: str) -> tuple[str, int]:
    from visage.subcommands.errors import CommandError

    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise CommandError(f"--broker must be HOST:PORT, got {text!r}.")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError as exc:
        raise CommandError(f"cannot reach the MQTT broker at {host}:{port}: {exc.strerror or exc}.") from None
    return host, int(port)


def run_classroom(args: argparse.Namespace) -> int:
    from simulate.compose import compose_classroom

    truth = compose_classroom(
        args.faces, args.out, seed=args.seed, seats=args.seats, minutes=args.minutes,
        seconds_per_frame=args.seconds_per_frame,
    )  # fmt: skip
    print(
        json.dumps(
            {
                "video": str(truth.video),
                "truth": str(truth.out_dir / "truth.json"),
                "frames": truth.frames,
                "roster": len(truth.roster),
                "strangers": len(truth.strangers),
                "expected": {
                    s: sum(1 for v in truth.expected.values() if v == s)
                    for s in sorted(set(truth.expected.values()))
                },
            }
        )
    )
    return 0


def run_run(args: argparse.Namespace) -> int:
    from simulate.run import run_simulation

    broker = _broker(args.broker)
    result = run_simulation(
        args.faces, seed=args.seed, database_url=args.database_url, broker=broker, work_dir=args.work_dir,
        seats=args.seats, seconds_per_frame=args.seconds_per_frame, embedder=args.embedder,
        detection={"full_every": args.full_every} if args.full_every else None,
    )  # fmt: skip
    print(json.dumps(result))
    return 0
