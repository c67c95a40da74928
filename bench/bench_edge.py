"""Edge agent throughput on a simulated class: FPS and per-stage time of the agent's pipeline (detect
every frame, track, align + embed only the faces the recognizer still needs) next to the naive
approach (detect + align + embed + match every face in every frame), on the same frames, one run.

The class comes from the simulator (`edge.simulate.compose_classroom`, real LFW photos composed into
a ceiling-camera lecture, 1280x720): `--frames` consecutive frames (default 60) are taken where the
most people are in view (20-30 with the default 28 seats). Both contestants match against the same
gallery, enrolled from the simulator's enrolment photos (other photos than the video's). Timed
passes alternate agent / naive (`--passes`, default 2), each agent pass with a fresh agent (empty
tracker); each contestant keeps its fastest pass. Threads pinned to `--threads` (default 2).

Last line: one JSON object; `speedup` = naive seconds / agent seconds for the same frames.

    python bench/bench_edge.py [--frames 60] [--passes 2] [--seats 28] [--video DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DATA_DIR, LoadMonitor, machine_info, pin_threads, require_data, versions

FACES = DATA_DIR / "lfw_deepfunneled_pairs" / "images"


def classroom(out_dir: Path, seats: int, seed: int) -> Path:
    """Compose the simulated lecture once (kept in `out_dir` for later runs)."""
    if not (out_dir / "truth.json").exists():
        from edge.simulate import compose_classroom

        print(f"composing a {seats}-seat class into {out_dir} ...", flush=True)
        compose_classroom(FACES, out_dir, seed=seed, seats=seats, minutes=40)
    return out_dir


def busiest_window(out_dir: Path, count: int) -> tuple[int, list[int]]:
    """First frame of the `count` consecutive frames with the most people in view, and the counts."""
    truth = json.loads((out_dir / "truth.json").read_text())
    step, lead = truth["seconds_per_frame"], truth["lead_s"]
    in_view = []
    for index in range(truth["frames"]):
        t = -lead + index * step
        in_view.append(sum(any(a <= t < b for a, b in p["intervals"]) for p in truth["people"]))
    best = max(range(len(in_view) - count + 1), key=lambda i: (min(in_view[i : i + count]), -i))
    return best, in_view[best : best + count]


def read_frames(video: Path, start: int, count: int) -> list:
    import cv2

    capture = cv2.VideoCapture(str(video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def enrol(analyzer, enrol_dir: Path, threshold: float):
    """The gallery a device would receive: one student per enrolment folder, 1..n embeddings each."""
    import numpy as np

    from shared.media import read_image
    from shared.messages import Gallery, GalleryStudent, gallery_digest

    students, names = [], {}
    for student_id, folder in enumerate(sorted(p for p in enrol_dir.iterdir() if p.is_dir()), start=1):
        vectors = []
        for photo in sorted(folder.iterdir()):
            faces = analyzer.get(read_image(photo), max_faces=1)
            if faces:
                vectors.append(faces[0].embedding)
        if vectors:
            students.append(GalleryStudent(student_id, np.asarray(vectors, dtype=np.float32)))
            names[student_id] = folder.name
    draft = Gallery("bench-cam", 1, 1, "", "dlib_resnet", "cosine", threshold, tuple(students))
    return dataclasses.replace(draft, sha256=gallery_digest(draft)), names


def agent_pass(analyzer, gallery, frames, tmp: Path, index: int, min_face: int) -> dict:
    """The agent's own `process()` on every frame; stage times from its `_stage` hook."""
    from edge.agent import EdgeAgent, RunStats
    from edge.config import EdgeConfig

    config = EdgeConfig(
        device_id="bench-cam",
        outbox_path=str(tmp / f"outbox-{index}.sqlite"),
        gallery_path=str(tmp / f"gallery-{index}.json"),
        min_face_size=min_face,
    )
    agent = EdgeAgent(config, analyzer=analyzer, mqtt=False)
    assert agent.gallery.offer(gallery), agent.gallery.rejected
    stages: dict[str, float] = defaultdict(float)

    def record(name: str, started: float) -> None:
        stages[name] += (time.perf_counter() - started) * 1000.0

    agent._stage = record  # the agent's per-stage timer, summed over the run instead of windowed
    stats = RunStats()
    moment = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    started = time.perf_counter()
    for number, frame in enumerate(frames):
        agent.process(frame, moment + timedelta(seconds=number), stats)
    elapsed = time.perf_counter() - started
    agent.outbox.close()
    return {
        "seconds": elapsed,
        "stages_ms": dict(stages),
        "faces": stats.faces,
        "embeddings": agent.recognizer.embeddings_used,
        "events": stats.events,
        "decided_students": len(set(_students(tmp / f"outbox-{index}.sqlite"))),
    }


def _students(outbox_path: Path) -> list[int]:
    import sqlite3

    with sqlite3.connect(outbox_path) as db:
        return [row[0] for row in db.execute("SELECT student_id FROM events WHERE student_id IS NOT NULL")]


