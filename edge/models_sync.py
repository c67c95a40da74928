"""The device fetches its model bundle from the server: first start, `visage edge models pull`, and
background updates when the server announces a new bundle over MQTT.

HTTP with the standard library only (urllib; a Jetson carries no `requests`), authenticated with the
device's own token (`Authorization: Bearer vsd_...`, from `visage server device-token`), TLS verified
against the system CAs or `[server] ca_certs`. Every file is checked against the bundle manifest as it
arrives and the set is swapped in only when complete (shared.bundle.Staging), so an unreachable
server, a wrong sha256, a truncated download or a bundle format newer than this software leave the
models in use untouched; each is one sentence (`BundleError`).
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from shared.bundle import (
    CHUNK,
    MAX_MANIFEST_BYTES,
    BundleError,
    Installed,
    Staging,
    active_dir,
    current_target,
    has_models,
    install_lock,
    installed_manifest,
    installed_version,
    manifest_sha256,
    point_current,
    runnable_embedder,
)
from shared.messages import ModelsAnnouncement

log = logging.getLogger(__name__)

MANIFEST_PATH = "/api/v1/device/models/manifest"
FILES_PATH = "/api/v1/device/models/files/"
USER_AGENT = "visage-edge/1"


class AnnouncementSuperseded(BundleError):
    """The server serves another bundle than the announcement named: its own announcement follows."""


@dataclass
class ServerSettings:
    """The `[server]` table of the edge config: where the model bundle comes from."""

    url: str | None = None  # e.g. "https://visage.school.example"; unset: no downloads
    token: str | None = None  # this device's token (vsd_...), printed once by `visage server device-token`
    ca_certs: str | None = None  # the CA that signed the server's certificate (default: the system's)
    timeout_s: float = 30.0  # per connection and per read

    @property
    def configured(self) -> bool:
        return bool(self.url)

    def check(self) -> str | None:
        """Why the settings cannot work, or None."""
        if self.url is None:
            return None
        if not isinstance(self.url, str) or not self.url.startswith(("http://", "https://")):
            return "[server] url must start with https:// (or http:// on a trusted network)."
        if self.token is not None and (not isinstance(self.token, str) or not self.token.startswith("vsd_")):
            return "[server] token must be a device token (vsd_...) from `visage server device-token`."
        if isinstance(self.timeout_s, bool) or not isinstance(self.timeout_s, (int, float)):
            return "[server] timeout_s must be a number of seconds."
        if not 0 < self.timeout_s <= 600:
            return "[server] timeout_s must be more than 0 and at most 600 seconds."
        if self.ca_certs is not None and not Path(self.ca_certs).is_file():
            return f"[server] ca_certs: {self.ca_certs} does not exist."
        return None


class BundleClient:
    """GETs the manifest and the files of the server's current bundle."""

    def __init__(self, settings: ServerSettings):
        if not settings.configured:
            raise BundleError("No [server] url is configured, so there is nowhere to fetch models from.")
        self.settings = settings
        self.base = str(settings.url).rstrip("/")
        self.context = None
        if self.base.startswith("https://"):
            try:
                self.context = ssl.create_default_context(cafile=settings.ca_certs)
            except (OSError, ssl.SSLError) as exc:
                raise BundleError(f"[server] ca_certs {settings.ca_certs} cannot be used: {exc}.") from None

    def _open(self, path: str) -> http.client.HTTPResponse:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json, application/octet-stream"}
        if self.settings.token:
            headers["Authorization"] = f"Bearer {self.settings.token}"
        request = urllib.request.Request(self.base + path, headers=headers)
        try:
            return urllib.request.urlopen(request, timeout=self.settings.timeout_s, context=self.context)
        except urllib.error.HTTPError as exc:
            raise BundleError(f"The model server refused {path} ({exc.code}): {_error_text(exc)}") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ssl.SSLCertVerificationError):
                raise BundleError(
                    f"TLS: the certificate of the model server at {self.base} is not trusted "
                    f"({reason.verify_message}); check [server] ca_certs."
                ) from None
            raise BundleError(f"Cannot reach the model server at {self.base}: {reason}.") from None
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            raise BundleError(f"Cannot reach the model server at {self.base}: {exc}.") from None

    def manifest(self) -> bytes:
        with self._open(MANIFEST_PATH) as response:
            try:
                raw = response.read(MAX_MANIFEST_BYTES + 1)
            except (OSError, http.client.HTTPException) as exc:
                raise BundleError(
                    f"The bundle manifest download from {self.base} broke off: {exc}."
                ) from None
        return raw

    def chunks(self, name: str) -> Iterator[bytes]:
        """The file's bytes as they arrive; a connection that breaks off is a BundleError."""
        with self._open(FILES_PATH + name) as response:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except http.client.IncompleteRead as exc:
                    if exc.partial:
                        yield exc.partial
                    raise BundleError(f"The download of {name} broke off (truncated).") from None
                except (OSError, http.client.HTTPException) as exc:
                    raise BundleError(f"The download of {name} broke off: {exc}.") from None
                if not chunk:
                    return
                yield chunk


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read(4096) or b"{}")
        message = body.get("error") if isinstance(body, dict) else None
    except (OSError, ValueError):
        message = None
    return str(message or exc.reason).rstrip(".") + "."


