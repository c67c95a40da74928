"""The demo's classroom device, run as a child process of `visage demo`:

    python -m visage.subcommands.demo_edge EDGE_CONFIG.json [--gallery-wait S]

A real edge agent (`edge.agent.EdgeAgent`: outbox, MQTT publisher, tracker, recogniser) plays the
lecture video once, then stays connected like a camera in an empty room: status `online`, telemetry
every few seconds, until SIGTERM/SIGINT or until its parent goes away (stdin closes), when it
publishes `offline` and exits 0. Why not `visage edge run`: that command ends at the end of a file.
It waits (bounded) for the room's gallery first, so the first minutes of the lecture are recognised.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time

from edge.agent import EdgeAgent, RunStats
from edge.capture import FrameSource
from edge.config import load_config

log = logging.getLogger("visage.demo.edge")


def watch_parent(stop: threading.Event) -> None:
    """Stop when stdin reaches EOF: the parent closed it or died (no orphan device left behind)."""

    fd = sys.stdin.fileno()

    def read() -> None:
        # os.read on the raw descriptor: a daemon thread blocked in a buffered read holds the
        # buffer's lock, and the interpreter aborts on it at exit.
        try:
            while os.read(fd, 1024):
                pass
        except OSError:
            pass
        stop.set()

    threading.Thread(target=read, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m visage.subcommands.demo_edge")
    parser.add_argument("config")
    parser.add_argument("--gallery-wait", type=float, default=90.0, help="seconds to wait for the gallery")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s edge %(levelname)s %(message)s", stream=sys.stdout
    )

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    watch_parent(stop)

    config = load_config(args.config)
    agent = EdgeAgent(config, mqtt=True)
    publisher = agent.publisher
    assert publisher is not None
    publisher.start()
    try:
        deadline = time.monotonic() + args.gallery_wait
        while agent.gallery.version() is None and time.monotonic() < deadline and not stop.is_set():
            stop.wait(0.5)
        log.info("gallery version %s; playing %s", agent.gallery.version(), config.source)
        capture = FrameSource(
            config.source,
            start_time=config.start_time,
            realtime=config.realtime,
            frame_interval_s=config.frame_interval_s,
        )
        stats = RunStats()
        started = time.monotonic()
        for frame, captured_at in capture.frames():
            if stop.is_set():
                capture.stop()
                break
            agent.process(frame, captured_at, stats)
            if stats.frames % 50 == 0:
                log.info("%d frames, %d faces, %d sightings", stats.frames, stats.faces, stats.events)
        summary = {
            "frames": stats.frames,
            "faces": stats.faces,
            "embeddings": stats.embeddings,
            "sightings": stats.events,
            "seconds": round(time.monotonic() - started, 1),
        }
        print("lecture played: " + json.dumps(summary), flush=True)
        stop.wait()  # online and publishing telemetry until told to stop
    finally:
        publisher.stop()
        agent.outbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
