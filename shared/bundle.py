"""Model bundles: the exported model set as one versioned, verifiable unit that devices install.

A bundle is the models a device runs (their ONNX files plus their entries of `models/manifest.json`),
described by a bundle manifest, `bundle.json`:

    {"format": 1, "version": "<16 hex>", "embedder": "sface@2021dec", "embedders": [...],
     "exporter": 1, "files": [{"name": "sface.onnx", "sha256": "...", "bytes": 38599432}, ...],
     "models": {<the registry entries, exactly as in models/manifest.json>}}

`version` is content-addressed (`bundle_version`): the first 16 hex of SHA-256 over the format, the
embedder id and the sorted (file name, sha256) pairs, so the same files give the same version on every
server and any change of a file or of the embedder galleries are made with gives a new one. The
canonical bytes of the manifest (`encode_manifest`) are what the server serves, what `visage models
pack` puts first in its archive and what the MQTT announcement's `manifest_sha256` covers.

On a device the models folder holds versions side by side and a `current` symlink (`active_dir`):

    <models_dir>/current -> versions/<version>
    <models_dir>/versions/<version>/{bundle.json, manifest.json, *.onnx}

A folder without `current` (the repository's `models/`, written by the exporter) is used as it is.
Installing (`Staging`) writes every file into a staging folder beside the versions and checks its size
and sha256 against the manifest as it arrives; only a complete, verified folder is renamed into
`versions/` and `current` swapped to it in one atomic rename. Any failure removes the staging folder,
so the previous set is never touched. Standard library only (plus `shared.embed` for embedder ids):
this runs on the device.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from shared.embed import EMBEDDERS, embedder_id, embedder_name, model_files
from shared.model_registry import MANIFEST_NAME, read_manifest, sha256_file

BUNDLE_FORMAT = 1
BUNDLE_MANIFEST = "bundle.json"
CURRENT = "current"
VERSIONS = "versions"
KEEP_VERSIONS = 2  # the set in use and the one before it (a rollback needs no download)
MAX_MANIFEST_BYTES = 1 << 20
MAX_FILE_BYTES = 4 << 30
CHUNK = 1 << 20
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")  # no folders, no dot files, no '..'
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
VERSION_HEX = re.compile(r"^[0-9a-f]{16}$")


class BundleError(RuntimeError):
    """A bundle that cannot be built, fetched, verified or installed; the message is one sentence."""


@dataclass(frozen=True)
class Installed:
    """What an install did."""

    manifest: dict[str, Any]
    changed: bool  # False: that version was already the one in use
    downloaded: int = 0  # files fetched from the server (the others came from the set in use)


# ---------------------------------------------------------------- the manifest


def bundle_version(embedder: str, files: Iterable[Mapping[str, Any]]) -> str:
    """First 16 hex of SHA-256 over the format, the embedder id and the sorted (name, sha256) pairs."""
    digest = hashlib.sha256(f"visage-bundle/{BUNDLE_FORMAT}\n{embedder}\n".encode())
    for name, sha256 in sorted((str(f["name"]), str(f["sha256"])) for f in files):
        digest.update(f"{name} {sha256}\n".encode())
    return digest.hexdigest()[:16]


def encode_manifest(manifest: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a bundle manifest (sorted keys, no spaces): what is served and hashed."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def manifest_sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def runnable_embedders(names: Iterable[str]) -> list[str]:
    """Ids of the embedders whose every model is among `names` (registry model names)."""
    present = set(names)
    return sorted(embedder_id(name) for name in EMBEDDERS if set(model_files(name)) <= present)


def build_manifest(
    models_dir: Path, embedder: str, names: Iterable[str] | None = None, verify: bool = True
) -> dict[str, Any]:
    """The bundle manifest of `models_dir` (all its models, or `names`), galleries made by `embedder`.

    With `verify`, every file is hashed and must match its registry entry: a server never offers a
    file a device would refuse."""
    registry = read_manifest(models_dir).get("models", {})
    if not registry:
        raise BundleError(f"No models in {models_dir / MANIFEST_NAME}: run `visage models export` first.")
    wanted = sorted(registry) if names is None else sorted(set(names))
    missing = [name for name in wanted if name not in registry]
    if missing:
        raise BundleError(f"{models_dir / MANIFEST_NAME} has no model named {', '.join(missing)}.")
    try:
        embedder = embedder_id(embedder)
    except ValueError as exc:
        raise BundleError(str(exc)) from None
    needed = [name for name in model_files(embedder_name(embedder)) if name not in wanted]
    if needed:
        raise BundleError(
            f"The bundle's embedder {embedder} needs {', '.join(needed)}, which the bundle lacks: "
            "export it or include it."
        )
    files: dict[str, dict[str, Any]] = {}
    for name in wanted:
        entry = registry[name]
        file_name = str(entry.get("file", ""))
        if not FILE_NAME.match(file_name):
            raise BundleError(f"Model '{name}' names the file '{file_name}', which a bundle cannot carry.")
        path = models_dir / file_name
        if not path.is_file():
            raise BundleError(f"{path} is missing: run `visage models export`.")
        size = path.stat().st_size
        sha256 = str(entry.get("sha256", ""))
        if verify and sha256_file(path) != sha256:
            raise BundleError(
                f"{path} does not match its manifest entry: run `visage models export --force`."
            )
        files[file_name] = {"name": file_name, "sha256": sha256, "bytes": size}
    exporters = [int(registry[n]["exporter"]) for n in wanted if isinstance(registry[n].get("exporter"), int)]
    file_list = sorted(files.values(), key=lambda f: f["name"])
    return {
        "format": BUNDLE_FORMAT,
        "version": bundle_version(embedder, file_list),
        "embedder": embedder,
        "embedders": runnable_embedders(wanted),
        "exporter": max(exporters, default=0),
        "files": file_list,
        "models": {name: registry[name] for name in wanted},
    }


def _fail(message: str) -> BundleError:
    return BundleError(f"The bundle manifest is invalid: {message}.")


def parse_manifest(raw: bytes) -> dict[str, Any]:
    """Validate a bundle manifest's bytes; BundleError with one sentence when it is not one this
    software can install (newer format, missing fields, unsafe names, a version its files do not give)."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise _fail(f"{len(raw)} bytes is more than {MAX_MANIFEST_BYTES}")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise _fail("it is not JSON") from None
    if not isinstance(data, dict):
        raise _fail("it is not a JSON object")
    fmt = data.get("format")
    if type(fmt) is not int or fmt < 1:
        raise _fail("'format' must be a positive integer")
    if fmt > BUNDLE_FORMAT:
        raise BundleError(
            f"The bundle has format {fmt}, newer than this software reads ({BUNDLE_FORMAT}): "
            "update the device software first."
        )
    version, embedder = data.get("version"), data.get("embedder")
    if not isinstance(version, str) or not VERSION_HEX.match(version):
        raise _fail("'version' must be 16 hex digits")
    if not isinstance(embedder, str) or "@" not in embedder or len(embedder) > 80:
        raise _fail("'embedder' must be an embedder id such as sface@2021dec")
    files = data.get("files")
    if not isinstance(files, list) or not files:
        raise _fail("'files' must be a non-empty list")
    seen: dict[str, str] = {}
    for index, item in enumerate(files):
        if not isinstance(item, dict):
            raise _fail(f"file {index} is not an object")
        name, sha256, size = item.get("name"), item.get("sha256"), item.get("bytes")
        if not isinstance(name, str) or not FILE_NAME.match(name) or name in (BUNDLE_MANIFEST, MANIFEST_NAME):
            raise _fail(f"file {index} has the unsafe or reserved name {str(name)[:60]!r}")
        if name in seen:
            raise _fail(f"the file {name} is listed twice")
        if not isinstance(sha256, str) or not SHA256_HEX.match(sha256):
            raise _fail(f"the file {name} has no valid sha256")
        if type(size) is not int or not 0 <= size <= MAX_FILE_BYTES:
            raise _fail(f"the file {name} has no valid size")
        seen[name] = sha256
    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise _fail("'models' must be a non-empty object")
    for name, entry in models.items():
        if not isinstance(entry, dict) or seen.get(str(entry.get("file"))) != entry.get("sha256"):
            raise _fail(f"model '{str(name)[:40]}' does not name one of the bundle's files with its sha256")
    if bundle_version(embedder, files) != version:
        raise _fail(f"its version {version} is not the one its files and embedder give")
    return data


