"""Fetch the chart library of the device page, uPlot, from the npm registry into server/static/vendor/uplot/.

`npm pack uplot@VERSION` (the registry, no CDN at run time), the tarball checked against the sha256
recorded here, then the three files the page serves checked against theirs. Idempotent: files already
in place with the right hashes are left alone. Pages work without it (the server-drawn SVG charts
stay); scripts/setup.sh runs it. Exit 0 done, 2 with one sentence when npm or a hash fails.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "1.6.32"
TARBALL_SHA256 = "4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d"
FILES = {  # path inside the package -> sha256
    "package/dist/uPlot.iife.min.js": "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f",
    "package/dist/uPlot.min.css": "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
    "package/LICENSE": "8f989229699b4fe2f1a0432d0e9edc338a8a911e250e2d1b01ecd770a5f5b1bd",
}
TARGET = Path(__file__).resolve().parent.parent / "server" / "static" / "vendor" / "uplot"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def in_place() -> bool:
    return all(
        (TARGET / Path(name).name).is_file() and sha256((TARGET / Path(name).name).read_bytes()) == digest
        for name, digest in FILES.items()
    )


def fetch() -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("uPlot comes from the npm package uplot: install Node.js and npm, then rerun.")
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [npm, "pack", f"uplot@{VERSION}", "--silent"],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=300,
        )
        tarball = Path(tmp) / f"uplot-{VERSION}.tgz"
        if result.returncode != 0 or not tarball.is_file():
            raise SystemExit(f"`npm pack uplot@{VERSION}` failed: {result.stderr.strip()[-300:]}")
        if sha256(tarball.read_bytes()) != TARBALL_SHA256:
            raise SystemExit(f"uplot-{VERSION}.tgz does not match its recorded sha256: refusing it.")
        with tarfile.open(tarball) as archive:
            contents = {name: archive.extractfile(name).read() for name in FILES}  # type: ignore[union-attr]
    TARGET.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        if sha256(data) != FILES[name]:
            raise SystemExit(f"{name} in uplot-{VERSION}.tgz does not match its recorded sha256.")
        (TARGET / Path(name).name).write_bytes(data)


def main() -> int:
    if not in_place():
        try:
            fetch()
        except SystemExit as exc:
            print(exc, file=sys.stderr)
            return 2
    print(f"uPlot {VERSION} in {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
