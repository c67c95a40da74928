"""Storage behind one interface: the local folder (default) and S3-compatible object storage, the
latter against a real S3 HTTP endpoint (moto's standalone `moto_server`, started on a free port),
directly and through the album API (upload, download the unchanged original, delete)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from server.settings import update_settings
from server.storage import StorageMissing, check_key
from server.storage.local import LocalStorage
from tests.server.test_server_album_support import album_users, bearer, lfw, upload


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    """A real S3-compatible HTTP server for this module (moto_server), or skip/fail with a message."""
    binary = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    try:
        import boto3  # noqa: F401
    except ImportError:
        binary = None
    if binary is None:
        message = "boto3 and moto_server are needed for the S3 storage tests: pip install -e '.[s3,dev]'"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    process = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("moto_server did not start within 30 s")
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def s3_settings(endpoint: str, bucket: str) -> dict[str, str]:
    return {
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET": bucket,
        "S3_PREFIX": "visage",
        "S3_ENDPOINT_URL": endpoint,
        "S3_REGION": "us-east-1",
        "S3_ACCESS_KEY_ID": "test",
        "S3_SECRET_ACCESS_KEY": "test",
    }


def make_bucket(endpoint: str, bucket: str):
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket=bucket)
    return client


def bucket_keys(client, bucket: str) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_local_storage_round_trip_and_refuses_unsafe_keys(tmp_path):
    store = LocalStorage(tmp_path / "files")
    store.put("album/1/photos/a.jpg", b"jpeg bytes", "image/jpeg")
    store.put("album/1/faces/2.jpg", b"crop", "image/jpeg")
    assert store.get("album/1/photos/a.jpg") == b"jpeg bytes" and store.exists("album/1/faces/2.jpg")
    assert not any(p.name.startswith(".tmp-") for p in (tmp_path / "files").rglob("*"))
    store.delete("album/1/photos/a.jpg")
    store.delete("album/1/photos/a.jpg")  # absent: fine
    with pytest.raises(StorageMissing):
        store.get("album/1/photos/a.jpg")
    assert store.delete_prefix("album/1/") == 1 and not (tmp_path / "files" / "album" / "1").exists()
    for bad in ("../etc/passwd", "/abs/path", "album/../../x", "a//b", "album/.hidden", ""):
        with pytest.raises(ValueError):
            check_key(bad)
        with pytest.raises(ValueError):
            store.put(bad, b"x")


def test_s3_storage_against_a_real_s3_endpoint(s3_endpoint):
    from server.storage.s3 import S3Storage

    client = make_bucket(s3_endpoint, "direct")
    store = S3Storage.connect(
        "direct",
        prefix="visage",
        endpoint_url=s3_endpoint,
        region="us-east-1",
        access_key="test",
        secret_key="test",
    )
    store.put("album/7/photos/x.jpg", b"\xff\xd8original", "image/jpeg")
    store.put("album/7/faces/1.jpg", b"crop", "image/jpeg")
    store.put("album/8/photos/y.jpg", b"other user", "image/jpeg")
    assert bucket_keys(client, "direct") == [
        "visage/album/7/faces/1.jpg",
        "visage/album/7/photos/x.jpg",
        "visage/album/8/photos/y.jpg",
    ]
    assert store.get("album/7/photos/x.jpg") == b"\xff\xd8original"
    head = client.head_object(Bucket="direct", Key="visage/album/7/photos/x.jpg")
    assert head["ContentType"] == "image/jpeg"
    assert store.exists("album/7/faces/1.jpg") and not store.exists("album/7/faces/2.jpg")
    with pytest.raises(StorageMissing):
        store.get("album/7/faces/2.jpg")
    assert store.delete_prefix("album/7/") == 2
    assert bucket_keys(client, "direct") == ["visage/album/8/photos/y.jpg"]
    store.delete("album/8/photos/y.jpg")
    assert bucket_keys(client, "direct") == []


def test_the_album_keeps_originals_unchanged_in_s3_and_deletes_them(
    app, client, make_user, make_token, s3_endpoint
):
    bucket = f"album-{os.getpid()}-{time.monotonic_ns()}"
    s3 = make_bucket(s3_endpoint, bucket)
    update_settings(app, **s3_settings(s3_endpoint, bucket))
    users = album_users(make_user, make_token)
    name, data = lfw("Tony_Blair", 1)
    stored = upload(client, users.alice_token, (name, data), index="0")
    assert stored.status_code == 201, stored.get_json()
    photo_id = stored.get_json()["files"][0]["photo_id"]
    keys = bucket_keys(s3, bucket)
    assert len(keys) == 2 and all(key.startswith(f"visage/album/{users.alice.id}/") for key in keys)
    original = client.get(f"/api/v1/album/photos/{photo_id}/original", headers=bearer(users.alice_token))
    assert original.status_code == 200 and original.data == data and original.mimetype == "image/jpeg"
    thumbnail = client.get(f"/api/v1/album/photos/{photo_id}/thumbnail", headers=bearer(users.alice_token))
    assert thumbnail.status_code == 200 and thumbnail.data[:2] == b"\xff\xd8"
    assert (
        client.delete(f"/api/v1/album/photos/{photo_id}", headers=bearer(users.alice_token)).status_code
        == 200
    )
    assert bucket_keys(s3, bucket) == []
