"""`visage faces detect|compare|blur|eval-lfw`: the face core from the command line."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from shared.detectors import DEFAULT_DETECTOR, DETECTORS
from shared.embed import DEFAULT_EMBEDDER, EMBEDDERS
from visage.subcommands.errors import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("faces", help="detect, compare and evaluate faces")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    detect = commands.add_parser("detect", help="boxes, scores, landmarks and quality of every face")
    detect.add_argument("image", type=Path)
    _common(detect)
    detect.set_defaults(handler=run_detect)

    compare = commands.add_parser("compare", help="largest face of IMAGE_A against every face of IMAGE_B")
    compare.add_argument("image_a", type=Path)
    compare.add_argument("image_b", type=Path)
    compare.add_argument(
        "--threshold", type=float, default=None, help="decision threshold in the metric's unit"
    )
    compare.add_argument("--flip", action="store_true", help="flip test-time augmentation")
    _jitter_option(compare)
    _common(compare)
    compare.set_defaults(handler=run_compare)

    blur = commands.add_parser(
        "blur", help="sharpness of the photo and of each face (variance of the Laplacian)"
    )
    blur.add_argument("image", type=Path)
    blur.add_argument("--threshold", type=float, default=None, help="photo sharpness below this is 'blurred'")
    _common(blur)
    blur.set_defaults(handler=run_blur)

    demo = commands.add_parser("demo", help="detect and compare faces on the face-api sample photos")
    demo.add_argument("photos", type=Path, nargs="*", help="photos to use (default: face-api demo photos)")
    _common(demo)
    demo.set_defaults(handler=run_demo)

    lfw = commands.add_parser("eval-lfw", help="LFW verification protocol (pairs.txt / pairsDevTest.txt)")
    lfw.add_argument(
        "--pairs",
        type=Path,
        required=True,
        action="append",
        help="pairs file; give it more than once to cross-validate across files (each file's folds "
        "become folds of one protocol)",
    )
    lfw.add_argument("--images", type=Path, required=True, help="folder holding Name/Name_0001.jpg")
    lfw.add_argument("--flip", action="store_true", help="flip test-time augmentation")
    _jitter_option(lfw)
    lfw.add_argument("--metric", choices=("euclidean", "cosine"), default=None)
    _common(lfw)
    lfw.set_defaults(handler=run_eval_lfw)


def _jitter_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of jitters from 0 to 100")
    return value


def _jitter_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--jitter",
        type=_jitter_count,
        default=0,
        metavar="N",
        help="also embed N slightly moved crops of each face and average (dlib's num_jitters)",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--min-face", type=int, default=20, help="smallest face to find, in pixels")
    parser.add_argument(
        "--embedder",
        default=DEFAULT_EMBEDDER,
        choices=sorted(EMBEDDERS),
        help=f"face embedder (default {DEFAULT_EMBEDDER}; see docs/face-core.md)",
    )
    parser.add_argument(
        "--detector",
        default=DEFAULT_DETECTOR,
        choices=DETECTORS,
        help=f"face detector (default {DEFAULT_DETECTOR}; see docs/face-core.md, Detectors)",
    )


def _analyzer(args: argparse.Namespace, flip: bool = False, jitter: int = 0):
    from shared.analysis import FaceAnalyzer
    from shared.model_registry import ModelRegistry

    return FaceAnalyzer(
        ModelRegistry(args.models_dir),
        embedder=args.embedder,
        min_face_size=args.min_face,
        flip=flip,
        jitter=jitter,
        detector=args.detector,
    ).prepare()


def _read(path: Path) -> np.ndarray:
    from shared.media import read_image

    return read_image(path)


def _print(data: dict[str, Any], as_json: bool, text: list[str]) -> None:
    print(json.dumps(data, indent=2) if as_json else "\n".join(text))


def run_detect(args: argparse.Namespace) -> int:
    image = _read(args.image)
    analyzer = _analyzer(args)
    faces = analyzer.get(image, embed=False)
    data = {
        "image": str(args.image),
        "width": image.shape[1],
        "height": image.shape[0],
        "faces": [face.to_dict() for face in faces],
    }
    text = [f"{args.image}: {image.shape[1]}x{image.shape[0]}, {len(faces)} face(s)"]
    for index, item in enumerate(faces, 1):
        x1, y1, x2, y2 = (round(float(v)) for v in item.face.box)
        verdict = "ok" if item.quality.passed else "; ".join(item.quality.reasons)
        text.append(
            f"  #{index} box=({x1},{y1},{x2},{y2}) score={item.face.score:.3f} "
            f"sharpness={item.quality.sharpness:.0f} yaw={item.quality.pose.yaw:+.0f} quality: {verdict}"
        )
    _print(data, args.json, text)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from shared.embed import EMBEDDERS
    from shared.similarity import same_person, similarity, to_display

    analyzer = _analyzer(args, flip=args.flip, jitter=args.jitter)
    faces_a = analyzer.get(_read(args.image_a))
    faces_b = analyzer.get(_read(args.image_b))
    if not faces_a:
        raise CommandError(f"{args.image_a}: no face found, so there is nothing to compare.")
    source = max(faces_a, key=lambda f: f.face.width * f.face.height)
    spec = EMBEDDERS[args.embedder]
    metric = str(spec["metric"])
    threshold = float(args.threshold if args.threshold is not None else spec["threshold"])  # type: ignore[arg-type]
    matches = []
    if faces_b:
        scores = similarity(source.embedding[None], np.stack([f.embedding for f in faces_b]), metric)[0]
        for item, score in zip(faces_b, scores, strict=True):
            value = to_display(float(score), metric)
            matches.append(
                {
                    "face": item.face.to_dict(),
                    metric: round(value, 4),
                    "same_person": same_person(value, metric, threshold),
                }
            )
    data = {
        "source_face": source.face.to_dict(),
        "metric": metric,
        "threshold": threshold,
        "matches": matches,
        "any_match": any(m["same_person"] for m in matches),
    }
    text = [
        f"{args.image_a}: largest face vs {len(faces_b)} face(s) in {args.image_b} "
        f"({metric}, threshold {threshold})"
    ]
    for index, match in enumerate(matches, 1):
        x1, y1, x2, y2 = (round(v) for v in match["face"]["box"])
        verdict = "SAME person" if match["same_person"] else "different"
        text.append(f"  #{index} box=({x1},{y1},{x2},{y2}) {metric}={match[metric]:.3f} -> {verdict}")
    _print(data, args.json, text)
    return 0


def run_blur(args: argparse.Namespace) -> int:
    from shared.quality import QualityThresholds, image_blur

    threshold = args.threshold if args.threshold is not None else PHOTO_BLUR_THRESHOLD
    image = _read(args.image)
    sharpness = image_blur(image)
    faces = _analyzer(args).get(image, embed=False)
    face_limit = QualityThresholds().min_sharpness
    data = {
        "image": str(args.image),
        "sharpness": round(sharpness, 1),
        "threshold": threshold,
        "blurred": sharpness < threshold,
        "faces": [
            {
                "box": [round(float(v), 1) for v in f.face.box],
                "sharpness": f.quality.sharpness,
                "blurred": f.quality.sharpness < face_limit,
            }
            for f in faces
        ],
    }
    text = [
        f"{args.image}: sharpness {sharpness:.0f} (threshold {threshold:.0f}) -> "
        f"{'BLURRED' if data['blurred'] else 'sharp'}"
    ]
    for index, face in enumerate(data["faces"], 1):
        text.append(
            f"  face #{index}: sharpness {face['sharpness']:.0f} -> "
            f"{'blurred' if face['blurred'] else 'sharp'}"
        )
    _print(data, args.json, text)
    return 0


# Whole-photo sharpness (variance of the Laplacian at 1024 px) below which a photo is flagged.
PHOTO_BLUR_THRESHOLD = 100.0


def run_eval_lfw(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from shared.detect import Face
    from shared.embed import EMBEDDERS
    from shared.lfw import embed_images, read_pairs, score_pairs

    for pairs_file in args.pairs:
        if not pairs_file.is_file():
            raise CommandError(f"{pairs_file}: no such pairs file.")
    if not args.images.is_dir():
        raise CommandError(f"{args.images}: no such image folder.")
    pairs: list = []
    folds = 0
    for pairs_file in args.pairs:
        try:
            these, count = read_pairs(pairs_file, args.images)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        pairs += [replace(pair, fold=pair.fold + folds) for pair in these]
        folds += count
        missing = sorted({str(p) for pair in these for p in (pair.a, pair.b) if not p.is_file()})
        if missing:
            raise CommandError(
                f"{len(missing)} image(s) named by {pairs_file} are missing, e.g. {missing[0]}."
            )
    analyzer = _analyzer(args, flip=args.flip, jitter=args.jitter)
    metric = args.metric or str(EMBEDDERS[args.embedder]["metric"])

    def embed_face(image: np.ndarray, face: Face) -> np.ndarray:
        return analyzer.embed(image, [face])[0]

    paths = sorted({p for pair in pairs for p in (pair.a, pair.b)})
    embeddings, undetected = embed_images(
        paths,
        analyzer.detect,
        embed_face,
        _read,
        progress=lambda items: tqdm(items, desc="embedding", unit="img", disable=args.json),
    )
    result = score_pairs(pairs, folds, embeddings, metric)  # type: ignore[arg-type]
    result.update(
        {
            "undetected": undetected,
            "images": len(paths),
            "flip": bool(args.flip),
            "jitter": args.jitter,
            "embedder": args.embedder,
        }
    )
    if not args.json:
        names = " + ".join(p.name for p in args.pairs)
        print(
            f"LFW {names}: accuracy {result['accuracy']:.4f} +- {result['std']:.4f} "
            f"over {result['folds']} fold(s), {result['pairs']} pairs, {undetected} undetected image(s)"
        )
    print(json.dumps(result))
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """Find every face in a few group photos, then say which good faces recur across photos."""
    import time

    from shared.embed import EMBEDDERS
    from shared.samples import demo_photos
    from shared.similarity import similarity, to_display

    photos = list(args.photos) or demo_photos()
    analyzer = _analyzer(args)
    spec = EMBEDDERS[args.embedder]
    metric = str(spec["metric"])
    threshold = float(spec["strict_threshold"])  # type: ignore[arg-type]
    usable: list[tuple[str, int, Any]] = []
    print(f"Visage face core on {len(photos)} photo(s) ({args.embedder}):")
    for photo in photos:
        image = _read(photo)
        started = time.perf_counter()
        found = analyzer.get(image)
        elapsed = (time.perf_counter() - started) * 1000
        print(f"  {photo.name}: {image.shape[1]}x{image.shape[0]}, {len(found)} face(s) in {elapsed:.0f} ms")
        for index, item in enumerate(found, 1):
            verdict = "ok" if item.quality.passed else "; ".join(item.quality.reasons)
            print(
                f"    face #{index}: score {item.face.score:.2f}, {item.face.size:.0f} px, quality: {verdict}"
            )
            if item.quality.passed:
                usable.append((photo.name, index, item))
    print(
        f"Faces that pass the quality gate and recur across photos ({metric} >= {threshold}, the LFW 0.1% "
        "false-accept point):"
    )
    matches = 0
    if len(usable) >= 2:
        scores = similarity(
            np.stack([item.embedding for *_, item in usable]),
            np.stack([item.embedding for *_, item in usable]),
            metric,
        )  # type: ignore[arg-type]
        for i, (name_i, index_i, _) in enumerate(usable):
            for j in range(i + 1, len(usable)):
                name_j, index_j, _ = usable[j]
                value = to_display(float(scores[i, j]), metric)  # type: ignore[arg-type]
                if name_i != name_j and value >= threshold:
                    matches += 1
                    print(f"  {name_i} face #{index_i} ~ {name_j} face #{index_j}: {metric} {value:.3f}")
    if not matches:
        print("  none.")
    return 0
