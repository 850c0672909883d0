"""Self-checks of the SeaweedFS S3 test helper, and of the S3 behaviour modelbay relies on:
signed requests only, presigned single and multipart uploads with a plain HTTP client,
copies, and SHA-256 checksums that the server verifies."""

from __future__ import annotations

import base64
import gc
import hashlib
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import httpx
import pytest
from botocore.config import Config

from . import seaweed as swsupport
from .processes import descendants, group_alive, process_alive
from .seaweed import SeaweedError, SeaweedS3, find_weed, require_weed

seaweed_s3 = swsupport.seaweed_s3  # the shared session fixture

MiB = 1024 * 1024


def b64sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def md5_etag(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=60) as client:
        yield client


@pytest.fixture
def bucket(seaweed_s3: SeaweedS3) -> str:
    return seaweed_s3.create_bucket("t-" + secrets.token_hex(6))


def wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# -- the helper itself -----------------------------------------------------------------


def test_require_weed_skips_only_without_binary(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(swsupport, "find_weed", lambda: None)
    with pytest.raises(pytest.skip.Exception, match="'weed' not found"):
        require_weed()
    assert "SKIP: SeaweedFS 'weed' not found" in capsys.readouterr().err


def test_find_weed_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "weed"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv(swsupport.WEED_ENV, str(fake))
    assert find_weed() == str(fake)


def test_start_stop_leaves_nothing() -> None:
    weed = require_weed()
    server = SeaweedS3(weed)
    with server:
        pid, root = server.pid, server.root
        assert pid is not None and root is not None and server.running
        assert str(root).startswith("/tmp/") and root.is_dir()
        assert server.endpoint_url == f"http://127.0.0.1:{server.port}"
        sockets = swsupport._grpc_socket_paths(server.ports)
        assert all(os.path.exists(p) for p in sockets)
        family = [(pid, 0), *descendants(pid)]
        server.client().list_buckets()
    assert server.proc is None and not server.running
    assert not group_alive(pid)
    assert all(not process_alive(p) for p, _ in family)
    assert not root.exists()
    assert not any(os.path.exists(p) for p in sockets)
    server.stop()  # idempotent


def test_start_failure_raises_with_log_tail() -> None:
    server = SeaweedS3(require_weed(), extra_args=["-no.such.flag=1"], startup_timeout=20)
    with pytest.raises(SeaweedError, match="did not become ready") as info:
        server.start()
    assert "no.such.flag" in str(info.value)  # weed's usage message, from the log tail
    assert server.proc is None and server.root is None


def test_finalizer_kills_an_abandoned_server() -> None:
    server = SeaweedS3(require_weed(), stop_timeout=1.0).start()
    pid, root = server.pid, server.root
    assert pid is not None and root is not None
    del server
    gc.collect()
    assert wait_until(lambda: not group_alive(pid))
    assert not root.exists()


def test_requests_must_be_signed(seaweed_s3: SeaweedS3, bucket: str, http: httpx.Client) -> None:
    seaweed_s3.client().put_object(Bucket=bucket, Key="secret", Body=b"x")
    assert http.get(f"{seaweed_s3.endpoint_url}/{bucket}/secret").status_code == 403
    assert http.put(f"{seaweed_s3.endpoint_url}/{bucket}/anon", content=b"x").status_code == 403
    wrong = boto3.session.Session().client(
        "s3",
        endpoint_url=seaweed_s3.endpoint_url,
        aws_access_key_id=seaweed_s3.access_key,
        aws_secret_access_key="wrong-secret",
        region_name=seaweed_s3.region,
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )
    with pytest.raises(botocore.exceptions.ClientError, match="SignatureDoesNotMatch"):
        wrong.list_buckets()


# -- S3 behaviour ----------------------------------------------------------------------


def test_put_get_head(seaweed_s3: SeaweedS3, bucket: str) -> None:
    s3 = seaweed_s3.client()
    data = os.urandom(100_000)
    s3.put_object(Bucket=bucket, Key="a/b.bin", Body=data)
    assert s3.get_object(Bucket=bucket, Key="a/b.bin")["Body"].read() == data
    head = s3.head_object(Bucket=bucket, Key="a/b.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == md5_etag(data)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        s3.head_object(Bucket=bucket, Key="missing")
    assert info.value.response["Error"]["Code"] == "404"


def test_presigned_put_with_httpx(
    seaweed_s3: SeaweedS3, bucket: str, http: httpx.Client, tmp_path: Path
) -> None:
    s3 = seaweed_s3.client()
    data = os.urandom(3 * MiB + 17)
    src = tmp_path / "blob"
    src.write_bytes(data)
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "presigned"}, ExpiresIn=300
    )
    with src.open("rb") as fh:  # streamed from the file, with an explicit length
        r = http.put(url, content=fh, headers={"Content-Length": str(len(data))})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == md5_etag(data)
    assert s3.get_object(Bucket=bucket, Key="presigned")["Body"].read() == data

    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "presigned"}, ExpiresIn=300
    )
    assert http.get(get_url).content == data
    # The signature covers the method and the key.
    assert http.put(url.replace("/presigned?", "/other?"), content=b"x").status_code == 403
    assert http.delete(url).status_code == 403


