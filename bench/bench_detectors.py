"""MTCNN vs YuNet, same frames, one run: recall against known faces and ms per frame on 2 threads.

Two sets, both detectors on each:

* **class**: `--frames` consecutive 1280x720 frames of the simulated lecture (`simulate`,
  27-28 people in view, faces 49-88 px), where the truth is known: the simulator pastes each visible
  person's face centred on their seat (x, y, face_px in truth.json), moved by at most ~7 % of the face
  per frame. A detection is that person's if its box centre lies within 0.6 face widths of the seat
  (one detection per person, nearest first); detections matched to nobody are `extra` (false
  alarms: nothing else in the frame is a face). Detectors run with the agent's `--min-face` (40);
  `recall_after_min_face` also drops, as the agent does, boxes under that size on their shorter side.
* **photos**: the 24 group photos plus multiface.jpg and t1.jpg (`bench.common.photo_paths`), at the
  analyzer's default `--photo-min-face` (20). They have no box annotations, so recall is *pooled*:
  the truth is every face either detector reports (matched across detectors at IoU >= 0.3), and each
  detector's recall is the share of that pool it found. This counts each detector's false alarms as
  the other's misses; `--sheet` writes the faces only one of them found as contact sheets under
  bench/results/ to look at (docs/face-core.md says what a look at them found).

Timing: passes alternate MTCNN / YuNet over the same frames (`--passes`, default 2); each frame keeps
its fastest pass. Threads pinned to `--threads` (default 2). Figures are printed, written to
bench/results/detectors-<time>.json, and the last line is one JSON object; `speedup` is MTCNN ms /
YuNet ms per class frame.

    python bench/bench_detectors.py [--frames 20] [--passes 2] [--sheet]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    BENCH_DIR,
    LoadMonitor,
    load_photos,
    machine_info,
    percentile,
    pin_threads,
    require_data,
    versions,
)

SEAT_RADIUS = 0.6  # a detection belongs to a seat within this many face widths (as tests/ use)
POOL_IOU = 0.3  # two detectors' boxes of one face overlap at least this much
NAMES = ("mtcnn", "yunet")


def centre_matches(faces, seats) -> tuple[int, int]:
    """(people found, extra detections): greedy nearest-centre matching, one detection per seat."""
    import numpy as np

    centres = np.array([[(f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2] for f in faces]).reshape(-1, 2)
    used: set[int] = set()
    for x, y, width in seats:
        if len(used) == len(centres):
            break
        distance = np.hypot(centres[:, 0] - x, centres[:, 1] - y)
        distance[list(used)] = np.inf
        best = int(distance.argmin())
        if distance[best] < SEAT_RADIUS * width:
            used.add(best)
    return len(used), len(centres) - len(used)


def pool(found: dict[str, list], min_size: float) -> list[tuple[set[str], object]]:
    """The pooled faces of one photo: (which detectors found it, one of its Faces) per face.

    Faces are matched across detectors at IoU >= POOL_IOU (best pairs first). A face is in scope
    when some detector's box of it is at least `min_size` on its shorter side, so a face near the
    limit, seen at 19 px by one and 21 px by the other, counts once and for both.
    """
    import numpy as np

    from shared.export.yunet import box_iou

    first, second = (found[name] for name in NAMES)
    a, b = (np.array([f.box for f in faces], dtype=np.float64).reshape(-1, 4) for faces in (first, second))
    iou = box_iou(a, b) if len(a) and len(b) else np.zeros((len(a), len(b)))
    pairs: dict[int, int] = {}
    taken: set[int] = set()
    for flat in np.argsort(-iou, axis=None):
        i, j = divmod(int(flat), iou.shape[1])
        if iou[i, j] < POOL_IOU:
            break
        if i not in pairs and j not in taken:
            pairs[i] = j
            taken.add(j)
    faces: list[tuple[set[str], object, float]] = []
    for i, face in enumerate(first):
        if i in pairs:
            faces.append(({NAMES[0], NAMES[1]}, face, max(face.size, second[pairs[i]].size)))
        else:
            faces.append(({NAMES[0]}, face, face.size))
    faces += [({NAMES[1]}, face, face.size) for j, face in enumerate(second) if j not in taken]
    return [(names, face) for names, face, size in faces if size >= min_size]


def timed(detector, frames, passes: int, monitor: LoadMonitor) -> tuple[list[float], list]:
    """Per-frame best ms over `passes` passes, and the faces of the last pass."""
    best = [float("inf")] * len(frames)
    faces: list = []
    for _ in range(passes):
        monitor.begin()
        faces = []
        for k, frame in enumerate(frames):
            started = time.perf_counter()
            faces.append(detector.detect(frame))
            best[k] = min(best[k], (time.perf_counter() - started) * 1000.0)
        monitor.end()
    return best, faces


def contact_sheet(items, path: Path, tile: int = 96, columns: int = 12) -> None:
    """The faces only one detector found, each with context and its score, for a look."""
    import cv2
    import numpy as np

    tiles = []
    for image, face in items:
        x1, y1, x2, y2 = face.box
        w, h = x2 - x1, y2 - y1
        left, top = int(max(0, x1 - w / 2)), int(max(0, y1 - h / 2))
        right, bottom = int(min(image.shape[1], x2 + w / 2)), int(min(image.shape[0], y2 + h / 2))
        crop = np.ascontiguousarray(image[top:bottom, left:right])
        if crop.size == 0:
            continue
        cv2.rectangle(crop, (int(x1 - left), int(y1 - top)), (int(x2 - left), int(y2 - top)), (255, 0, 0), 1)
        crop = cv2.resize(crop, (tile, tile))
        cv2.putText(
            crop, f"{face.score:.2f}", (2, tile - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 0), 1
        )
        tiles.append(crop)
    if not tiles:
        return
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=20, help="class frames (1280x720)")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--seats", type=int, default=28)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-face", type=int, default=40, help="class frames: the agent's default 40")
    parser.add_argument("--photo-min-face", type=int, default=20, help="photos: the analyzer's default 20")
    parser.add_argument("--no-photos", action="store_true", help="class frames only")
    parser.add_argument(
        "--sheet", action="store_true", help="contact sheets of faces one detector alone found"
    )
    parser.add_argument("--video", type=Path, default=None, help="a folder compose_classroom wrote (reused)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    args = parser.parse_args()
    threads = pin_threads(args.threads)
    require_data()

    from bench.bench_edge import busiest_window, classroom, read_frames
    from shared.detectors import load_detector
    from shared.model_registry import ModelRegistry
    from simulate.timeline import load_truth

    registry = ModelRegistry()
    out_dir = args.video or Path(tempfile.gettempdir()) / f"visage-bench-class-{args.seats}-{args.seed}"
    classroom(out_dir, args.seats, args.seed)
    truth = load_truth(out_dir)
    start, in_view = busiest_window(out_dir, args.frames)
    frames = read_frames(truth.video, start, args.frames)
    seats = [
        [(p.seat.x, p.seat.y, p.seat.face_px) for p in truth.visible(start + k)] for k in range(len(frames))
    ]
    height, width = frames[0].shape[:2]
    print(
        f"class: {len(frames)} frames {width}x{height} from {start}, people in view "
        f"{min(in_view)}-{max(in_view)}, min face {args.min_face} px",
        flush=True,
    )
    result: dict = {"class": {}, "photos": {}}
    detectors = {name: load_detector(registry, name, min_face_size=args.min_face) for name in NAMES}
    monitors = {name: LoadMonitor() for name in NAMES}
    for detector in detectors.values():
        detector.detect(frames[0])  # warm-up: first inference allocates
    times = {name: [float("inf")] * len(frames) for name in NAMES}
    faces = {}
    for _ in range(args.passes):  # interleaved, so background load falls on both alike
        for name, detector in detectors.items():
            best, faces[name] = timed(detector, frames, 1, monitors[name])
            times[name] = [min(a, b) for a, b in zip(times[name], best, strict=True)]
    for name in NAMES:
        found = extra = kept_found = 0
        for frame_faces, frame_seats in zip(faces[name], seats, strict=True):
            hit, false = centre_matches(frame_faces, frame_seats)
            found, extra = found + hit, extra + false
            # What the agent keeps: it drops faces whose box is under min_face_size on its shorter side.
            kept = [f for f in frame_faces if f.size >= args.min_face]
            kept_found += centre_matches(kept, frame_seats)[0]
        people = sum(len(s) for s in seats)
        result["class"][name] = {
            "recall": round(found / people, 4),
            "found": found,
            "people": people,
            "extra": extra,
            "recall_after_min_face": round(kept_found / people, 4),
            "ms_p50": round(percentile(times[name], 50), 1),
            "ms_mean": round(sum(times[name]) / len(frames), 1),
            "background_cores": monitors[name].foreign_cores,
        }
        r = result["class"][name]
        print(
            f"  {name:<6} recall {r['recall']:.3f} ({found}/{people})  extra {extra}  "
            f"after the agent's {args.min_face} px filter {r['recall_after_min_face']:.3f}  "
            f"{r['ms_p50']:7.1f} ms/frame p50  (background {r['background_cores']} cores)",
            flush=True,
        )

    if not args.no_photos:
        photos = load_photos()
        print(f"photos: {len(photos)} real photos, min face {args.photo_min_face} px", flush=True)
        detectors = {name: load_detector(registry, name, min_face_size=args.photo_min_face) for name in NAMES}
        images = [p.image for p in photos]
        monitors = {name: LoadMonitor() for name in NAMES}
        ms, found = {}, {}
        for name, detector in detectors.items():
            detector.detect(images[0])
            ms[name], found[name] = timed(detector, images, 1, monitors[name])
        pooled, counts, alone_all = 0, dict.fromkeys(NAMES, 0), {name: [] for name in NAMES}
        for k, image in enumerate(images):
            faces = pool({name: found[name][k] for name in NAMES}, args.photo_min_face)
            pooled += len(faces)
            for names, face in faces:
                for name in names:
                    counts[name] += 1
                if len(names) == 1:
                    alone_all[next(iter(names))].append((image, face))
        for name in NAMES:
            result["photos"][name] = {
                "pooled_recall": round(counts[name] / pooled, 4),
                "found": counts[name],
                "alone": len(alone_all[name]),
                "ms_total": round(sum(ms[name]), 1),
                "background_cores": monitors[name].foreign_cores,
            }
            r = result["photos"][name]
            print(
                f"  {name:<6} pooled recall {r['pooled_recall']:.3f} ({counts[name]}/{pooled})  "
                f"found alone {r['alone']}  {r['ms_total'] / len(images):7.1f} ms/photo mean",
                flush=True,
            )
        result["photos"]["pooled_faces"] = pooled
        result["photos"]["photos"] = len(images)
        if args.sheet:
            args.out.mkdir(parents=True, exist_ok=True)
            for name in NAMES:
                contact_sheet(alone_all[name], args.out / f"detectors-only-{name}.png")
            print(f"  contact sheets: {args.out}/detectors-only-*.png", flush=True)

    ratio = result["class"]["mtcnn"]["ms_p50"] / max(result["class"]["yunet"]["ms_p50"], 1e-9)
    summary = {
        **result,
        "frames": len(frames),
        "frame_size": f"{width}x{height}",
        "min_face_px": {"class": args.min_face, "photos": args.photo_min_face},
        "passes": args.passes,
        "machine": machine_info(threads),
        "note": "timings on a shared machine unless background_cores is near 0",
        "versions": versions("onnxruntime", "opencv-python-headless", "numpy"),
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "speedup": round(ratio, 2),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (args.out / f"detectors-{stamp}.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"YuNet is {ratio:.1f}x faster per class frame; written to {args.out}/detectors-{stamp}.json")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