def runnable_embedder(manifest: Mapping[str, Any]) -> str:
    """The embedder name the bundle's galleries are made with, if this software runs that exact version."""
    wanted = str(manifest["embedder"])
    name = embedder_name(wanted)
    if name not in EMBEDDERS or embedder_id(name) != wanted:
        known = ", ".join(embedder_id(n) for n in EMBEDDERS)
        raise BundleError(
            f"The bundle's embedder {wanted} is not one this software runs ({known}): "
            "update the device software first."
        )
    missing = [m for m in model_files(name) if m not in manifest["models"]]
    if missing:
        raise BundleError(f"The bundle lacks the model(s) {', '.join(missing)} its embedder {wanted} needs.")
    return name


# ---------------------------------------------------------------- the device's models folder


def active_dir(models_dir: Path) -> Path:
    """The folder models are loaded from: `current`'s target when there is one, else `models_dir`."""
    current = models_dir / CURRENT
    return current.resolve() if current.is_dir() else models_dir


def has_models(models_dir: Path) -> bool:
    try:
        return bool(read_manifest(active_dir(models_dir)).get("models"))
    except (OSError, ValueError):
        return False


def installed_manifest(models_dir: Path) -> dict[str, Any] | None:
    """The bundle manifest of the set in use, or None (nothing installed, or not installed as a bundle)."""
    path = active_dir(models_dir) / BUNDLE_MANIFEST
    try:
        return parse_manifest(path.read_bytes())
    except (OSError, BundleError):
        return None


