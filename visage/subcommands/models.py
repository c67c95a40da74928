"""`visage models export|list|pack`: build models/ from packaged weights, show the manifest, and pack
the model bundle devices install (`visage edge models pull --from FILE.tar`, see shared/bundle.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from shared.model_registry import default_models_dir, read_manifest


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="build and inspect the ONNX models")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    export = commands.add_parser("export", help="export models/ from weights shipped inside packages")
    add_export_arguments(export)
    export.set_defaults(handler=run_export)

    listing = commands.add_parser("list", help="show models/manifest.json")
    listing.add_argument("--models-dir", type=Path, default=None)
    listing.add_argument("--json", action="store_true", help="print the manifest as JSON")
    listing.set_defaults(handler=run_list)

    pack = commands.add_parser("pack", help="write the device model bundle as one archive (offline installs)")
    pack.add_argument("--models-dir", type=Path, default=None, help="the exported models (default: models/)")
    pack.add_argument("--out", type=Path, default=None, help="archive path (default: ./bundle-VERSION.tar)")
    pack.add_argument(
        "--embedder", default=None, help="the embedder the server's galleries use (default: sface)"
    )
    pack.add_argument(
        "--model", dest="names", action="append", default=None, help="only this model (repeatable)"
    )
    pack.set_defaults(handler=run_pack)


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", type=Path, default=None, help="output folder (default: models/)")
    parser.add_argument(
        "--samples",
        type=Path,
        nargs="*",
        default=None,
        help="real face photos for the parity checks (default: the face-api demo photos, fetched with npm)",
    )
    parser.add_argument(
        "--facenet-weights",
        type=Path,
        default=None,
        help="optional facenet-pytorch VGGFace2 checkpoint (.pt)",
    )
    parser.add_argument("--force", action="store_true", help="re-export even when up to date")


def run_export(args: argparse.Namespace) -> int:
    from shared.export.build import build_models
    from shared.samples import demo_photos

    models_dir = args.models_dir or default_models_dir()
    samples = list(args.samples) if args.samples else demo_photos()
    manifest = build_models(models_dir, samples, facenet_weights=args.facenet_weights, force=args.force)
    for name, entry in sorted(manifest["models"].items()):
        parity = entry["parity"]
        print(
            f"{name:18s} {entry['bytes'] / 1e6:6.1f} MB  parity max|diff| {parity['max_abs_diff']:.2e} "
            f"vs {parity.get('reference', '?')} on {parity.get('n_inputs', '?')} real inputs"
        )
    print(f"manifest: {models_dir / 'manifest.json'}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from shared.bundle import active_dir
    from shared.export.build import manifest_rows

    manifest = read_manifest(active_dir(args.models_dir or default_models_dir()))  # a device's `current` too
    if args.json:
        print(json.dumps(manifest, indent=2, sort_keys=True))
        return 0
    rows = manifest_rows(manifest)
    if not rows:
        print("No models yet: run `visage models export`.")
        return 1
    for name, size, parity, source in rows:
        print(f"{name:18s} {size:>8s}  parity {parity:>9s}  from {source}")
    return 0


def run_pack(args: argparse.Namespace) -> int:
    from shared.bundle import build_manifest, write_archive
    from shared.embed import DEFAULT_EMBEDDER

    models_dir = args.models_dir or default_models_dir()
    manifest = build_manifest(models_dir, args.embedder or DEFAULT_EMBEDDER, args.names)
    out = args.out or Path(f"bundle-{manifest['version']}.tar")
    write_archive(models_dir, out, manifest)
    size = sum(f["bytes"] for f in manifest["files"])
    print(
        f"bundle {manifest['version']} (format {manifest['format']}, embedder {manifest['embedder']}): "
        f"{len(manifest['files'])} files, {size / 1e6:.1f} MB -> {out}"
    )
    return 0
