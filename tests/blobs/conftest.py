"""Fixtures of the blob-store tests over SeaweedFS (S3)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from support import seaweed
from support.seaweed import SeaweedS3

from modelbay.settings import Settings

seaweed_s3 = seaweed.seaweed_s3  # the shared fixture: one SeaweedFS per test process


@pytest.fixture
def s3_settings(seaweed_s3: SeaweedS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of services over a new bucket of the shared SeaweedFS (its credentials set
    in the environment, as an operator sets them)."""
    s3 = seaweed_s3
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3.region)
    bucket = s3.create_bucket("blobs-" + uuid.uuid4().hex[:10])
    return Settings(
        data_dir=tmp_path / "data", blob_store=f"s3://{bucket}/mb", s3_endpoint_url=s3.endpoint_url
    )
