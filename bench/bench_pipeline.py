#!/usr/bin/env python3
"""Per-frame face pipeline benchmark: detect + align + embed, Visage vs facenet-pytorch vs dlib.

Same frames (real group photos and video frames from ../shared/data), same machine, one run,
every contestant pinned to the same thread count and warmed up before timing. The timed passes
are interleaved (Visage, facenet-pytorch, dlib; then again) and each frame keeps its best pass,
so a burst of background load does not land on one contestant only. Prints a table and, as the
last line, one JSON object with the medians and the ratios peer / Visage.

    . .venv/bin/activate && python bench/bench_pipeline.py            # see bench/README.md

Contestants:
  visage          FaceAnalyzer.get(frame): ONNX MTCNN + 5-point similarity warp + ONNX dlib ResNet
  facenet_pytorch MTCNN(keep_all=True)(frame) + InceptionResnetV1, in bench/.venv-facenet (subprocess)
  dlib_hog        what face_recognition does: HOG detector (upsample 1) + shape_predictor_5 +
                  get_face_chips + compute_face_descriptor (batched list overload)
  dlib_cnn        same with the MMOD CNN detector (upsample 1), on a few frames only (slow)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # bench/ is not a package: the scripts are run by path
from common import Frame, Stats

FACENET_PYTHON = common.BENCH_DIR / ".venv-facenet" / "bin" / "python"
FACENET_WORKER = common.BENCH_DIR / "peers" / "facenet_worker.py"
CNN_MAX_PIXELS = 1024 * 800  # dlib's CNN detector is not run on bigger frames (1080p: ~2 min each)

Pipeline = Callable[[np.ndarray], int]
Pass = tuple[list[float], list[int]]  # per-frame ms, per-frame faces


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=common.DEFAULT_THREADS, help="threads for everyone")
    parser.add_argument("--video-frames", type=int, default=10, help="frames sampled from each video")
    parser.add_argument("--max-photos", type=int, default=None, help="use only the first N photos")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved timed passes (best kept)")
    parser.add_argument(
        "--dlib-cnn-frames", type=int, default=3, help="frames for dlib's CNN detector (0: skip, it is slow)"
    )
    parser.add_argument("--skip-facenet", action="store_true", help="leave facenet-pytorch out")
    parser.add_argument("--skip-dlib", action="store_true", help="leave both dlib contestants out")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each pass, wait up to this many s for other load",
    )
    parser.add_argument("--no-stages", action="store_true", help="skip Visage's per-stage breakdown pass")
    parser.add_argument("--facenet-python", type=Path, default=FACENET_PYTHON, help="python of the peer venv")
    parser.add_argument("--json-out", type=Path, default=None, help="also write per-frame results here")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every frame's times")
    return parser.parse_args(argv)


def warmup_indices(frames: Sequence[Frame]) -> list[int]:
    """The first frame of each source (group photos, each still, each video): each size class once."""
    seen: dict[str, int] = {}
    for k, frame in enumerate(frames):
        source = frame.name.split("#")[0] if "#" in frame.name else frame.name.split("/")[0]
        seen.setdefault(source, k)
    return sorted(seen.values())


# ---------------------------------------------------------------- contestants


class Local:
    """A contestant that runs in this process."""

    def __init__(self, label: str, pipeline: Pipeline, frames: Sequence[Frame], info: dict[str, Any]):
        self.label, self.pipeline, self.frames, self.info = label, pipeline, frames, info

    def warm(self, indices: Sequence[int]) -> None:
        for k in indices:
            self.pipeline(self.frames[k].image)

    def run_pass(self) -> Pass:
        times, faces = [], []
        for frame in self.frames:
            ms, found = common.time_ms(lambda image=frame.image: self.pipeline(image))
            times.append(ms)
            faces.append(int(found))
        return times, faces

    @property
    def pid(self) -> int:
        return os.getpid()

    def close(self) -> None:
        pass


class FacenetWorker:
    """facenet-pytorch in its own venv: bench/peers/facenet_worker.py, one pass per request."""

    label = "facenet-pytorch"

    def __init__(self, python: Path, frames: Sequence[Frame], threads: int):
        if not python.is_file():
            raise FileNotFoundError(f"{python} not found: create the peer venv (see bench/README.md).")
        self._tmp = tempfile.TemporaryDirectory(prefix="visage-bench-")
        folder = Path(self._tmp.name)
        index = []
        for k, frame in enumerate(frames):
            np.save(folder / f"{k:03d}.npy", frame.image)
            index.append({"name": frame.name, "file": f"{k:03d}.npy"})
        (folder / "index.json").write_text(json.dumps(index))
        self.folder, self.python, self.threads = folder, python, threads
        self.info: dict[str, Any] = {}
        self.proc: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None

    def warm(self, indices: Sequence[int]) -> None:
        """Start the worker; it loads the frames and warms up before saying it is ready."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        command = [str(self.python), str(FACENET_WORKER), "--frames-dir", str(self.folder)]
        command += ["--threads", str(self.threads), "--warmup", ",".join(str(i) for i in indices)]
        # stderr goes to a file (closed in close()): a full pipe would block the worker.
        self._stderr = open(self.folder / "stderr.txt", "w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env
        )
        self.info = self._receive()
        self.info.pop("ready", None)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def run_pass(self) -> Pass:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write("pass\n")
        self.proc.stdin.flush()
        message = self._receive()
        return [float(t) for t in message["times_ms"]], [int(f) for f in message["faces"]]

    def _receive(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self._stderr.seek(0)
            raise RuntimeError(f"facenet worker exited ({code}):\n{self._stderr.read()[-3000:]}")
        message = json.loads(line)
        if "error" in message:
            raise RuntimeError(f"facenet worker: {message['error']}")
        return message

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        if self._stderr is not None:
            self._stderr.close()
        self._tmp.cleanup()


def visage_analyzer(threads: int) -> Any:
    """Visage's FaceAnalyzer on ONNX Runtime; checks the thread pin reached RuntimeOptions."""
    from shared.analysis import FaceAnalyzer
    from shared.model_registry import ModelError, ModelRegistry

    registry = ModelRegistry()
    if registry.options.intra_op_threads != threads:
        raise SystemExit(
            f"bench: VISAGE_INTRA_OP_THREADS did not reach RuntimeOptions "
            f"({registry.options.intra_op_threads} != {threads})."
        )
    try:
        return FaceAnalyzer(registry).prepare()
    except ModelError as exc:
        raise SystemExit(f"bench: {exc}") from None


def dlib_pipeline(detector_kind: str) -> Pipeline:
    """face_recognition's recipe on dlib directly: detect, 5 landmarks, chip, 128-d descriptor."""
    import dlib

    shape_predictor = dlib.shape_predictor(str(common.dlib_model("shape_predictor_5_face_landmarks.dat")))
    encoder = dlib.face_recognition_model_v1(
        str(common.dlib_model("dlib_face_recognition_resnet_model_v1.dat"))
    )
    if detector_kind == "hog":
        hog = dlib.get_frontal_face_detector()

        def detect(image: np.ndarray) -> list[Any]:
            return list(hog(image, 1))

    elif detector_kind == "cnn":
        cnn = dlib.cnn_face_detection_model_v1(str(common.dlib_model("mmod_human_face_detector.dat")))

        def detect(image: np.ndarray) -> list[Any]:
            return [d.rect for d in cnn(image, 1)]

    else:
        raise ValueError(f"Unknown dlib detector '{detector_kind}'.")

    def pipeline(image: np.ndarray) -> int:
        shapes = dlib.full_object_detections()
        for rect in detect(image):
            shapes.append(shape_predictor(image, rect))
        if len(shapes) == 0:
            return 0
        chips = dlib.get_face_chips(image, shapes, size=150, padding=0.25)
        return len(encoder.compute_face_descriptor(chips))

    return pipeline


def visage_stages(analyzer: Any, frames: Sequence[Frame]) -> dict[str, float]:
    """One extra pass timing Visage's stages apart (detect / align / embed), as medians in ms."""
    stages: dict[str, list[float]] = {"detect": [], "align": [], "embed": []}
    for frame in frames:
        ms, faces = common.time_ms(lambda image=frame.image: analyzer.detect(image))
        stages["detect"].append(ms)
        ms, chips = common.time_ms(lambda image=frame.image, faces=faces: analyzer.align(image, faces))
        stages["align"].append(ms)
        ms, _ = common.time_ms(
            lambda image=frame.image, faces=faces, chips=chips: analyzer.embed(image, faces, chips)
        )
        stages["embed"].append(ms)
    return {name: round(Stats(values).p50, 1) for name, values in stages.items()} | {
        f"{name}_total_s": round(Stats(values).total / 1000.0, 2) for name, values in stages.items()
    }


# ---------------------------------------------------------------- main


def best_of(passes: Sequence[Pass]) -> Pass:
    """Per frame, the fastest pass; the faces of the first pass (all passes find the same)."""
    return common.best_per_item([p[0] for p in passes]), passes[0][1]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    threads = common.pin_threads(args.threads)

    frames = common.load_frames(video_frames=args.video_frames, max_photos=args.max_photos)
    warm = warmup_indices(frames)
    n = len(frames)
    print(
        f"frames: {n} ({', '.join(sorted({f.shape_text for f in frames}))}); warm-up on {len(warm)} of them"
    )
    print(f"machine at start: {json.dumps(common.machine_info(threads))}")

    import onnxruntime as ort

    analyzer = visage_analyzer(threads)
    providers = analyzer.registry.options.available_providers()
    contestants: dict[str, Local | FacenetWorker] = {
        "visage": Local(
            "visage (onnxruntime)",
            lambda image: len(analyzer.get(image)),
            frames,
            {"versions": {"onnxruntime": ort.__version__}, "providers": providers},
        )
    }
    if not args.skip_facenet:
        try:
            contestants["facenet_pytorch"] = FacenetWorker(args.facenet_python, frames, threads)
        except FileNotFoundError as exc:
            print(f"facenet-pytorch skipped: {exc}")
    if not args.skip_dlib:
        import dlib

        contestants["dlib_hog"] = Local(
            "dlib HOG + resnet (face_recognition)",
            dlib_pipeline("hog"),
            frames,
            {"versions": {"dlib": dlib.__version__}},
        )

    passes: dict[str, list[Pass]] = {name: [] for name in contestants}
    monitors = {name: common.LoadMonitor() for name in contestants}
    waited = 0.0
    try:
        for name, contestant in contestants.items():
            contestant.warm(warm)
            monitors[name].pids.add(contestant.pid)
        for _ in range(max(1, args.repeat)):
            for name, contestant in contestants.items():
                waited += common.wait_for_quiet(args.quiet_wait)
                monitors[name].begin()
                passes[name].append(contestant.run_pass())
                monitors[name].end()
    finally:
        for contestant in contestants.values():
            contestant.close()

    results: dict[str, dict[str, Any]] = {}
    for name, contestant in contestants.items():
        times, faces = best_of(passes[name])
        background = monitors[name].foreign_cores
        results[name] = {"times_ms": times, "faces": faces, "background_cores": background, **contestant.info}
        note = ""
        if name == "facenet_pytorch":
            note = f"(torch {contestant.info['versions']['torch']}, resnet random init)"
        print(common.row(contestant.label, Stats(times), sum(faces), n, note))
    print(
        "other processes kept busy (mean cores while timing): "
        + ", ".join(f"{name} {res['background_cores']}" for name, res in results.items())
        + f"; waited {waited:.0f} s for quiet"
    )

    if not args.skip_dlib and args.dlib_cnn_frames > 0:
        # The CNN detector takes 10-20 s per photo and ~2 min per 1080p frame on this CPU: an
        # evenly spaced subset of the frames up to CNN_MAX_PIXELS, Visage re-quoted on exactly those.
        small = [k for k, f in enumerate(frames) if f.image.shape[0] * f.image.shape[1] <= CNN_MAX_PIXELS]
        spots = np.linspace(0, len(small) - 1, num=min(args.dlib_cnn_frames, len(small)))
        picks = [small[i] for i in np.unique(spots.round().astype(int))]
        cnn = Local("dlib CNN (mmod) + resnet", dlib_pipeline("cnn"), [frames[i] for i in picks], {})
        cnn.warm([0])
        common.wait_for_quiet(args.quiet_wait)
        monitor = common.LoadMonitor()
        monitor.begin()
        times, faces = cnn.run_pass()
        monitor.end()
        visage_subset = [results["visage"]["times_ms"][i] for i in picks]
        results["dlib_cnn"] = {
            "times_ms": times,
            "faces": faces,
            "frames": [frames[i].name for i in picks],
            "visage_times_ms": visage_subset,
            "visage_faces": [results["visage"]["faces"][i] for i in picks],
            "background_cores": monitor.foreign_cores,
        }
        print(common.row(cnn.label, Stats(times), sum(faces), len(picks), "(one pass)"))
        visage_faces = sum(results["dlib_cnn"]["visage_faces"])
        print(common.row("  visage on those frames", Stats(visage_subset), visage_faces, len(picks)))

    if not args.no_stages:
        common.wait_for_quiet(args.quiet_wait)
        monitor = common.LoadMonitor()
        monitor.begin()
        stages = visage_stages(analyzer, frames)
        monitor.end()
        results["visage"]["stages_ms_p50"] = stages
        print(
            f"visage stages (one extra pass), p50 per frame: detect {stages['detect']} ms, align "
            f"{stages['align']} ms, embed {stages['embed']} ms; totals {stages['detect_total_s']} / "
            f"{stages['align_total_s']} / {stages['embed_total_s']} s; "
            f"background {monitor.foreign_cores} cores"
        )

    if args.verbose:
        for k, frame in enumerate(frames):
            cells = "  ".join(
                f"{name} {res['times_ms'][k]:8.1f} ms/{res['faces'][k]:2d}"
                for name, res in results.items()
                if name != "dlib_cnn"
            )
            print(f"{frame.name:<44} {frame.shape_text:>9}  {cells}")

    machine = common.machine_info(threads)
    print(f"machine at end: {json.dumps(machine)}")
    summary = summarize(results, n, threads)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        full = {
            "summary": summary,
            "frames": [f.name for f in frames],
            "machine": machine,
            "results": results,
        }
        args.json_out.write_text(json.dumps(full, indent=1))
    common.print_json_last(summary)
    return 0


def summarize(results: dict[str, dict[str, Any]], frames: int, threads: int) -> dict[str, Any]:
    """The last-line object: medians, p90s, faces and the ratios peer / Visage."""
    ours = Stats(results["visage"]["times_ms"])
    out: dict[str, Any] = {"visage_ms_p50": round(ours.p50, 1), "visage_ms_p90": round(ours.p90, 1)}
    for key in ("facenet_pytorch", "dlib_hog"):
        if key in results:
            stats = Stats(results[key]["times_ms"])
            out[f"{key}_ms_p50"] = round(stats.p50, 1)
            out[f"{key}_ms_p90"] = round(stats.p90, 1)
    if "dlib_cnn" in results:
        out["dlib_cnn_ms_p50"] = round(Stats(results["dlib_cnn"]["times_ms"]).p50, 1)
        out["visage_ms_p50_on_cnn_frames"] = round(Stats(results["dlib_cnn"]["visage_times_ms"]).p50, 1)
    if "facenet_pytorch" in results:
        out["speedup_vs_facenet_pytorch"] = common.ratio(out["facenet_pytorch_ms_p50"], ours.p50)
        out["speedup_total_vs_facenet_pytorch"] = common.ratio(
            Stats(results["facenet_pytorch"]["times_ms"]).total, ours.total
        )
    if "dlib_hog" in results:
        out["speedup_vs_dlib"] = common.ratio(out["dlib_hog_ms_p50"], ours.p50)
        out["speedup_total_vs_dlib"] = common.ratio(Stats(results["dlib_hog"]["times_ms"]).total, ours.total)
    if "dlib_cnn" in results:
        out["speedup_vs_dlib_cnn"] = common.ratio(out["dlib_cnn_ms_p50"], out["visage_ms_p50_on_cnn_frames"])
        out["dlib_cnn_frames"] = len(results["dlib_cnn"]["times_ms"])
    out["faces"] = {name: int(sum(res["faces"])) for name, res in results.items() if name != "dlib_cnn"}
    if "dlib_cnn" in results:
        out["faces_on_cnn_frames"] = {
            "visage": int(sum(results["dlib_cnn"]["visage_faces"])),
            "dlib_cnn": int(sum(results["dlib_cnn"]["faces"])),
        }
    if "facenet_pytorch" in results:
        out["facenet_pytorch_weights"] = "InceptionResnetV1 random init (timing only)"
    out["background_cores"] = {name: res.get("background_cores") for name, res in results.items()}
    out["frames"] = frames
    out["threads"] = threads
    return out


if __name__ == "__main__":
    sys.exit(main())
