"""Reading a zip of enrolment photos without trusting it, and without writing anything to disk.

Refused as a whole (nothing is imported, the answer names the offending member), because a zip built
like this is broken or hostile rather than a photo that happens to be bad:
* not a zip, or an encrypted one;
* more than `max_members` entries;
* a member whose name is absolute (`/x.jpg`, `C:\\x.jpg`) or climbs out of the archive (`../x.jpg`),
  or that is a symbolic link;
* members whose bytes overlap or are shared: two directory entries pointing at the same local
  header, or one member's header and data reaching into another's or into the directory. A zip
  like that makes one small compressed member inflate once per entry (4,000 entries pointing at
  one 1 MB member: 4 GB from 209 kB); no zip tool writes one;
* a zip bomb: more than `max_total` bytes once inflated, a member over 1 MiB that inflates more
  than `max_ratio` times its compressed size (photos hardly compress), or members that together
  inflate past 1 MiB and more than `max_ratio` times the whole archive (many small bombs).
The sizes are those the archive declares, checked before inflating anything; Python's zipfile never
inflates a member past its declared size (and then fails its CRC check), and reads are capped too.

Skipped and reported as ignored: folders, hidden and system files (`.DS_Store`, `__MACOSX/`), nested
archives (never opened), files that are not photos by their extension.
"""

from __future__ import annotations

import io
import itertools
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from flask_babel import gettext

from server.errors import Invalid, TooLarge
from server.uploads.policy import mebibytes, over_limit, over_limit_english

PHOTO_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
ARCHIVE_EXTENSIONS = frozenset({".zip", ".7z", ".rar", ".tar", ".gz", ".tgz", ".bz2", ".xz"})
RATIO_FLOOR = 1024 * 1024  # members smaller than this are never called bombs, whatever their ratio
_DRIVE = re.compile(r"^[A-Za-z]:")
LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, then the name and extra field lengths
LOCAL_SIGNATURE = b"PK\x03\x04"


class ArchiveError(Invalid):
    """The zip as a whole is refused (400); the message is in the request's language."""


class MemberError(Invalid):
    """One member cannot be used (corrupt, over the size limit); the rest of the zip still is."""


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
            raise ArchiveError(
                gettext("the photos file is not a readable zip archive (%(error)s)", error=exc)
            ) from None
        if len(infos) > max_members:
            raise ArchiveError(
                gettext(
                    "the zip has %(count)s entries, more than the %(most)s allowed: split it",
                    count=len(infos),
                    most=max_members,
                )
            )
        self.max_member_bytes = max_member_bytes
        check_extents(data, infos, self._zip.start_dir)
        total = 0
        entries: list[Entry] = []
        for info in infos:
            name = check_name(info)
            total += info.file_size
            if info.file_size > RATIO_FLOOR and info.file_size > max_ratio * max(info.compress_size, 1):
                raise ArchiveError(
                    gettext(
                        "zip member %(name)s inflates %(size)s bytes from %(packed)s: refused as a zip bomb",
                        name=repr(name),
                        size=info.file_size,
                        packed=info.compress_size,
                    )
                )
            if info.is_dir():
                continue
            entries.append(classify(name, info, max_member_bytes))
        if total > max_total:
            raise TooLarge(
                gettext("the zip holds %(limit)s once inflated: split it", limit=over_limit(total, max_total))
            )
        if total > RATIO_FLOOR and total > max_ratio * len(data):
            raise ArchiveError(
                gettext(
                    "the zip's members inflate %(size)s bytes from %(packed)s: refused as a zip bomb",
                    size=total,
                    packed=len(data),
                )
            )
        self.entries = entries

    def photos(self) -> Iterator[Entry]:
        return (entry for entry in self.entries if entry.ignored is None and entry.error is None)

    def read(self, entry: Entry) -> bytes:
        """The member's bytes; MemberError (for this file only) when it cannot be inflated. Its
        message becomes the file's reason, kept in English and translated where it is shown
        (server/uploads/reasons.py)."""
        try:
            with self._zip.open(entry.info) as handle:
                data = handle.read(self.max_member_bytes + 1)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, zlib.error, EOFError, OSError) as exc:
            raise MemberError(f"could not be read from the zip ({exc})") from None
        if len(data) > self.max_member_bytes:
            raise MemberError(f"larger than the {mebibytes(self.max_member_bytes)} limit for a photo")
        return data


def check_extents(data: bytes, infos: list[zipfile.ZipInfo], directory: int) -> None:
    """ArchiveError unless every member's bytes (local header, name, extra field, compressed data)
    lie apart from every other member's and before the central directory."""
    spans: list[tuple[int, int, str]] = []
    for info in infos:
        start = info.header_offset
        header = data[start : start + LOCAL_HEADER.size] if start >= 0 else b""
        if len(header) < LOCAL_HEADER.size or header[:4] != LOCAL_SIGNATURE:
            raise ArchiveError(
                gettext(
                    "zip member %(name)s has no local header where the directory says",
                    name=repr(info.filename),
                )
            )
        _signature, name_length, extra_length = LOCAL_HEADER.unpack(header)
        end = start + LOCAL_HEADER.size + name_length + extra_length + info.compress_size
        if end > directory:
            raise ArchiveError(
                gettext(
                    "zip member %(name)s runs into the zip's directory: refused", name=repr(info.filename)
                )
            )
        spans.append((start, end, info.filename))
    spans.sort()
    for (_start, end, name), (start, _end, other) in itertools.pairwise(spans):
        if start < end:
            raise ArchiveError(
                gettext(
                    "zip members %(name)s and %(other)s share the same bytes: refused (a zip whose entries"
                    " overlap inflates one member many times)",
                    name=repr(name),
                    other=repr(other),
                )
            )


def check_name(info: zipfile.ZipInfo) -> str:
    """The member's name with '/' separators, or ArchiveError for names and kinds no photo zip has."""
    name = info.filename.replace("\\", "/")
    if info.flag_bits & 0x1:
        raise ArchiveError(
            gettext("zip member %(name)s is encrypted: send an unencrypted zip", name=repr(name))
        )
    if name.startswith("/") or _DRIVE.match(name):
        raise ArchiveError(gettext("zip member %(name)s has an absolute path: refused", name=repr(name)))
    if ".." in name.split("/"):
        raise ArchiveError(
            gettext("zip member %(name)s points outside the archive ('..'): refused", name=repr(name))
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ArchiveError(gettext("zip member %(name)s is a symbolic link: refused", name=repr(name)))
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
            error=f"the file is {over_limit_english(info.file_size, max_member_bytes)} for a photo",
        )
    return Entry(name, info)