def test_presigned_multipart_upload_with_httpx(
    seaweed_s3: SeaweedS3, bucket: str, http: httpx.Client
) -> None:
    s3 = seaweed_s3.client()
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1234)]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    done = []
    for number, data in enumerate(parts, 1):
        url = s3.generate_presigned_url(
            "upload_part",
            Params={"Bucket": bucket, "Key": "big", "UploadId": upload_id, "PartNumber": number},
            ExpiresIn=300,
        )
        r = http.put(url, content=data)
        assert r.status_code == 200, r.text
        assert r.headers["etag"] == md5_etag(data)
        done.append({"PartNumber": number, "ETag": r.headers["etag"]})

    listed = s3.list_parts(Bucket=bucket, Key="big", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed] == [
        (n, len(d), md5_etag(d)) for n, d in enumerate(parts, 1)
    ]
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["UploadId"] for u in uploads] == [upload_id]

    result = s3.complete_multipart_upload(
        Bucket=bucket, Key="big", UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    joined = hashlib.md5(b"".join(hashlib.md5(d).digest() for d in parts)).hexdigest()
    assert result["ETag"] == f'"{joined}-3"'
    head = s3.head_object(Bucket=bucket, Key="big")
    assert head["ContentLength"] == sum(map(len, parts))
    assert head["ETag"] == result["ETag"]
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == b"".join(parts)


def test_abort_multipart_upload(seaweed_s3: SeaweedS3, bucket: str) -> None:
    s3 = seaweed_s3.client()
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="gone", UploadId=upload_id, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=upload_id)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="gone")


