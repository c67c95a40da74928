#!/usr/bin/env python3
"""Install the better of several trained deepfake classifiers, chosen by validation only.

Each candidate is an ONNX file written by scripts/train_deepfake.py with its run record (.json)
beside it. The choice uses the held-out identities' figures of the records (face-level SBI AUC,
then video-level AUC of the chosen aggregation, then the smaller file); never the labelled
deepfake samples, which stay the evaluation set. Files over the 20 MB commit limit are not
candidates. The winner is copied to models/deepfake_sbi.onnx and its card is written with a
comparison of all candidates.

    python scripts/pick_deepfake_model.py .cache/deepfake/runs/lite0.onnx .cache/deepfake/runs/lite2.onnx
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

MAX_BYTES = 20_000_000
DEFAULT_OUT = REPO / "models" / "deepfake_sbi.onnx"


def _key(record: dict) -> tuple[float, float, float]:
    val = record["validation"]
    video = val["video"].get(val["aggregation"], {}).get("auc") or 0.0
    return (-val["auc"], -video, record["size_mb"])


def comparison(records: list[tuple[Path, dict]], chosen: Path) -> str:
    """The card's section that names every candidate with its validation figures."""
    lines = [
        "## Backbones compared (same data, recipe and wall-clock cap; chosen by validation)",
        "",
        "| run | backbone | steps in the cap | SBI val AUC | log loss (calibrated) | video AUC | size |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for path, rec in records:
        val, log = rec["validation"], rec["training"]
        video = val["video"].get(val["aggregation"], {}).get("auc")
        mark = " (installed)" if path == chosen else ""
        lines.append(
            f"| `{rec['config']['name']}`{mark} | {rec['config']['backbone']} | {log['steps_done']} "
            f"| {val['auc']:.3f} | {val['log_loss']:.3f} | "
            f"{'n/a' if video is None else f'{video:.3f}'} | {rec['size_mb']} MB |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("candidates", nargs="+", type=Path, help="ONNX files with their .json records")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--dry-run", action="store_true", help="print the choice, install nothing")
    args = parser.parse_args(argv)
    records = []
    for path in args.candidates:
        record_path = path.with_suffix(".json")
        if not path.is_file() or not record_path.is_file():
            print(f"error: {path} or its record {record_path.name} is missing.", file=sys.stderr)
            return 2
        records.append((path, json.loads(record_path.read_text())))
    eligible = [(p, r) for p, r in records if p.stat().st_size <= MAX_BYTES]
    if not eligible:
        print(f"error: every candidate is over {MAX_BYTES / 1e6:.0f} MB.", file=sys.stderr)
        return 2
    chosen, record = min(eligible, key=lambda item: _key(item[1]))
    print(f"chosen: {chosen} ({record['version']}, SBI validation AUC {record['validation']['auc']:.3f})")
    if args.dry_run:
        return 0
    from deepfake_card import write_card

    shutil.copyfile(chosen, args.out)
    card = args.out.with_suffix(".md")
    write_card(card, record)
    with open(card, "a") as handle:
        handle.write("\n" + comparison(records, chosen))
    print(f"installed {args.out} and {card}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
