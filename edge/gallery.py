"""The device's current gallery: verified before use, kept on disk so recognition works offline.

The digest a Gallery carries is `shared.messages.gallery_digest` (defined with the contract, so the
server's publisher and the device compute it with the same code): it covers exactly the decoded
numbers the device matches against, so a corrupted or truncated vector is caught.

A gallery whose digest does not match, or for another device or embedding model, is refused and
the current one kept (the reason is logged and kept in `rejected`). An accepted gallery is written
atomically (temporary file, fsync, rename), so a power cut leaves either the old or the new file.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from shared.messages import Gallery, MessageError, gallery_digest

log = logging.getLogger(__name__)


class GalleryStore:
    """Thread-safe holder: the MQTT thread `offer()`s galleries, the agent loop reads `current`."""

    def __init__(self, path: str | Path, device_id: str, model: str | None = None):
        self.path = Path(path)
        self.device_id = device_id
        self.model = model
        self.rejected: list[str] = []
        self._lock = threading.Lock()
        self._current: Gallery | None = None
        self._load()

    @property
    def current(self) -> Gallery | None:
        with self._lock:
            return self._current

    def version(self) -> int | None:
        gallery = self.current
        return None if gallery is None else gallery.version

    def set_model(self, model: str) -> None:
        """The device now embeds with `model` (a model bundle swap): a gallery of another embedder is
        dropped at once, never matched against vectors it cannot be compared with."""
        with self._lock:
            self.model = model
            current = self._current
            if current is not None and current.model != model:
                self._current = None
                reason = f"gallery is for model {current.model}, the device now embeds with {model}"
                self.rejected.append(reason)
                log.warning("dropping gallery version %d: %s", current.version, reason)

    def check(self, gallery: Gallery) -> str | None:
        """Why the gallery must be refused, or None when it is usable."""
        if gallery.device_id != self.device_id:
            return f"gallery is for device {gallery.device_id}, not {self.device_id}"
        if self.model is not None and gallery.model != self.model:
            return f"gallery is for model {gallery.model}, the device embeds with {self.model}"
        actual = gallery_digest(gallery)
        if actual != gallery.sha256:
            return f"gallery v{gallery.version} sha256 mismatch ({gallery.sha256[:12]} != {actual[:12]})"
        return None

    def offer(self, gallery: Gallery) -> bool:
        """Verify, persist and switch to `gallery`; False (old gallery kept) when it is refused."""
        reason = self.check(gallery)
        if reason is not None:
            log.warning("refusing gallery: %s; keeping version %s", reason, self.version())
            self.rejected.append(reason)
            return False
        current = self.current
        if current is not None and current.sha256 == gallery.sha256 and current.version == gallery.version:
            return True  # the retained message again after a reconnect
        self._write(gallery.encode())
        with self._lock:
            self._current = gallery
        log.info("gallery version %d with %d students in use", gallery.version, len(gallery.students))
        return True

    def _write(self, payload: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with open(temporary, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        try:  # make the rename itself durable
            directory = os.open(self.path.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _load(self) -> None:
        if not self.path.is_file():
            return
        try:
            gallery = Gallery.decode(self.path.read_bytes(), expected_device=self.device_id)
        except (OSError, MessageError) as exc:
            log.warning("ignoring the stored gallery %s: %s", self.path, exc)
            self.rejected.append(f"stored gallery unreadable: {exc}")
            return
        reason = self.check(gallery)
        if reason is not None:
            log.warning("ignoring the stored gallery %s: %s", self.path, reason)
            self.rejected.append(reason)
            return
        self._current = gallery