def naive_pass(analyzer, gallery, frames, min_face: int) -> dict:
    """Detect, align, embed and match every face of every frame."""
    import numpy as np

    matrix = np.concatenate([s.embeddings for s in gallery.students])
    matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    stages: dict[str, float] = defaultdict(float)
    faces_total = embeddings = 0
    recognised: set[int] = set()
    owners = np.concatenate([[s.student_id] * len(s.embeddings) for s in gallery.students])
    started = time.perf_counter()
    for frame in frames:
        t = time.perf_counter()
        faces = [f for f in analyzer.detect(frame) if min(f.width, f.height) >= min_face]
        stages["detect"] += (time.perf_counter() - t) * 1000.0
        faces_total += len(faces)
        if not faces:
            continue
        t = time.perf_counter()
        chips = analyzer.align(frame, faces)
        stages["align"] += (time.perf_counter() - t) * 1000.0
        t = time.perf_counter()
        vectors = analyzer.embed(frame, faces, chips)
        stages["embed"] += (time.perf_counter() - t) * 1000.0
        t = time.perf_counter()
        scores = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)) @ matrix.T
        best = scores.argmax(axis=1)
        recognised.update(
            int(owners[i]) for i, s in zip(best, scores.max(axis=1), strict=True) if s >= gallery.threshold
        )
        stages["match"] += (time.perf_counter() - t) * 1000.0
        embeddings += len(chips)
    return {
        "seconds": time.perf_counter() - started,
        "stages_ms": dict(stages),
        "faces": faces_total,
        "embeddings": embeddings,
        "decided_students": len(recognised),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--seats", type=int, default=28)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--min-face", type=int, default=40, help="detector's smallest face (agent default 40)"
    )
    parser.add_argument("--video", type=Path, default=None, help="a folder compose_classroom wrote (reused)")
    args = parser.parse_args()
    threads = pin_threads(args.threads)
    require_data()

    from shared.analysis import FaceAnalyzer
    from shared.embed import EMBEDDERS
    from shared.registry import ModelRegistry

    out_dir = args.video or Path(tempfile.gettempdir()) / f"visage-bench-class-{args.seats}-{args.seed}"
    classroom(out_dir, args.seats, args.seed)
    start, in_view = busiest_window(out_dir, args.frames)
    frames = read_frames(out_dir / "classroom.avi", start, args.frames)
    analyzer = FaceAnalyzer(ModelRegistry(), min_face_size=args.min_face).prepare()
    gallery, _ = enrol(analyzer, out_dir / "enrol", float(EMBEDDERS["dlib_resnet"]["strict_threshold"]))
    print(
        f"{len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]} from {start}, people in view "
        f"{min(in_view)}-{max(in_view)}; gallery of {len(gallery.students)} students",
        flush=True,
    )
    # Warm-up: the first inference of each network allocates its buffers.
    naive_pass(analyzer, gallery, frames[:1], args.min_face)

    results: dict[str, list[dict]] = {"agent": [], "naive": []}
    monitors = {"agent": LoadMonitor(), "naive": LoadMonitor()}
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.passes):
            monitors["agent"].begin()
            results["agent"].append(agent_pass(analyzer, gallery, frames, Path(tmp), index, args.min_face))
            monitors["agent"].end()
            monitors["naive"].begin()
            results["naive"].append(naive_pass(analyzer, gallery, frames, args.min_face))
            monitors["naive"].end()
            print(
                f"pass {index + 1}: agent {len(frames) / results['agent'][-1]['seconds']:.2f} fps, "
                f"naive {len(frames) / results['naive'][-1]['seconds']:.2f} fps",
                flush=True,
            )
    best = {name: min(runs, key=lambda r: r["seconds"]) for name, runs in results.items()}
    n = len(frames)
    for name, run in best.items():
        stages = "  ".join(f"{k} {v / n:6.1f}" for k, v in sorted(run["stages_ms"].items()))
        print(
            f"{name:<6} {n / run['seconds']:6.2f} fps  {run['seconds'] * 1000 / n:7.1f} ms/frame  "
            f"ms/frame by stage: {stages}  faces/frame {run['faces'] / n:.1f}  "
            f"embeddings/frame {run['embeddings'] / n:.2f}  students recognised {run['decided_students']}"
        )
    result = {
        "agent_fps": round(n / best["agent"]["seconds"], 3),
        "naive_fps": round(n / best["naive"]["seconds"], 3),
        "agent_stage_ms_per_frame": {k: round(v / n, 2) for k, v in best["agent"]["stages_ms"].items()},
        "naive_stage_ms_per_frame": {k: round(v / n, 2) for k, v in best["naive"]["stages_ms"].items()},
        "faces_per_frame": round(best["naive"]["faces"] / n, 2),
        "agent_embeddings_per_frame": round(best["agent"]["embeddings"] / n, 3),
        "naive_embeddings_per_frame": round(best["naive"]["embeddings"] / n, 3),
        "people_in_view": [min(in_view), max(in_view)],
        "frames": n,
        "min_face_px": args.min_face,
        "passes": args.passes,
        "background_cores": {name: monitor.foreign_cores for name, monitor in monitors.items()},
        "machine": machine_info(threads),
        "versions": versions("onnxruntime", "opencv-python-headless", "numpy"),
        "speedup": round(best["naive"]["seconds"] / best["agent"]["seconds"], 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
