"""Where uploads, thumbnails and face crops are kept: a local folder or S3-compatible object storage
(server/storage/). Keys and environment variables as in docs/deployment.md "Storage"."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from server.settings.base import AreaSettings, keyed


class StorageSettings(AreaSettings):
    AREA: ClassVar[str] = "storage"
    model_config = keyed("")

    storage_backend: Literal["local", "s3"] = Field("local", description="`local` (a folder) or `s3`.")
    storage_path: str | None = Field(
        None, description="The local folder; empty: `storage/` in the instance folder."
    )
    s3_bucket: str | None = Field(None, description="The bucket (required with `s3`).")
    s3_prefix: str = Field("", description="Prefix of every object key, e.g. `prod/`.")
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO...); empty: AWS.")
    s3_region: str | None = Field(None, description="The bucket's region.")
    s3_access_key_id: str | None = Field(
        None, description="Access key; empty: boto3's usual credential chain."
    )
    s3_secret_access_key: str | None = Field(None, repr=False, description="Secret key for the access key.")

    @field_validator("storage_backend", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else ("local" if value is None else value)

    @field_validator("s3_prefix", mode="before")
    @classmethod
    def _no_prefix(cls, value: object) -> object:
        return "" if value is None else value
