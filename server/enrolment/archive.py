"""Reading a zip of enrolment photos without trusting it, and without writing anything to disk.

Refused as a whole (nothing is imported, the answer names the offending member), because a zip built
like this is broken or hostile rather than a photo that happens to be bad:
* not a zip, or an encrypted one;
* more than `max_members` entries;
* a member whose name is absolute (`/x.jpg`, `C:\\x.jpg`) or climbs out of the archive (`../x.jpg`),
  or that is a symbolic link;
* a zip bomb: more than `max_total` bytes once inflated, or a member over 1 MiB that inflates more
  than `max_ratio` times its compressed size (photos hardly compress).
The sizes are those the archive declares, checked before inflating anything; Python's zipfile never
inflates a member past its declared size (and then fails its CRC check), and reads are capped too.

Skipped and reported as ignored: folders, hidden and system files (`.DS_Store`, `__MACOSX/`), nested
archives (never opened), files that are not photos by their extension.
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from server.enrolment.errors import EnrolmentError, TooLarge

PHOTO_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
ARCHIVE_EXTENSIONS = frozenset({".zip", ".7z", ".rar", ".tar", ".gz", ".tgz", ".bz2", ".xz"})
RATIO_FLOOR = 1024 * 1024  # members smaller than this are never called bombs, whatever their ratio
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveError(EnrolmentError):
    """The zip as a whole is refused."""


@dataclass(frozen=True)
class Entry:
    """A file member of the archive. `ignored` says why it is skipped; `error` why it cannot be used."""

    name: str
    info: zipfile.ZipInfo
    ignored: str | None = None
    error: str | None = None

    @property
    def path(self) -> PurePosixPath:
        return PurePosixPath(self.name)


class PhotoArchive:
    """A checked zip: `entries` lists every file member; `read(entry)` inflates one, capped."""

    def __init__(
        self,
        data: bytes,
        *,
        max_members: int,
        max_total: int,
        max_ratio: float,
        max_member_bytes: int,
    ) -> None:
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise ArchiveError(f"the photos file is not a readable zip archive ({exc})") from None
        if len(infos) > max_members:
            raise ArchiveError(
                f"the zip has {len(infos)} entries, more than the {max_members} allowed: split it"
            )
        self.max_member_bytes = max_member_bytes
        total = 0
        entries: list[Entry] = []
        for info in infos:
            name = check_name(info)
            total += info.file_size
            if info.file_size > RATIO_FLOOR and info.file_size > max_ratio * max(info.compress_size, 1):
                raise ArchiveError(
                    f"zip member {name!r} inflates {info.file_size} bytes from {info.compress_size}: "
                    "refused as a zip bomb"
                )
            if info.is_dir():
                continue
            entries.append(classify(name, info, max_member_bytes))
        if total > max_total:
            raise TooLarge(
                f"the zip holds {total} bytes once inflated, more than the {max_total} byte limit: split it"
            )
        self.entries = entries

    def photos(self) -> Iterator[Entry]:
        return (entry for entry in self.entries if entry.ignored is None and entry.error is None)

    def read(self, entry: Entry) -> bytes:
        """The member's bytes; EnrolmentError (for this file only) when it cannot be inflated."""
        try:
            with self._zip.open(entry.info) as handle:
                data = handle.read(self.max_member_bytes + 1)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, zlib.error, EOFError, OSError) as exc:
            raise EnrolmentError(f"could not be read from the zip ({exc})") from None
        if len(data) > self.max_member_bytes:
            raise EnrolmentError(f"larger than the {self.max_member_bytes} byte limit for a photo")
        return data


def check_name(info: zipfile.ZipInfo) -> str:
    """The member's name with '/' separators, or ArchiveError for names and kinds no photo zip has."""
    name = info.filename.replace("\\", "/")
    if info.flag_bits & 0x1:
        raise ArchiveError(f"zip member {name!r} is encrypted: send an unencrypted zip")
    if name.startswith("/") or _DRIVE.match(name):
        raise ArchiveError(f"zip member {name!r} has an absolute path: refused")
    if ".." in name.split("/"):
        raise ArchiveError(f"zip member {name!r} points outside the archive ('..'): refused")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ArchiveError(f"zip member {name!r} is a symbolic link: refused")
    return name


def classify(name: str, info: zipfile.ZipInfo, max_member_bytes: int) -> Entry:
    path = PurePosixPath(name)
    suffix = path.suffix.lower()
    if any(part.startswith(".") or part == "__MACOSX" for part in path.parts):
        return Entry(name, info, ignored="hidden or system file")
    if suffix in ARCHIVE_EXTENSIONS:
        return Entry(name, info, ignored="nested archive (not opened)")
    if suffix not in PHOTO_EXTENSIONS:
        return Entry(name, info, ignored=f"not a photo ({suffix or 'no extension'})")
    if info.file_size > max_member_bytes:
        return Entry(
            name,
            info,
            error=f"{info.file_size} bytes, more than the {max_member_bytes} byte limit for a photo",
        )
    return Entry(name, info)