def test_copy_object(seaweed_s3: SeaweedS3, bucket: str) -> None:
    s3 = seaweed_s3.client()
    data = os.urandom(9 * MiB + 5)  # several filer chunks
    s3.put_object(Bucket=bucket, Key="src", Body=data)
    other = seaweed_s3.create_bucket("t-" + secrets.token_hex(6))
    s3.copy_object(Bucket=other, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert s3.get_object(Bucket=other, Key="dst")["Body"].read() == data
    assert s3.head_object(Bucket=other, Key="dst")["ContentLength"] == len(data)
    s3.delete_object(Bucket=bucket, Key="src")  # the copy does not share the source's fate
    assert s3.get_object(Bucket=other, Key="dst")["Body"].read() == data


def test_default_boto3_checksums_are_accepted(seaweed_s3: SeaweedS3, bucket: str) -> None:
    # boto3 >= 1.36 sends CRC32 checksums (aws-chunked, trailer) on put_object/upload_part
    # by default; SeaweedFS 4.x accepts and stores them.
    s3 = seaweed_s3.client()
    out = s3.put_object(Bucket=bucket, Key="crc", Body=b"hello")
    assert "ChecksumCRC32" in out
    assert s3.get_object(Bucket=bucket, Key="crc")["Body"].read() == b"hello"


# -- SHA-256 checksums: enforced by the server -----------------------------------------


def test_sha256_checksum_is_verified_on_put(seaweed_s3: SeaweedS3, bucket: str) -> None:
    s3 = seaweed_s3.client(retries={"max_attempts": 1})
    data = os.urandom(50_000)
    out = s3.put_object(
        Bucket=bucket,
        Key="ok",
        Body=data,
        ChecksumAlgorithm="SHA256",
        ChecksumSHA256=b64sha256(data),
    )
    assert out["ChecksumSHA256"] == b64sha256(data)
    head = s3.head_object(Bucket=bucket, Key="ok", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == b64sha256(data)

    with pytest.raises(botocore.exceptions.ClientError) as info:
        s3.put_object(
            Bucket=bucket,
            Key="bad",
            Body=data,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=b64sha256(b"something else"),
        )
    assert info.value.response["Error"]["Code"] == "BadDigest"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="bad")


def test_sha256_checksum_is_verified_on_presigned_put(
    seaweed_s3: SeaweedS3, bucket: str, http: httpx.Client
) -> None:
    s3 = seaweed_s3.client()
    data = os.urandom(200_000)
    digest = b64sha256(data)

    def url(key: str) -> str:
        params = {"Bucket": bucket, "Key": key, "ChecksumSHA256": digest}
        return s3.generate_presigned_url("put_object", Params=params, ExpiresIn=300)

    assert "x-amz-checksum-sha256" in url("k")  # a signed header, not a query parameter
    header = {"x-amz-checksum-sha256": digest}
    r = http.put(url("good"), content=data, headers=header)
    assert r.status_code == 200, r.text
    assert r.headers["x-amz-checksum-sha256"] == digest
    head = s3.head_object(Bucket=bucket, Key="good", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == digest

    r = http.put(url("corrupt"), content=b"X" + data[1:], headers=header)
    assert r.status_code == 400 and "<Code>BadDigest</Code>" in r.text
    # Without the header, or with another digest, the signature does not match.
    r = http.put(url("no-header"), content=data)
    assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text
    other = {"x-amz-checksum-sha256": b64sha256(b"other")}
    assert http.put(url("other"), content=b"other", headers=other).status_code == 403
    for key in ("corrupt", "no-header", "other"):
        with pytest.raises(botocore.exceptions.ClientError):
            s3.head_object(Bucket=bucket, Key=key)


def test_sha256_checksum_is_verified_on_presigned_upload_part(
    seaweed_s3: SeaweedS3, bucket: str, http: httpx.Client
) -> None:
    s3 = seaweed_s3.client()
    parts = [os.urandom(5 * MiB), os.urandom(4321)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="SHA256")
    upload_id = upload["UploadId"]

    def url(number: int, digest: str) -> str:
        params = {
            "Bucket": bucket,
            "Key": "mp",
            "UploadId": upload_id,
            "PartNumber": number,
            "ChecksumSHA256": digest,
        }
        return s3.generate_presigned_url("upload_part", Params=params, ExpiresIn=300)

    digest0 = b64sha256(parts[0])
    r = http.put(
        url(1, digest0), content=b"X" + parts[0][1:], headers={"x-amz-checksum-sha256": digest0}
    )
    assert r.status_code == 400 and "<Code>BadDigest</Code>" in r.text
    done = []
    for number, data in enumerate(parts, 1):
        digest = b64sha256(data)
        r = http.put(url(number, digest), content=data, headers={"x-amz-checksum-sha256": digest})
        assert r.status_code == 200, r.text
        done.append({"PartNumber": number, "ETag": r.headers["etag"], "ChecksumSHA256": digest})
    result = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    # A composite checksum: sha256 of the parts' binary digests, "-<number of parts>".
    composite = b64sha256(b"".join(hashlib.sha256(d).digest() for d in parts))
    assert result["ChecksumSHA256"] == f"{composite}-2"
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"".join(parts)