def installed_version(models_dir: Path) -> str | None:
    manifest = installed_manifest(models_dir)
    return None if manifest is None else str(manifest["version"])


def point_current(models_dir: Path, target: Path | None) -> None:
    """Make `current` point at `target` (a folder under versions/) in one rename; None removes it."""
    link = models_dir / CURRENT
    if target is None:
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        return
    temporary = models_dir / f".{CURRENT}-{os.getpid()}-{time.monotonic_ns()}"
    os.symlink(os.path.relpath(target, models_dir), temporary)
    os.replace(temporary, link)
    _fsync_dir(models_dir)


def current_target(models_dir: Path) -> Path | None:
    link = models_dir / CURRENT
    return link.resolve() if link.is_symlink() and link.resolve().is_dir() else None


@contextlib.contextmanager
def install_lock(models_dir: Path) -> Iterator[None]:
    """One installer at a time per models folder (the agent's updater and a `pull` command)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    with open(models_dir / ".lock", "a+b") as handle:
        try:
            import fcntl
        except ImportError:  # not POSIX: no cross-process lock
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Staging:
    """One bundle being assembled beside the installed sets; `commit()` swaps it in, `discard()` drops it.

    Use under `install_lock`: `with Staging(models_dir, raw) as staging: ...; staging.commit()`."""

    def __init__(self, models_dir: Path, raw_manifest: bytes):
        self.models_dir = models_dir
        self.raw = raw_manifest
        self.manifest = parse_manifest(raw_manifest)
        self.files = {f["name"]: f for f in self.manifest["files"]}
        self.received: set[str] = set()
        models_dir.mkdir(parents=True, exist_ok=True)
        for stale in models_dir.glob(".staging-*"):  # left by a process that died mid-install
            shutil.rmtree(stale, ignore_errors=True)
        self.path = Path(tempfile.mkdtemp(prefix=".staging-", dir=models_dir))

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def missing(self) -> list[dict[str, Any]]:
        return [f for name, f in self.files.items() if name not in self.received]

    def reuse(self, folder: Path) -> int:
        """Take the files `folder` already holds with the right size and sha256; returns how many. Saves
        downloading a 40 MB model that did not change. Files of an installed version are hard-linked
        (nothing ever writes into them); any other folder's (e.g. the exporter's) are copied."""
        owned = folder.resolve().parent == (self.models_dir / VERSIONS).resolve()
        taken = 0
        for entry in self.missing:
            source, target = folder / entry["name"], self.path / entry["name"]
            try:
                if not source.is_file() or source.stat().st_size != entry["bytes"]:
                    continue
                if owned:
                    os.link(source, target)
                else:
                    shutil.copyfile(source, target)
                if sha256_file(target) != entry["sha256"]:  # checked on what was taken, not before
                    target.unlink()
                    continue
            except OSError:
                target.unlink(missing_ok=True)
                continue
            self.received.add(entry["name"])
            taken += 1
        return taken

    def receive(self, name: str, chunks: Iterable[bytes]) -> None:
        """Write one file from `chunks`, checking its size and sha256 as it arrives."""
        entry = self.files.get(name)
        if entry is None:
            raise BundleError(f"The bundle holds a file '{name[:60]}' its manifest does not list.")
        digest = hashlib.sha256()
        size = 0
        with open(self.path / name, "wb") as handle:
            for chunk in chunks:
                size += len(chunk)
                if size > entry["bytes"]:
                    raise BundleError(f"{name} is longer than the {entry['bytes']} bytes its manifest says.")
                digest.update(chunk)
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if size < entry["bytes"]:
            raise BundleError(f"{name} is truncated: {size} of {entry['bytes']} bytes arrived.")
        if digest.hexdigest() != entry["sha256"]:
            raise BundleError(
                f"{name} does not match the bundle manifest (sha256 {digest.hexdigest()[:12]}..., "
                f"expected {entry['sha256'][:12]}...)."
            )
        self.received.add(name)

    def commit(self) -> Path:
        """Write the manifests, move the verified folder into versions/ and point `current` at it."""
        if self.missing:
            names = ", ".join(f["name"] for f in self.missing)
            raise BundleError(f"The bundle is incomplete: {names} did not arrive.")
        registry = {"format": 1, "models": self.manifest["models"]}
        for name, data in (
            (MANIFEST_NAME, (json.dumps(registry, indent=2, sort_keys=True) + "\n").encode()),
            (BUNDLE_MANIFEST, self.raw),
        ):
            with open(self.path / name, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(self.path, 0o755)
        _fsync_dir(self.path)
        versions = self.models_dir / VERSIONS
        versions.mkdir(exist_ok=True)
        target = (versions / self.version).absolute()
        if current_target(self.models_dir) == target.resolve():
            self.discard()  # already the set in use: never pull the folder from under a running agent
            return target
        trash = None
        if target.exists():  # an older install of this version (going back to it): replace it whole
            trash = self.models_dir / f".trash-{self.version}-{time.monotonic_ns()}"
            os.replace(target, trash)
        os.replace(self.path, target)
        _fsync_dir(versions)
        point_current(self.models_dir, target)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        prune(self.models_dir)
        return target

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def prune(models_dir: Path, keep: int = KEEP_VERSIONS) -> None:
    """Delete all but the newest `keep` versions; the one `current` points at always stays."""
    versions = models_dir / VERSIONS
    if not versions.is_dir():
        return
    current = current_target(models_dir)
    folders = sorted(
        (p.resolve() for p in versions.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True
    )
    kept = {current} if current is not None else set()
    for folder in folders:
        if folder in kept:
            continue
        if len(kept) < keep:
            kept.add(folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- archives (offline installs)


def write_archive(models_dir: Path, out: Path, manifest: Mapping[str, Any]) -> None:
    """`bundle.json` then every file, as one uncompressed tar (ONNX weights barely compress).

    Written to a temporary name and renamed: an interrupted pack never leaves a half archive."""
    raw = encode_manifest(manifest)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.name + ".part")
    try:
        with tarfile.open(temporary, "w", format=tarfile.PAX_FORMAT) as archive:
            info = tarfile.TarInfo(BUNDLE_MANIFEST)
            info.size, info.mtime, info.mode = len(raw), int(time.time()), 0o644
            archive.addfile(info, _BytesReader(raw))
            for entry in manifest["files"]:
                path = models_dir / entry["name"]
                if path.stat().st_size != entry["bytes"]:
                    raise BundleError(f"{path} changed while the bundle was being packed: pack again.")
                info = archive.gettarinfo(str(path), arcname=entry["name"])
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(path, "rb") as handle:
                    archive.addfile(info, handle)
        os.replace(temporary, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


class _BytesReader:
    def __init__(self, data: bytes):
        self.data, self.offset = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.offset + size
        chunk, self.offset = self.data[self.offset : end], min(end, len(self.data))
        return chunk


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk


def install_archive(archive_path: Path, models_dir: Path) -> Installed:
    """Verify and install a `visage models pack` archive. The previous set stays in use unless every
    file arrived complete with the right sha256."""
    if not archive_path.is_file():
        raise BundleError(f"{archive_path} does not exist.")
    with install_lock(models_dir):
        try:
            with tarfile.open(archive_path, "r:*") as archive:
                first = archive.next()
                if first is None or first.name != BUNDLE_MANIFEST or not first.isfile():
                    raise BundleError(
                        f"{archive_path} is not a model bundle (it does not start with bundle.json)."
                    )
                reader = archive.extractfile(first)
                assert reader is not None
                raw = reader.read(MAX_MANIFEST_BYTES + 1)
                with Staging(models_dir, raw) as staging:
                    runnable_embedder(staging.manifest)
                    if staging.version == installed_version(models_dir):
                        return Installed(staging.manifest, changed=False)
                    for member in archive:
                        if member.offset == first.offset:
                            continue  # bundle.json, read above
                        if not member.isfile() or member.name not in staging.files:
                            raise BundleError(
                                f"{archive_path} holds '{member.name[:60]}', not listed in its manifest."
                            )
                        handle = archive.extractfile(member)
                        assert handle is not None
                        staging.receive(member.name, _chunks(handle))
                    staging.commit()
                    return Installed(staging.manifest, changed=True)
        except (tarfile.TarError, EOFError) as exc:
            raise BundleError(f"{archive_path} is not a complete bundle archive ({exc}).") from None
        except OSError as exc:
            raise BundleError(f"Cannot install into {models_dir}: {exc.strerror or exc}.") from None
