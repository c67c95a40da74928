"""facenet-pytorch contestant, run by bench_pipeline.py inside bench/.venv-facenet (its own torch).

Reads `index.json` from --frames-dir (a list of {"name", "file"} with each frame saved as an
HxWx3 uint8 RGB .npy) and runs facenet-pytorch's own pipeline on a frame:

    MTCNN(keep_all=True)(frame)  -> detect (P/R/O-Net cascade) + extract (box crop, 160 px,
                                    fixed_image_standardization)
    InceptionResnetV1()(faces)   -> 512-d embeddings, all faces of the frame in one batch

Protocol, one JSON object per stdout line: after loading and warming up it prints
{"ready": true, ...}; then each stdin line "pass" times one pass over all frames and prints
{"times_ms": [...], "faces": [...]}; "quit" (or the end of stdin) exits. The parent interleaves
these passes with the other contestants' so that background load hits everyone alike.

InceptionResnetV1 runs with random initial weights: the VGGFace2 checkpoint is a download this
machine cannot make; the architecture, and hence the compute, is the same. MTCNN uses the real
weights that ship inside the facenet-pytorch wheel. Standalone on purpose: it imports nothing
from the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames-dir", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=str, default="0", help="comma-separated frame indices to warm up on")
    return parser.parse_args(argv)


def send(payload: dict[str, object]) -> None:
    """One protocol message: a JSON object on its own stdout line."""
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch
    from facenet_pytorch import MTCNN, InceptionResnetV1

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)

    index = json.loads((args.frames_dir / "index.json").read_text())
    frames = [np.load(args.frames_dir / item["file"]) for item in index]

    mtcnn = MTCNN(keep_all=True, device="cpu")  # image_size 160, margin 0, post_process True
    resnet = InceptionResnetV1(pretrained=None, classify=False).eval()  # random init (no download)

    def pipeline(image: np.ndarray) -> int:
        with torch.inference_mode():
            faces = mtcnn(image)
            if faces is None:
                return 0
            embeddings = resnet(faces)
        return int(embeddings.shape[0])

    for i in (int(i) for i in args.warmup.split(",") if i.strip()):
        pipeline(frames[i])
    send(
        {
            "ready": True,
            "frames": len(frames),
            "threads": torch.get_num_threads(),
            "versions": {"torch": torch.__version__, "facenet-pytorch": version("facenet-pytorch")},
            "weights": "MTCNN: real (shipped in the wheel); InceptionResnetV1: random init, "
            "same architecture and FLOPs (VGGFace2 checkpoint cannot be downloaded here)",
        }
    )
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        if command != "pass":
            send({"error": f"unknown command {command!r}"})
            continue
        times, faces = [], []
        for image in frames:
            start = time.perf_counter()
            faces.append(pipeline(image))
            times.append((time.perf_counter() - start) * 1000.0)
        send({"times_ms": times, "faces": faces})
    return 0


if __name__ == "__main__":
    sys.exit(main())