def pull(settings: ServerSettings, models_dir: Path, expected_sha256: str | None = None) -> Installed:
    """Install the server's current bundle into `models_dir` unless it is the one in use.

    `expected_sha256`: the manifest digest an announcement promised; a server now serving another
    bundle is refused (its own announcement follows)."""
    client = BundleClient(settings)
    raw = client.manifest()
    if expected_sha256 is not None and manifest_sha256(raw) != expected_sha256:
        raise AnnouncementSuperseded(
            "The server's bundle manifest is not the announced one (it changed since): waiting for its "
            "next announcement."
        )
    with install_lock(models_dir), Staging(models_dir, raw) as staging:
        runnable_embedder(staging.manifest)
        if installed_version(models_dir) == staging.version:
            return Installed(staging.manifest, changed=False)
        staging.reuse(active_dir(models_dir))
        downloaded = 0
        for entry in staging.missing:
            staging.receive(entry["name"], client.chunks(entry["name"]))
            downloaded += 1
        staging.commit()
        return Installed(staging.manifest, changed=True, downloaded=downloaded)


def bundle_embedder(models_dir: Path, default: str) -> str:
    """The embedder to run: the installed bundle's (its galleries are made with it) when this software
    runs that version, else `default` (the config's)."""
    manifest = installed_manifest(models_dir)
    if manifest is None:
        return default
    try:
        return runnable_embedder(manifest)
    except BundleError as exc:
        log.warning("%s Using the configured embedder %s.", exc, default)
        return default


T = TypeVar("T")


@dataclass(frozen=True)
class ReadyModels(Generic[T]):
    """A verified, installed and loaded model set, waiting for the agent's next frame boundary."""

    directory: Path
    embedder: str  # embedder name
    version: str
    loaded: T  # what `prepare` built on it (the agent: a FaceAnalyzer with its sessions open)


