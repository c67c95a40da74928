"""Where uploaded files live: one small interface, a local folder by default, S3-compatible object
storage when configured.

    store = storage()                       # the current app's storage (created on first use)
    store.put("album/7/ab12....jpg", data, "image/jpeg")
    store.get(key) -> bytes                 # StorageMissing when absent
    store.delete(key)                       # absent is fine (deletes are retried after failures)
    store.delete_prefix("album/7/")         # everything under a folder-like prefix (a user's files)

Settings (`VISAGE_<KEY>` in the environment; typed in server/settings/storage.py):
    STORAGE_BACKEND      "local" (default) or "s3"
    STORAGE_PATH         local folder; default <instance>/storage
    S3_BUCKET, S3_PREFIX, S3_ENDPOINT_URL (MinIO, Ceph, a cloud's S3 endpoint), S3_REGION,
    S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY (else boto3's usual credential chain)

Keys are chosen by the server, never by a client (`album/<owner>/<sha256>.<ext>`), and are checked
anyway: plain ASCII path segments, no `..`, no leading `/`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

from flask import Flask, current_app

from server.extensions import build_once
from server.settings import settings_of

EXTENSION_KEY = "visage.storage"
_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")


class StorageError(RuntimeError):
    """The storage backend failed (disk full, bucket unreachable): an operator's problem."""


class StorageMissing(StorageError):
    """No object under this key."""


class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def delete_prefix(self, prefix: str) -> int: ...


def check_key(key: str) -> str:
    if not _KEY.match(key) or len(key) > 255:
        raise ValueError(f"invalid storage key {key!r}")
    return key


def storage(app: Flask | None = None) -> Storage:
    """The app's storage, built from its settings on first use."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return build_once(app, EXTENSION_KEY, lambda: build(app))


def build(app: Flask) -> Storage:
    settings = settings_of(app).storage
    if settings.storage_backend == "local":
        from server.storage.local import LocalStorage

        return LocalStorage(Path(settings.storage_path or Path(app.instance_path) / "storage"))
    from server.storage.s3 import S3Storage

    if not settings.s3_bucket:
        raise StorageError("STORAGE_BACKEND is s3 but S3_BUCKET is not set")
    return S3Storage.connect(
        settings.s3_bucket,
        prefix=settings.s3_prefix,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key=settings.s3_access_key_id,
        secret_key=settings.s3_secret_access_key,
    )


__all__ = ["Storage", "StorageError", "StorageMissing", "check_key", "storage"]
