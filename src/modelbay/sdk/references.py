"""References: files a version tracks by checksum without storing their bytes.

* ``file://`` paths are tracked by their sha256 (a directory by each file under it);
* ``s3://bucket/key`` objects (or every object under a prefix) by their ETag (and version id);
* ``http(s)://`` URLs by their ETag, or by the sha256 of their body when the server sends none.

Fetching a reference checks the same checksum and refuses bytes that changed since logging.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from modelbay import names
from modelbay.errors import DigestMismatchError, InvalidInputError, NotFoundError, TransportError
from modelbay.sdk.httpclient import httpx_module

Info = dict[str, Any]
CHUNK = 1 << 20
MAX_OBJECTS = 100_000


def _synthetic(uri: str, etag: str) -> str:
    """A stable digest for bytes known only by an ETag: unique per (uri, etag)."""
    return hashlib.sha256(f"ref\0{uri}\0{etag}".encode()).hexdigest()


def _s3() -> Any:
    import boto3
    from botocore.config import Config

    endpoint = (
        os.environ.get("MODELBAY_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3") or None
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def entries_for(uri: str, name: str | None = None, *, checksum: bool = True) -> list[Info]:
    """Manifest entries (path, sha256, size, ref, etag) for a reference URI.

    Raises:
        InvalidInputError: an unsupported scheme, or a reference to nothing.
        NotFoundError: the object or file does not exist.
    """
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return _file_entries(Path(unquote(parsed.path)), name)
    if parsed.scheme == "s3":
        return _s3_entries(parsed.netloc, parsed.path.lstrip("/"), name)
    if parsed.scheme in ("http", "https"):
        return [_http_entry(uri, name, checksum)]
    raise InvalidInputError(f"unsupported reference {uri!r}: use file://, s3:// or http(s)://")


def _file_entries(path: Path, name: str | None) -> list[Info]:
    from modelbay.blobs.local import sha256_file

    if path.is_file():
        digest, size = sha256_file(path)
        target = names.check_path(name or path.name)
        return [
            {
                "path": target,
                "sha256": digest,
                "size": size,
                "ref": path.resolve().as_uri(),
                "etag": None,
            }
        ]
    if not path.is_dir():
        raise NotFoundError(f"{path} does not exist")
    out: list[Info] = []
    prefix = names.check_path(name).rstrip("/") + "/" if name else ""
    for dirpath, _, filenames in os.walk(path):
        for filename in sorted(filenames):
            full = Path(dirpath) / filename
            digest, size = sha256_file(full)
            rel = full.relative_to(path).as_posix()
            out.append(
                {
                    "path": names.check_path(prefix + rel),
                    "sha256": digest,
                    "size": size,
                    "ref": full.resolve().as_uri(),
                    "etag": None,
                }
            )
    if not out:
        raise InvalidInputError(f"{path} holds no files")
    return out


def _s3_entries(bucket: str, key: str, name: str | None) -> list[Info]:
    from botocore.exceptions import ClientError

    client = _s3()
    try:
        head = client.head_object(Bucket=bucket, Key=key) if key and not key.endswith("/") else None
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
        head = None
    if head is not None:
        etag = str(head["ETag"]).strip('"')
        version = head.get("VersionId")
        uri = f"s3://{bucket}/{key}" + (
            f"?versionId={version}" if version and version != "null" else ""
        )
        target = names.check_path(name or key.rsplit("/", 1)[-1])
        return [
            {
                "path": target,
                "sha256": _synthetic(uri, etag),
                "size": int(head["ContentLength"]),
                "ref": uri,
                "etag": etag,
            }
        ]
    prefix = key if not key or key.endswith("/") else key + "/"
    out: list[Info] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(prefix) :]
            if not rel:
                continue
            etag = str(obj["ETag"]).strip('"')
            uri = f"s3://{bucket}/{obj['Key']}"
            path = names.check_path((name.rstrip("/") + "/" if name else "") + rel)
            out.append(
                {
                    "path": path,
                    "sha256": _synthetic(uri, etag),
                    "size": int(obj["Size"]),
                    "ref": uri,
                    "etag": etag,
                }
            )
            if len(out) > MAX_OBJECTS:
                raise InvalidInputError(
                    f"s3://{bucket}/{prefix} holds more than {MAX_OBJECTS} objects"
                )
    if not out:
        raise NotFoundError(f"no object at s3://{bucket}/{key}")
    return out


def _http_entry(uri: str, name: str | None, checksum: bool) -> Info:
    httpx = httpx_module()

    target = names.check_path(name or unquote(urlparse(uri).path.rsplit("/", 1)[-1]) or "index")
    try:
        with httpx.Client(follow_redirects=True, timeout=60) as client:
            head = client.head(uri)
            etag = head.headers.get("etag") if head.is_success else None
            if etag and not checksum:
                size = int(head.headers.get("content-length", "0"))
                return {
                    "path": target,
                    "sha256": _synthetic(uri, etag),
                    "size": size,
                    "ref": uri,
                    "etag": etag,
                }
            h = hashlib.sha256()
            size = 0
            with client.stream("GET", uri) as resp:
                if resp.status_code == 404:
                    raise NotFoundError(f"{uri} answered 404")
                resp.raise_for_status()
                for chunk in resp.iter_bytes(CHUNK):
                    h.update(chunk)
                    size += len(chunk)
    except httpx.HTTPError as exc:
        raise TransportError(f"cannot read {uri}: {exc}") from exc
    return {"path": target, "sha256": h.hexdigest(), "size": size, "ref": uri, "etag": None}


def fetch_reference(entry: Info, dest: Path, progress: Callable[[int], None] | None = None) -> None:
    """Fetch a referenced file to ``dest`` (atomically), checking it is what was logged.

    Raises:
        DigestMismatchError: the referenced bytes changed since they were logged.
        NotFoundError: the referenced object is gone.
    """
    uri: str = entry["ref"]
    parsed = urlparse(uri)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:12]}.part")
    h = hashlib.sha256()
    received_etag: str | None = None
    try:
        with open(tmp, "wb") as out:

            def take(chunk: bytes) -> None:
                h.update(chunk)
                out.write(chunk)
                if progress:
                    progress(len(chunk))

            if parsed.scheme == "file":
                try:
                    with open(unquote(parsed.path), "rb") as src:
                        while chunk := src.read(CHUNK):
                            take(chunk)
                except FileNotFoundError:
                    raise NotFoundError(f"referenced file {uri} is gone") from None
            elif parsed.scheme == "s3":
                key, _, query = parsed.path.lstrip("/").partition("?")
                args: dict[str, Any] = {"Bucket": parsed.netloc, "Key": key}
                if "versionId=" in (parsed.query or query):
                    args["VersionId"] = (parsed.query or query).split("versionId=")[1]
                obj = _s3().get_object(**args)
                received_etag = str(obj["ETag"]).strip('"')
                for chunk in obj["Body"].iter_chunks(CHUNK):
                    take(chunk)
            else:
                httpx = httpx_module()

                with (
                    httpx.Client(follow_redirects=True, timeout=300) as client,
                    client.stream("GET", uri) as resp,
                ):
                    resp.raise_for_status()
                    received_etag = resp.headers.get("etag")
                    for chunk in resp.iter_bytes(CHUNK):
                        take(chunk)
        if entry.get("etag"):
            if received_etag != entry["etag"]:
                raise DigestMismatchError(
                    f"{uri} changed since it was logged (ETag {received_etag!r}, not {entry['etag']!r})"
                )
        elif h.hexdigest() != entry["sha256"]:
            raise DigestMismatchError(f"{uri} changed since it was logged: its sha256 differs")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


__all__ = ["entries_for", "fetch_reference"]