class ModelUpdater(Generic[T]):
    """Keeps the device's model set in step with the server.

    `ensure()` at start: with no models and a server configured, pull them (a BundleError if that
    fails: the agent cannot run). With models, a background check follows. `offer(announcement)` (the
    MQTT thread) starts a background update when the announced bundle is not the one in use. An
    update downloads and verifies into staging, swaps `current`, then calls `prepare(folder, embedder)`
    (loading the sessions off the agent's loop); if that fails, `current` goes back to the previous
    set. The agent collects the result with `take()` at a frame boundary. Failures are logged and kept
    in `last_error` (sent in telemetry); the models in use keep running, and the update is tried again
    after `retry_s`, doubling up to `retry_max_s` (a server that was down comes back by itself)."""

    def __init__(
        self,
        models_dir: Path,
        server: ServerSettings,
        prepare: Callable[[Path, str], T],
        default_embedder: str,
        retry_s: float = 60.0,
        retry_max_s: float = 900.0,
    ):
        self.models_dir = models_dir
        self.server = server
        self.prepare = prepare
        self.default_embedder = default_embedder
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._busy = False
        self._queued: ModelsAnnouncement | None = None
        self._ready: ReadyModels[T] | None = None
        self._warned_unconfigured = False
        self.threads: list[threading.Thread] = []
        self.retry_s, self.retry_max_s = retry_s, retry_max_s
        self._delay = retry_s
        self._timer: threading.Timer | None = None
        self._closed = threading.Event()

    @property
    def directory(self) -> Path:
        return active_dir(self.models_dir)

    @property
    def version(self) -> str | None:
        return installed_version(self.models_dir)

    @property
    def updating(self) -> bool:
        """An update is being fetched, verified or loaded."""
        with self._lock:
            return self._busy

    def embedder(self) -> str:
        return bundle_embedder(self.models_dir, self.default_embedder)

    def ensure(self) -> None:
        """First start: fetch the bundle when there are no models; else check for a newer one in the
        background (a server that cannot be reached then only costs a log line)."""
        if has_models(self.models_dir):
            if self.server.configured:
                self._start(None)
            return
        if not self.server.configured:
            return  # the analyzer says which model is missing, as before
        try:
            result = pull(self.server, self.models_dir)
        except BundleError as exc:
            raise BundleError(f"No models in {self.models_dir} and none could be fetched: {exc}") from None
        log.info("installed model bundle %s into %s", result.manifest["version"], self.models_dir)

    def offer(self, announcement: ModelsAnnouncement) -> None:
        """An announcement arrived (MQTT thread): update in the background unless it is the set in use."""
        if announcement.bundle_version == self.version:
            return
        if not self.server.configured:
            if not self._warned_unconfigured:
                log.warning(
                    "the server announces model bundle %s, but no [server] url is configured to fetch it; "
                    "install it with `visage edge models pull --from FILE.tar`",
                    announcement.bundle_version,
                )
                self._warned_unconfigured = True
            return
        self._start(announcement)

    def take(self) -> ReadyModels[T] | None:
        """The newly loaded set, once (the agent calls this at each frame boundary)."""
        with self._lock:
            ready, self._ready = self._ready, None
        return ready

    def wait(self, timeout_s: float) -> None:
        """Wait for the background updates started so far (tests, shutdown)."""
        for thread in list(self.threads):
            thread.join(timeout_s)

    def close(self) -> None:
        """No more updates or retries (the agent stops)."""
        self._closed.set()
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _start(self, announcement: ModelsAnnouncement | None) -> None:
        if self._closed.is_set():
            return
        with self._lock:
            if self._timer is not None:  # this attempt replaces a pending retry
                self._timer.cancel()
                self._timer = None
            if self._busy:
                self._queued = announcement or self._queued
                return
            self._busy = True
        thread = threading.Thread(target=self._run, args=(announcement,), name="models-update", daemon=True)
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()

    def _run(self, announcement: ModelsAnnouncement | None) -> None:
        while True:
            try:
                self._update(announcement)
            except Exception as exc:  # a bug must not kill the thread silently
                log.exception("model update failed")
                self.last_error = f"model update failed: {exc}"
            with self._lock:
                announcement, self._queued = self._queued, None
                if announcement is None:
                    self._busy = False
                    return

    def _update(self, announcement: ModelsAnnouncement | None) -> None:
        previous = current_target(self.models_dir)
        try:
            result = pull(
                self.server, self.models_dir, announcement.manifest_sha256 if announcement else None
            )
        except AnnouncementSuperseded as exc:
            log.info("%s", exc)  # not a failure: the newer bundle's announcement is on its way
            return
        except BundleError as exc:
            self._failed(str(exc), announcement)
            return
        self._succeeded()
        if not result.changed:
            self.last_error = None
            return
        version = str(result.manifest["version"])
        directory = self.directory
        try:
            embedder = runnable_embedder(result.manifest)
            loaded = self.prepare(directory, embedder)
        except Exception as exc:
            with install_lock(self.models_dir):
                point_current(self.models_dir, previous)
            self._failed(
                f"bundle {version} installed but could not be loaded ({exc}); went back to the previous set",
                announcement,
            )
            return
        with self._lock:
            self._ready = ReadyModels(directory, embedder, version, loaded)
        self.last_error = None
        log.info(
            "model bundle %s ready (%d files downloaded, embedder %s)", version, result.downloaded, embedder
        )

    def _succeeded(self) -> None:
        """The server answered with a bundle that verified: no retry is due any more."""
        self._delay = self.retry_s
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _failed(self, reason: str, announcement: ModelsAnnouncement | None) -> None:
        self.last_error = reason
        current = self.version or "the exporter's models"
        log.error(
            "model update failed: %s Still running on %s; trying again in %.0f s.",
            reason,
            current,
            self._delay,
        )
        if self._closed.is_set():
            return
        timer = threading.Timer(self._delay, self._start, args=(announcement,))
        timer.daemon = True
        self._delay = min(self._delay * 2, self.retry_max_s)
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = timer
        timer.start()
