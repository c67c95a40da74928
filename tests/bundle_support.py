"""Model bundle test helpers that need nothing of the server (the device profile imports them).

`fake_models(folder)`: a models folder as the exporter writes it (files + manifest.json), with small
random files in place of the ONNX weights: bundle building, packing, transfer and installation only
see bytes and hashes. `real_models(folder, ...)`: the repository's exported models, hard-linked (the
agent loads them). `BundleServer`: a stdlib HTTP(S) server answering the device endpoints the way the
real server does (Bearer token, JSON errors, streamed files), with switches for the faults a device
must survive: a file whose bytes do not match the manifest, a connection that breaks off, a manifest
of a newer format. The real server's own endpoints are tested in tests/server/.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from shared.bundle import active_dir, build_manifest, encode_manifest
from shared.model_registry import default_models_dir, read_manifest, sha256_file, write_manifest

FAKE_MODELS = ("mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet", "sface", "dlib_resnet")
TOKEN = "vsd_" + "t" * 43


def fake_models(folder: Path, seed: int = 0, sizes: dict[str, int] | None = None) -> Path:
    """Write random 'model' files and their manifest entries (as `visage models export` would)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    models: dict[str, Any] = {}
    for index, name in enumerate(FAKE_MODELS):
        size = (sizes or {}).get(name, 3000 + 997 * index)
        path = folder / f"{name}.onnx"
        path.write_bytes(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        models[name] = {"file": path.name, "sha256": sha256_file(path), "bytes": size, "exporter": 1}
    write_manifest(folder, {"format": 1, "models": models})
    return folder


def rewrite_model(folder: Path, name: str, content: bytes) -> None:
    """Replace one model file and update its manifest entry (a re-export of that model). A new file
    renamed into place, as the exporter does: never a write into a file another folder may share."""
    manifest = read_manifest(folder)
    entry = manifest["models"][name]
    temporary = folder / (entry["file"] + ".tmp")
    temporary.write_bytes(content)
    os.replace(temporary, folder / entry["file"])
    entry.update(sha256=sha256_file(folder / entry["file"]), bytes=len(content))
    write_manifest(folder, manifest)


def real_models(folder: Path, names: Iterable[str] | None = None) -> Path:
    """Copies of the repository's exported models with their manifest entries (copies, not links: a
    test that changes a file must never reach the models everyone else uses)."""
    source = default_models_dir()
    registry = read_manifest(source)["models"]
    wanted = list(names) if names is not None else list(registry)
    folder.mkdir(parents=True, exist_ok=True)
    for name in wanted:
        entry = registry[name]
        shutil.copyfile(source / entry["file"], folder / entry["file"])
    write_manifest(folder, {"format": 1, "models": {n: registry[n] for n in wanted}})
    return folder


@dataclass
class Faults:
    """What the server gets wrong on purpose."""

    tamper: set[str] = field(default_factory=set)  # files served with one byte flipped
    truncate: set[str] = field(default_factory=set)  # files whose connection breaks off halfway
    manifest_override: bytes | None = None  # served instead of the real manifest (e.g. a newer format)


class BundleServer:
    """Serves `models_dir` as a bundle on 127.0.0.1 (HTTPS when given a certificate)."""

    def __init__(self, models_dir: Path, embedder: str = "sface", certfile: Path | None = None, keyfile=None):
        self.models_dir = models_dir
        self.embedder = embedder
        self.faults = Faults()
        self.requests: list[str] = []
        self.refresh()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                server.requests.append(self.path)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._json(401, {"error": "unknown or replaced device token"})
                if self.path == "/api/v1/device/models/manifest":
                    body = server.faults.manifest_override or server.raw
                    return self._send(200, body, "application/json")
                prefix = "/api/v1/device/models/files/"
                name = self.path[len(prefix) :] if self.path.startswith(prefix) else ""
                if name not in server.files:
                    return self._json(404, {"error": f"no file '{name}'"})
                data = (server.models_dir / name).read_bytes()
                if name in server.faults.tamper:
                    data = data[:-1] + bytes([data[-1] ^ 0xFF])
                if name in server.faults.truncate:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return None
                return self._send(200, data, "application/octet-stream")

            def _json(self, status: int, body: dict[str, Any]) -> None:
                self._send(status, json.dumps(body).encode(), "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if certfile is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(certfile, keyfile)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def refresh(self) -> None:
        """Build the manifest again (after the models folder changed)."""
        self.manifest = build_manifest(self.models_dir, self.embedder)
        self.raw = encode_manifest(self.manifest)
        self.files = {f["name"] for f in self.manifest["files"]}

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def file_requests(self) -> list[str]:
        return [p.rsplit("/", 1)[-1] for p in self.requests if "/files/" in p]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """`visage ARGV` in this process: (exit code, stdout, stderr)."""
    from visage.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(models_dir: Path) -> dict[str, str]:
    """Every file of the set in use and its sha256 (what 'untouched' means), plus where `current` points."""
    folder = active_dir(models_dir)
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file()}
    return {"current": str(folder), **files}
