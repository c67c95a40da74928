"""`visage deepfake score|eval`: the deepfake check from the command line, as JSON.

`score` takes a file (JSON result on stdout) or a folder: every file in it is scored with a
progress bar on stderr, one row per file (unreadable ones with their reason) to `--out` (CSV or
JSON by its suffix) or as JSON on stdout. Exit codes: 0 every file scored; 1 some files could
not be read (the rows say why); 2 bad input (nothing to score, a file that is not media).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from visage.subcommands.errors import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("deepfake", help="how likely a video or photo is a deepfake")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    score = commands.add_parser(
        "score", help="score a video or image (JSON result), or every file of a folder (CSV/JSON rows)"
    )
    score.add_argument("file", type=Path, help="a video or image, or a folder of them")
    score.add_argument("--crops", type=Path, default=None, help="write the top face crops (JPEG) here")
    score.add_argument(
        "--out", type=Path, default=None, help="folder mode: write the rows here (.csv or .json)"
    )
    score.add_argument("--no-progress", action="store_true", help="folder mode: no progress bar")
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
    from shared.model_registry import ModelRegistry

    if not 1 <= args.frames <= 300:
        raise CommandError(f"--frames must be between 1 and 300, got {args.frames}.")
    registry = ModelRegistry(args.models_dir)
    classifier = OnnxFaceClassifier.from_path(args.model) if args.model else None
    return DeepfakePipeline.from_registry(registry, PipelineConfig(frames=args.frames), classifier)


def run_score(args: argparse.Namespace) -> int:
    from shared.deepfake.video import sniff

    if args.file.is_dir():
        return run_score_folder(args)
    if args.out is not None:
        raise CommandError("--out is for a folder; a single file's result is printed as JSON.")
    sniff(args.file)  # refuse a wrong file before loading any model
    result = _pipeline(args).score(args.file)
    data: dict[str, Any] = {"file": str(args.file), **result.to_dict()}
    if args.crops is not None:
        data["crop_files"] = _write_crops(result.top_faces, args.crops, args.file.stem)
    print(json.dumps(data, indent=2))
    return 0


def run_score_folder(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from shared.deepfake.folder import folder_files, score_rows, write_rows

    folder: Path = args.file
    if args.crops is not None:
        raise CommandError("--crops is for a single file, not a folder.")
    if args.out is not None:
        if args.out.suffix.lower() not in (".csv", ".json"):
            raise CommandError(f"--out must end in .csv or .json, got {args.out.name}.")
        if not args.out.parent.is_dir():
            raise CommandError(f"the folder of --out, {args.out.parent}, does not exist.")
    files = folder_files(folder)
    if not files:
        raise CommandError(f"{folder} holds no files to score.")
    pipeline = _pipeline(args)
    rows = []
    bar = tqdm(files, desc="scoring", unit="file", disable=args.no_progress, file=sys.stderr)
    for row in score_rows(bar, folder, lambda path: pipeline.score(path).to_dict()):  # type: ignore[arg-type]
        rows.append(row)
        bar.set_postfix_str(row["file"][-30:])
    bar.close()
    if args.out is not None:
        try:
            write_rows(rows, args.out)
        except OSError as exc:
            raise CommandError(f"could not write {args.out} ({exc.strerror}).") from None
    else:
        print(json.dumps(rows, indent=2))
    unreadable = [row for row in rows if row["status"] != "scored"]
    scored = len(rows) - len(unreadable)
    where = f" (see {args.out})" if args.out is not None else ""
    if scored == 0:
        print(f"visage: none of the {len(rows)} file(s) in {folder} could be read{where}.", file=sys.stderr)
        return 2
    if unreadable:
        print(
            f"visage: scored {scored} of {len(rows)} file(s); {len(unreadable)} could not be read, "
            f"each listed with its reason{where}.",
            file=sys.stderr,
        )
        return 1
    print(f"visage: scored all {scored} file(s){where}.", file=sys.stderr)
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
