"""S3 staging for Redshift COPY: upload Parquet files and a manifest with boto3, clean up after.

The one place that talks to S3. The client takes credentials from the environment, an instance
profile or a named profile (boto3's chain); ``endpoint_url`` points it at S3-compatible servers
(moto in the tests, MinIO).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from typing import Sequence
from urllib.parse import urlparse

import boto3


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> "S3Location":
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"an S3 staging location must look like s3://bucket/prefix, not {url!r}")
        return cls(parsed.netloc, parsed.path.strip("/"))

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


class S3Stage:
    """Uploads one load's files under ``<prefix>/<run>/`` and writes the COPY manifest."""

    def __init__(self, location: S3Location, client=None, *, region: str | None = None, endpoint_url: str | None = None):
        self.location = location
        self.client = client or boto3.client("s3", region_name=region, endpoint_url=endpoint_url)

    def upload(self, files: Sequence[str], name: str) -> tuple[str, list[str]]:
        """Upload ``files`` and a manifest; return (manifest URL, uploaded keys incl. the manifest)."""
        folder = "/".join(p for p in (self.location.prefix, name, uuid.uuid4().hex[:12]) if p)
        entries, keys = [], []
        for index, path in enumerate(files):
            key = f"{folder}/part-{index:05d}.parquet"
            self.client.upload_file(path, self.location.bucket, key)
            keys.append(key)
            # Redshift requires content_length in the manifest of a Parquet COPY.
            entries.append({"url": self.location.url(key), "mandatory": True,
                            "meta": {"content_length": os.path.getsize(path)}})
        manifest_key = f"{folder}/manifest.json"
        self.client.put_object(Bucket=self.location.bucket, Key=manifest_key,
                               Body=json.dumps({"entries": entries}).encode())
        keys.append(manifest_key)
        return self.location.url(manifest_key), keys

    def remove(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": key} for key in keys[start:start + 1000]]
            self.client.delete_objects(Bucket=self.location.bucket, Delete={"Objects": chunk, "Quiet": True})
