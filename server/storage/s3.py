"""Objects in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW...) through boto3.

boto3 is imported only when this backend is configured (`pip install -e '.[s3]'`). A boto3 client is
thread-safe, so one is shared by all requests and job threads."""

from __future__ import annotations

from typing import Any

from server.storage import StorageError, StorageMissing, check_key


class S3Storage:
    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    @classmethod
    def connect(
        cls,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> S3Storage:
        try:
            import boto3
        except ImportError as exc:
            raise StorageError("STORAGE_BACKEND is s3 but boto3 is not installed: pip install boto3") from exc
        client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
        )
        return cls(client, bucket, prefix)

    def name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self.name(key), Body=data, ContentType=content_type
            )
        except Exception as exc:  # botocore raises many types; all mean "not stored"
            raise StorageError(f"could not store {key} in bucket {self.bucket}: {exc}") from exc

    def get(self, key: str) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.name(key))
            return answer["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise StorageMissing(f"no stored object {key}") from None
        except Exception as exc:
            raise StorageError(f"could not read {key} from bucket {self.bucket}: {exc}") from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.name(key))
        except Exception as exc:
            raise StorageError(f"could not delete {key} from bucket {self.bucket}: {exc}") from exc

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.name(key))
            return True
        except Exception as exc:
            status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                return False
            raise StorageError(f"could not check {key} in bucket {self.bucket}: {exc}") from exc

    def delete_prefix(self, prefix: str) -> int:
        name = self.name(prefix.rstrip("/")) + "/"
        count = 0
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=name)
            for page in pages:
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                    count += len(keys)
        except Exception as exc:
            raise StorageError(f"could not delete {prefix} from bucket {self.bucket}: {exc}") from exc
        return count
