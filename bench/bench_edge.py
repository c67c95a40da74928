"""Edge agent throughput on a simulated class of 27-28 faces: the agent with its track-driven detection
schedule, the agent detecting every frame, a naive loop on the same ONNX models, and facenet-pytorch,
on the same frames, one run.

The class comes from the simulator (`simulate.compose_classroom`, real LFW photos composed into
a ceiling-camera lecture, 1280x720): `--frames` consecutive frames (default 60) are taken where the
most people are in view (27-28 with the default 28 seats). Contestants:

* **agent**: `EdgeAgent.process()` per frame with the default `[detection]` schedule (full-frame MTCNN
  every `full_every` frames, R-Net/O-Net around live tracks in between; edge/schedule.py), tracker,
  align + embed only what the recognizer asks for, decision, SQLite outbox;
* **agent_every_frame**: the same agent with `full_every = 1` (full-frame detection on every frame);
* **naive**: detect + align + embed + match every face of every frame on the same ONNX models;
* **facenet-pytorch** (when its venv exists, see bench/README.md): `MTCNN(keep_all=True)(frame)` +
  `InceptionResnetV1()(faces)` on every frame, in its own process (bench/peers/facenet_worker.py).

The agents and the naive loop match against the same gallery, enrolled from the simulator's
enrolment photos (other photos than the video's). Timed passes are interleaved (`--passes`,
default 2), each agent pass with a fresh agent (empty tracker); each contestant keeps its fastest
pass. Threads pinned to `--threads` (default 2). Recall of each agent against the simulator's truth
is not measured here (the per-frame detections differ by design); `visage simulate run` scores
what matters, the attendance (docs/simulator.md).

Last line: one JSON object with FPS and per-stage ms per frame for each contestant and the ratios
against the agent measured in the same run.

    python bench/bench_edge.py [--frames 60] [--passes 2] [--seats 28] [--full-every 5] [--skip-facenet]
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
        from simulate import compose_classroom

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


def enrol(analyzer, enrol_dir: Path):
    """The gallery a device would receive: one student per enrolment folder, 1..n embeddings each."""
    import numpy as np

    from shared.embed import EMBEDDERS, embedder_id
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
    name = analyzer.embedder_name
    threshold = float(EMBEDDERS[name]["strict_threshold"])
    draft = Gallery("bench-cam", 1, 1, "", embedder_id(name), "cosine", threshold, tuple(students))
    return dataclasses.replace(draft, sha256=gallery_digest(draft)), names


def agent_pass(analyzer, gallery, frames, tmp: Path, index: int, min_face: int, full_every: int) -> dict:
    """The agent's own `process()` on every frame; stage times from its `_stage` hook."""
    from edge.agent import EdgeAgent, RunStats
    from edge.config import EdgeConfig
    from edge.schedule import DetectionSettings

    config = EdgeConfig(
        device_id="bench-cam",
        outbox_path=str(tmp / f"outbox-{full_every}-{index}.sqlite"),
        gallery_path=str(tmp / f"gallery-{full_every}-{index}.json"),
        min_face_size=min_face,
        embedder=analyzer.embedder_name,
        detection=DetectionSettings(full_every=full_every),
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
    outbox = tmp / f"outbox-{full_every}-{index}.sqlite"
    return {
        "seconds": elapsed,
        "stages_ms": dict(stages),
        "faces": stats.faces,
        "embeddings": agent.recognizer.embeddings_used,
        "events": stats.events,
        "full_detections": stats.full_detections,
        "regional_detections": stats.regional_detections,
        "decided_students": len(set(_students(outbox))),
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


def facenet_peer(python: Path, frames, threads: int):
    """facenet-pytorch's worker (bench_pipeline's), or None when its venv is missing."""
    from bench.bench_pipeline import FacenetWorker
    from bench.common import Frame

    if not python.is_file():
        print(f"facenet-pytorch skipped: {python} not found (bench/README.md sets it up)", flush=True)
        return None
    worker = FacenetWorker(python, [Frame(f"frame{k}", image) for k, image in enumerate(frames)], threads)
    worker.warm([0])
    return worker


def main() -> None:
    from bench.bench_pipeline import FACENET_PYTHON

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--seats", type=int, default=28)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--full-every", type=int, default=None, help="the agent's schedule (default: edge's)")
    parser.add_argument(
        "--min-face", type=int, default=40, help="detector's smallest face (agent default 40)"
    )
    parser.add_argument("--video", type=Path, default=None, help="a folder compose_classroom wrote (reused)")
    parser.add_argument("--skip-facenet", action="store_true", help="leave facenet-pytorch out")
    parser.add_argument("--facenet-python", type=Path, default=FACENET_PYTHON, help="python of the peer venv")
    parser.add_argument(
        "--providers",
        default="cpu",
        help="onnxruntime providers of every contestant on ONNX, e.g. tensorrt,cuda,cpu on a GPU machine",
    )
    parser.add_argument(
        "--height", type=int, default=None, help="resize frames to this height (1080 for 1080p)"
    )
    args = parser.parse_args()
    threads = pin_threads(args.threads)
    require_data()

    from edge.schedule import DetectionSettings
    from shared.analysis import FaceAnalyzer
    from shared.model_registry import ModelRegistry
    from shared.runtime import RuntimeOptions

    full_every = args.full_every or DetectionSettings().full_every
    out_dir = args.video or Path(tempfile.gettempdir()) / f"visage-bench-class-{args.seats}-{args.seed}"
    classroom(out_dir, args.seats, args.seed)
    start, in_view = busiest_window(out_dir, args.frames)
    frames = read_frames(out_dir / "classroom.avi", start, args.frames)
    if args.height:
        import cv2

        scale = args.height / frames[0].shape[0]
        size = (round(frames[0].shape[1] * scale), args.height)
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_LINEAR) for f in frames]
    options = RuntimeOptions(providers=tuple(args.providers.split(",")), intra_op_threads=threads)
    analyzer = FaceAnalyzer(ModelRegistry(options=options), min_face_size=args.min_face).prepare()
    gallery, _ = enrol(analyzer, out_dir / "enrol")
    print(
        f"{len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]} from {start}, people in view "
        f"{min(in_view)}-{max(in_view)}; gallery of {len(gallery.students)} students "
        f"({analyzer.embedder_name}); agent detects the full frame every {full_every} frames",
        flush=True,
    )
    # Warm-up: the first inference of each network allocates its buffers.
    naive_pass(analyzer, gallery, frames[:1], args.min_face)
    peer = None if args.skip_facenet else facenet_peer(args.facenet_python, frames, threads)

    contestants = {
        "agent": lambda tmp, i: agent_pass(analyzer, gallery, frames, tmp, i, args.min_face, full_every),
        "agent_every_frame": lambda tmp, i: agent_pass(analyzer, gallery, frames, tmp, i, args.min_face, 1),
        "naive": lambda tmp, i: naive_pass(analyzer, gallery, frames, args.min_face),
    }
    if peer is not None:

        def facenet(_tmp, _i) -> dict:
            times, faces = peer.run_pass()
            return {"seconds": sum(times) / 1000.0, "stages_ms": {}, "faces": sum(faces),
                    "embeddings": sum(faces)}  # fmt: skip

        contestants["facenet_pytorch"] = facenet
    results: dict[str, list[dict]] = {name: [] for name in contestants}
    monitors = {name: LoadMonitor() for name in contestants}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for index in range(args.passes):
                for name, run in contestants.items():
                    monitors[name].begin()
                    results[name].append(run(Path(tmp), index))
                    monitors[name].end()
                print(
                    f"pass {index + 1}: "
                    + ", ".join(f"{n} {len(frames) / r[-1]['seconds']:.2f} fps" for n, r in results.items()),
                    flush=True,
                )
    finally:
        if peer is not None:
            peer.close()
    best = {name: min(runs, key=lambda r: r["seconds"]) for name, runs in results.items()}
    n = len(frames)
    for name, run in best.items():
        stages = "  ".join(f"{k} {v / n:6.1f}" for k, v in sorted(run["stages_ms"].items()))
        print(
            f"{name:<18} {n / run['seconds']:6.2f} fps  {run['seconds'] * 1000 / n:7.1f} ms/frame  "
            f"by stage: {stages or '-'}  faces/frame {run['faces'] / n:.1f}  "
            f"embeddings/frame {run['embeddings'] / n:.2f}  students recognised "
            f"{run.get('decided_students', '-')}"
        )
    agent_s = best["agent"]["seconds"]
    result = {
        "fps": {name: round(n / run["seconds"], 3) for name, run in best.items()},
        "ms_per_frame": {name: round(run["seconds"] * 1000 / n, 1) for name, run in best.items()},
        "stage_ms_per_frame": {
            name: {k: round(v / n, 2) for k, v in run["stages_ms"].items()} for name, run in best.items()
        },
        "agent_speedup_vs": {name: round(run["seconds"] / agent_s, 2) for name, run in best.items()},
        "faces_per_frame": round(best["naive"]["faces"] / n, 2),
        "embeddings_per_frame": {name: round(run["embeddings"] / n, 3) for name, run in best.items()},
        "students_recognised": {
            name: run["decided_students"] for name, run in best.items() if "decided_students" in run
        },
        "agent_full_detections": best["agent"]["full_detections"],
        "agent_regional_detections": best["agent"]["regional_detections"],
        "full_every": full_every,
        "people_in_view": [min(in_view), max(in_view)],
        "frames": n,
        "resolution": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
        "min_face_px": args.min_face,
        "passes": args.passes,
        "embedder": analyzer.embedder_name,
        "providers": analyzer.registry.providers_in_use(),
        "facenet_pytorch": peer.info if peer is not None else None,
        "background_cores": {name: monitor.foreign_cores for name, monitor in monitors.items()},
        "machine": machine_info(threads),
        "versions": versions("onnxruntime", "opencv-python-headless", "numpy"),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
