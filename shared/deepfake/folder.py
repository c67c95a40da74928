"""Score every video and image in a folder (batch users): one row per file, errors kept as rows.

A folder of uploads always holds a few files that are not media or are broken; one bad file
must not stop the batch, and a user must see which files were skipped and why. So each file
becomes a row: scored (probability, verdict, faces) or unreadable (the sentence of the
MediaError). Rows go to CSV (a spreadsheet) or JSON (a program). numpy-free, no model imports.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from shared.media import MediaError

COLUMNS = (
    "file",
    "status",
    "kind",
    "probability",
    "verdict",
    "frames_sampled",
    "frames_with_faces",
    "faces_scored",
    "reason",
)


def folder_files(folder: Path, recursive: bool = True) -> list[Path]:
    """Regular files under `folder` (hidden ones skipped), sorted so runs are repeatable."""
    pattern = folder.rglob("*") if recursive else folder.glob("*")
    files = [
        path
        for path in pattern
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    ]
    return sorted(files)


def score_rows(
    files: list[Path], folder: Path, score: Callable[[Path], dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """One row per file; a MediaError (not media, corrupt, too long...) is a row with its reason."""
    for path in files:
        name = str(path.relative_to(folder))
        try:
            result = score(path)
        except MediaError as exc:
            yield {"file": name, "status": "unreadable", "reason": str(exc)}
            continue
        yield {
            "file": name,
            "status": "scored",
            "kind": result["kind"],
            "probability": result["probability"],
            "verdict": result["verdict"],
            "frames_sampled": result["frames_sampled"],
            "frames_with_faces": result["frames_with_faces"],
            "faces_scored": result["faces_scored"],
        }


def write_rows(rows: list[dict[str, Any]], out: Path) -> None:
    """CSV when `out` ends in .csv, else JSON (a list of rows); written whole, then renamed."""
    tmp = out.with_name(out.name + ".part")
    if out.suffix.lower() == ".csv":
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({key: "" if row.get(key) is None else row.get(key) for key in COLUMNS})
    else:
        tmp.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out)
