"""`visage deepfake score|eval`: the deepfake check from the command line, as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from visage.commands.errors import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("deepfake", help="how likely a video or photo is a deepfake")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    score = commands.add_parser("score", help="score one video or image; prints the result as JSON")
    score.add_argument("file", type=Path)
    score.add_argument("--crops", type=Path, default=None, help="write the top face crops (JPEG) here")
    _common(score)
    score.set_defaults(handler=run_score)

    evaluate = commands.add_parser(
        "eval", help="AUC, log loss and accuracy on a labelled CSV (path,label); last line is the summary"
    )
    evaluate.add_argument(
        "--labels", type=Path, required=True, help="CSV with columns path,label (REAL/FAKE)"
    )
    evaluate.add_argument("--root", type=Path, required=True, help="folder the CSV's paths are relative to")
    _common(evaluate)
    evaluate.set_defaults(handler=run_eval)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=32, help="frames sampled from a video (default 32)")
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--model", type=Path, default=None, help="a deepfake ONNX model other than models/'s")


def _pipeline(args: argparse.Namespace):
    from shared.deepfake.classifier import OnnxFaceClassifier
    from shared.deepfake.pipeline import DeepfakePipeline, PipelineConfig
    from shared.registry import ModelRegistry

    if not 1 <= args.frames <= 300:
        raise CommandError(f"--frames must be between 1 and 300, got {args.frames}.")
    registry = ModelRegistry(args.models_dir)
    classifier = OnnxFaceClassifier.from_path(args.model) if args.model else None
    return DeepfakePipeline.from_registry(registry, PipelineConfig(frames=args.frames), classifier)


def run_score(args: argparse.Namespace) -> int:
    from shared.deepfake.video import sniff

    sniff(args.file)  # refuse a wrong file before loading any model
    result = _pipeline(args).score(args.file)
    data: dict[str, Any] = {"file": str(args.file), **result.to_dict()}
    if args.crops is not None:
        data["crop_files"] = _write_crops(result.top_faces, args.crops, args.file.stem)
    print(json.dumps(data, indent=2))
    return 0


def _write_crops(faces: list, folder: Path, stem: str) -> list[str]:
    import cv2

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create the crops folder {folder} ({exc.strerror}).") from None
    written = []
    for rank, face in enumerate(faces, start=1):
        path = folder / f"{stem}-face{rank}-{face.score:.3f}.jpg"
        if not cv2.imwrite(str(path), face.crop[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90]):
            raise CommandError(f"could not write {path}.")
        written.append(str(path))
    return written


def run_eval(args: argparse.Namespace) -> int:
    from shared.deepfake.evaluate import LabelsError, evaluate, read_labels

    try:
        files = read_labels(args.labels, args.root)
    except LabelsError as exc:
        raise CommandError(str(exc)) from None
    pipeline = _pipeline(args)
    summary: dict[str, Any] = {}
    for line in evaluate(lambda path: pipeline.score(path).to_dict(), files):
        if "auc" in line:
            summary = line
        else:
            print(json.dumps(line), flush=True)
    if summary["n"] == 0:
        print(json.dumps(summary))
        raise CommandError("no file of the labels CSV could be scored (see the errors above).")
    if summary["errors"]:
        print(
            f"visage: {len(summary['errors'])} file(s) could not be read and are left out.", file=sys.stderr
        )
    print(json.dumps(summary))
    return 0
