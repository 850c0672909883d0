"""References: files a version tracks without storing their bytes.

What is recorded at ``add_reference`` (with ``checksum=True``, the default):

* ``file:///abs/path`` (or ``file://localhost/abs/path``): the sha256 and size of the file; a
  directory adds every regular file under it as ``Artifact.add_dir`` does: links are followed
  while they stay inside it (one pointing out is refused), FIFOs, sockets, devices and
  dangling links are skipped (never opened);
* ``s3://bucket/key``: the object's ETag, size and version id, read from its metadata (a
  prefix adds every object under it but folder markers, empty objects named ``sub/``). The
  key is everything after the bucket, verbatim, as the AWS CLI reads it: ``?``, ``#``,
  ``%``, spaces and the like are part of it;
* ``http(s)://`` URLs: their ETag and size, read with a HEAD; or the sha256 and size of their
  body when the server sends no strong ETag or no length (or encodes the body anyway).

With ``checksum=False`` (as in W&B) an http(s) URL is recorded as it is, without a request,
and fetched unchecked. ``file://`` and ``s3://`` references are always tracked: both cost
no more than reading metadata or the file.

A directory or a prefix is refused once it holds more than ``max_objects`` files (as in W&B,
exactly ``max_objects`` are accepted): the walk or the listing stops at the first one too
many, before any file is read, so that ``file:///`` fails at once instead of reading the
whole disk. W&B's default is 10,000,000; modelbay's is :data:`MAX_OBJECTS`, as a version
holds at most 1,000,000 files (``services/artifacts.py``) and each file is hashed here.

An ``s3://`` reference is read with the client's usual ``AWS_*`` settings; its endpoint is
``MODELBAY_S3_ENDPOINT_URL``, else ``AWS_ENDPOINT_URL_S3``, else what botocore finds
(``AWS_ENDPOINT_URL``, the config file, AWS).

Fetching a reference asks for the real bytes (``Accept-Encoding: identity``) and checks
everything recorded: the size, the sha256, the ETag. Failures are modelbay's errors, each
naming the URI, with the client's own error as ``__cause__``:

    InvalidInputError        an unsupported or malformed URI, or one naming no file
    └── DigestMismatchError  the bytes changed since they were logged
    PermissionDeniedError    refused: HTTP 401 or 403, S3 AccessDenied, file permissions
    NotFoundError            the file, object, bucket or URL is gone (HTTP 404 or 410)
    TransportError           unreachable, or any other answer (HTTP 5xx, ...)
"""

from __future__ import annotations

import errno
import functools
import hashlib
import itertools
import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_to_bytes, urlparse

from modelbay import names
from modelbay.errors import (
    DigestMismatchError,
    InvalidInputError,
    ModelbayError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
)
from modelbay.extras import require
from modelbay.jsontext import Info
from modelbay.sdk.httpclient import client as http_client
from modelbay.sdk.streams import locked_temp, open_new

CHUNK = 1 << 20
#: The default bound on the files a ``file://`` directory or ``s3://`` prefix may hold.
MAX_OBJECTS = 100_000
#: The most keys one ListObjectsV2 request may return.
LIST_PAGE = 1000
#: Ask for the bytes as they are, so that a recorded size is the size of what is fetched.
IDENTITY = {"Accept-Encoding": "identity"}
#: How a stored s3:// reference carries the version id of the object it was logged with.
VERSION_SUFFIX = "?versionId="


def _synthetic(uri: str, etag: str) -> str:
    """A stable digest for bytes known only by an ETag: unique per (uri, etag)."""
    return hashlib.sha256(f"ref\0{uri}\0{etag}".encode()).hexdigest()


def _untracked(uri: str) -> str:
    """The digest of a reference recorded without any checksum (``checksum=False``)."""
    return hashlib.sha256(f"ref\0{uri}\0untracked".encode()).hexdigest()


#: The settings an S3 client is made from besides the ``AWS_*`` ones: a new client when one
#: of them changes.
S3_ENV = ("MODELBAY_S3_ENDPOINT_URL",)


def _s3() -> Any:
    """An S3 client for the current environment (one per distinct environment).

    botocore reads its settings once, when a client is made: the credentials and where they
    come from (keys, profiles, files, a role to assume), the region, the endpoint, the CA
    bundle, retries, checksums. Every ``AWS_*`` variable is part of the key, so that a
    change to any of them (dozens, and more with each botocore) gives a new client."""
    env = tuple(
        sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_") or k in S3_ENV)
    )
    return _s3_client(env)


@functools.lru_cache(maxsize=4)
def _s3_client(env: tuple[tuple[str, str], ...]) -> Any:
    # A session of its own: boto3's default session keeps the first credentials it found
    # for the life of the process, even once the environment names others.
    import boto3
    from botocore.config import Config

    settings = dict(env)
    # AWS_ENDPOINT_URL_S3 is read here as Settings reads it for the blob store, so that both
    # agree; None leaves the rest to botocore: AWS_ENDPOINT_URL, the config file, AWS.
    endpoint = (
        settings.get("MODELBAY_S3_ENDPOINT_URL") or settings.get("AWS_ENDPOINT_URL_S3") or None
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def _scheme(uri: str) -> str:
    return uri.partition(":")[0].lower() if ":" in uri else ""


def entries_for(
    uri: str, name: str | None = None, *, checksum: bool = True, max_objects: int | None = None
) -> list[Info]:
    """Manifest entries (path, sha256, size, ref, etag) for a reference URI.

    ``max_objects`` bounds the files of a ``file://`` directory or an ``s3://`` prefix
    (:data:`MAX_OBJECTS` when None); a single file, object or URL is one.

    Raises:
        InvalidInputError: an unsupported or malformed URI, a reference to nothing, a
            ``max_objects`` that is not a positive int, or more files than it allows.
        NotFoundError: the file, object, bucket or URL does not exist.
        PermissionDeniedError: reading it is refused.
        TransportError: the store or server cannot be reached, or answers an error.
    """
    bound = _check_max_objects(max_objects)
    scheme = _scheme(uri)
    if scheme == "file":
        return _file_entries(uri, name, bound)
    if scheme == "s3":
        return _s3_entries(uri, name, bound)
    if scheme in ("http", "https"):
        return [_http_entry(uri, name, checksum)]
    raise InvalidInputError(f"unsupported reference {uri!r}: use file://, s3:// or http(s)://")


def _check_max_objects(max_objects: object) -> int:
    """The bound ``max_objects`` sets: :data:`MAX_OBJECTS` for None, else itself.

    Raises:
        InvalidInputError: not an int (a bool neither), or less than 1.
    """
    if max_objects is None:
        return MAX_OBJECTS
    if isinstance(max_objects, bool) or not isinstance(max_objects, int) or max_objects < 1:
        raise InvalidInputError(
            f"max_objects must be a positive int (or None for {MAX_OBJECTS}), not {max_objects!r}",
            {"max_objects": repr(max_objects)},
        )
    return max_objects


def _too_many(uri: str, found: int, max_objects: int, what: str) -> InvalidInputError:
    return InvalidInputError(
        f"{uri}: found {found} {what} and stopped, more than max_objects={max_objects} "
        "allows; pass add_reference a larger max_objects to track them all",
        {"uri": uri, "found": found, "max_objects": max_objects},
    )


# -- file:// ------------------------------------------------------------------------------------


def _file_path(uri: str) -> Path:
    """The absolute local path a ``file:`` URI names (percent-decoded).

    Raises:
        InvalidInputError: a host other than ``localhost``, a raw ``?`` or ``#``, or a path
            that is empty or relative.
    """
    parsed = urlparse(uri)
    if parsed.netloc.lower() not in ("", "localhost"):
        raise InvalidInputError(
            f"{uri!r} names host {parsed.netloc!r}: a file:// reference must be local "
            "(file:///abs/path or file://localhost/abs/path)"
        )
    if "?" in uri or "#" in uri:
        raise InvalidInputError(f"{uri!r}: write '?' and '#' in a file path as %3F and %23")
    path = os.fsdecode(unquote_to_bytes(parsed.path))
    if not path.startswith("/") or "\0" in path:
        raise InvalidInputError(
            f"{uri!r} does not name an absolute path: write file:///abs/path "
            "(Path(...).resolve().as_uri())"
        )
    return Path(path)


def _file_error(uri: str, exc: OSError) -> ModelbayError:
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return NotFoundError(f"no file at {uri}: {exc}")
    if isinstance(exc, PermissionError):
        return PermissionDeniedError(f"cannot read referenced file {uri}: {exc}")
    if exc.errno in (errno.ELOOP, errno.ENAMETOOLONG):
        return InvalidInputError(f"{uri} names no file: {exc}")
    return TransportError(f"cannot read referenced file {uri}: {exc}")


def _file_entry(full: Path, target: str) -> Info:
    from modelbay.blobs.digest import sha256_file

    digest, size = sha256_file(full)
    ref = full.resolve().as_uri()
    return {"path": target, "sha256": digest, "size": size, "ref": ref, "etag": None}


def _file_entries(uri: str, name: str | None, max_objects: int) -> list[Info]:
    """A regular file, or every regular file under a directory as ``Artifact.add_dir`` finds
    them, except that links are followed wherever they point (a reference sends no bytes,
    and records where the file really is); anything else (a FIFO, a socket, a device, a
    dangling link) is skipped.

    The walk stops at the file after ``max_objects``: no more folders are listed, and
    nothing is hashed before the count is known to fit."""
    from modelbay.sdk.local_tree import _walk

    path = _file_path(uri)
    try:
        mode = path.stat().st_mode
        if stat.S_ISREG(mode):
            return [_file_entry(path, names.check_path(name or path.name))]
        if not stat.S_ISDIR(mode):
            raise InvalidInputError(f"{uri} is neither a regular file nor a directory")
        # "shards/" names the folder "shards", as an s3:// prefix's name does.
        folder = name.rstrip("/") if isinstance(name, str) else name
        prefix = names.check_path(folder) + "/" if name else ""
        walk = _walk(path, path.resolve(), confine=False)
        # islice takes no more than sys.maxsize; no folder holds that many files anyway.
        found = list(itertools.islice(walk, min(max_objects, sys.maxsize - 1) + 1))
        if len(found) > max_objects:
            raise _too_many(uri, len(found), max_objects, "files")
        out = [_file_entry(full, names.check_path(prefix + rel)) for rel, full in found]
    except OSError as exc:
        raise _file_error(uri, exc) from exc
    if not out:
        raise InvalidInputError(f"{path} holds no regular files")
    return out


def _read_file(uri: str, take: Callable[[bytes], None]) -> None:
    path = _file_path(uri)
    try:
        # Non-blocking, so that a FIFO put in the file's place cannot hang the download.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise _file_error(uri, exc) from exc
    with os.fdopen(fd, "rb", buffering=0) as src:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotFoundError(f"referenced file {uri} is gone: it is no longer a regular file")
        while True:
            try:
                chunk = src.read(CHUNK)
            except OSError as exc:
                raise _file_error(uri, exc) from exc
            if not chunk:
                return
            take(chunk)


# -- s3:// --------------------------------------------------------------------------------------


def _split_s3(uri: str) -> tuple[str, str]:
    """(bucket, key) of ``s3://bucket/key``: the key is the rest of the URI, verbatim."""
    if not uri.lower().startswith("s3://"):
        raise InvalidInputError(f"{uri!r} is not an s3:// URI: write s3://bucket/key")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise InvalidInputError(f"{uri!r} names no bucket: write s3://bucket/key")
    return bucket, key


def _s3_ref(bucket: str, key: str, version: str | None) -> str:
    """The stored reference of one object: its URI, then the version id it was logged with.

    Raises:
        InvalidInputError: an unversioned key that itself contains the version suffix (its
            reference would read as another key at a version).
    """
    if version and version != "null":
        return f"s3://{bucket}/{key}{VERSION_SUFFIX}{version}"
    if VERSION_SUFFIX in key:
        raise InvalidInputError(f"s3://{bucket}/{key}: keys holding {VERSION_SUFFIX!r} are refused")
    return f"s3://{bucket}/{key}"


def _parse_s3_ref(ref: str) -> tuple[str, str, str | None]:
    """(bucket, key, version id) of a stored reference (see :func:`_s3_ref`)."""
    bucket, key = _split_s3(ref)
    head, sep, version = key.rpartition(VERSION_SUFFIX)
    return (bucket, head, version) if sep and version else (bucket, key, None)


def _s3_error(uri: str, exc: Exception) -> ModelbayError:
    """The modelbay error for a botocore error met while reading ``uri``."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code == "NoSuchBucket":
            return NotFoundError(f"{uri}: bucket {_split_s3(uri)[0]!r} does not exist")
        if code in ("NoSuchKey", "NoSuchVersion", "NotFound", "404"):
            return NotFoundError(f"{uri} does not exist ({code})")
        if code in ("AccessDenied", "Forbidden", "403"):
            return PermissionDeniedError(f"reading {uri} is refused ({code})")
    return TransportError(f"cannot read {uri}: {exc}")


@contextmanager
def _s3_errors(uri: str) -> Iterator[None]:
    require("s3", f"the reference {uri}")
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise _s3_error(uri, exc) from exc


def _s3_entries(uri: str, name: str | None, max_objects: int) -> list[Info]:
    """One object, or every object under a prefix (at most ``max_objects``)."""
    require("s3", f"the reference {uri}")
    from botocore.exceptions import ClientError

    bucket, key = _split_s3(uri)
    with _s3_errors(uri):
        client = _s3()
        if key and not key.endswith("/"):
            try:
                head = client.head_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in (
                    "404",
                    "NoSuchKey",
                    "NotFound",
                ):
                    raise
            else:
                return [_s3_entry(bucket, key, name or key.rsplit("/", 1)[-1], head)]
        prefix = key if not key or key.endswith("/") else key + "/"
        out = _s3_listed(client, bucket, prefix, name, max_objects)
    if len(out) > max_objects:
        raise _too_many(f"s3://{bucket}/{prefix}", len(out), max_objects, "objects")
    if not out:
        raise NotFoundError(f"no object at {uri}")
    return out


def _s3_listed(
    client: Any, bucket: str, prefix: str, name: str | None, max_objects: int
) -> list[Info]:
    """The objects under ``prefix``, listed until there are more than ``max_objects``: no
    request asks for more keys than that and one."""
    out: list[Info] = []
    token: str | None = None
    after: str | None = None
    while len(out) <= max_objects:
        asked = min(LIST_PAGE, max_objects + 1 - len(out))
        args: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": asked}
        if token:
            args["ContinuationToken"] = token
        elif after:
            args["StartAfter"] = after
        page = client.list_objects_v2(**args)
        listed = page.get("Contents", [])
        for obj in listed:
            key = str(obj["Key"])
            # Skipped: folder markers (the prefix's own, or one below it, as the S3 console's
            # "Create folder" makes: empty objects named "sub/"; W&B skips them too), and keys
            # outside the prefix (SeaweedFS lists "a/x" for the prefix "a//").
            if not key.startswith(prefix) or (key.endswith("/") and int(obj["Size"]) == 0):
                continue
            path = (name.rstrip("/") + "/" if name else "") + key[len(prefix) :]
            out.append(_s3_entry(bucket, key, path, obj))
        if page.get("IsTruncated"):
            following = page.get("NextContinuationToken")
            uri = f"s3://{bucket}/{prefix}"
            if following == token and following:
                raise TransportError(
                    f"the object store's listing of {uri} does not move on: it gave back the "
                    "continuation token it was sent",
                    {"uri": uri},
                )
            if following:
                token, after = str(following), None
            elif listed:  # no token to go on with: S3's other way, after the last key listed
                token, after = None, str(listed[-1]["Key"])
            else:
                raise TransportError(
                    f"the object store's listing of {uri} says there is more but gives neither "
                    "a continuation token nor a key to list after",
                    {"uri": uri},
                )
        elif len(listed) == asked and str(listed[-1]["Key"]).endswith("/"):
            # SeaweedFS (4.x) says a full page that ends on a folder marker is the last one
            # when the folder's files are all that follow: ask for what comes after it.
            token, after = None, str(listed[-1]["Key"])
        else:
            break
    return out


def _s3_entry(bucket: str, key: str, path: str, obj: Info) -> Info:
    """The entry of one object, from its HEAD or its listing (which names no version)."""
    etag = str(obj["ETag"]).strip('"')
    ref = _s3_ref(bucket, key, obj.get("VersionId"))
    size = int(obj["ContentLength"] if "ContentLength" in obj else obj["Size"])
    path = names.check_path(path)
    return {"path": path, "sha256": _synthetic(ref, etag), "size": size, "ref": ref, "etag": etag}


def _read_s3(uri: str, take: Callable[[bytes], None]) -> str:
    """Stream the object to ``take``; returns its ETag."""
    bucket, key, version = _parse_s3_ref(uri)
    args: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version:
        args["VersionId"] = version
    with _s3_errors(uri):
        obj = _s3().get_object(**args)
        for chunk in obj["Body"].iter_chunks(CHUNK):
            take(chunk)
    return str(obj["ETag"]).strip('"')


# -- http(s):// ---------------------------------------------------------------------------------


def _http_error(uri: str, exc: Exception) -> ModelbayError:
    """The modelbay error for an httpx error met while reading ``uri``."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        if status in (404, 410):
            return NotFoundError(f"{uri} answered HTTP {status}")
        if status in (401, 403):
            return PermissionDeniedError(f"{uri} answered HTTP {status}")
        return TransportError(f"{uri} answered HTTP {status}")
    return TransportError(f"cannot read {uri}: {exc!r}")


@contextmanager
def _http_client(uri: str, timeout: float) -> Iterator[Any]:
    import httpx

    try:
        with http_client(follow_redirects=True, timeout=timeout, headers=IDENTITY) as client:
            yield client
    except httpx.HTTPError as exc:
        raise _http_error(uri, exc) from exc


def _strong_etag(headers: Any) -> str | None:
    """The ETag, if it names these exact bytes: strong (not ``W/``) and of an unencoded body."""
    etag = headers.get("etag")
    if not etag or etag.startswith("W/"):
        return None
    if headers.get("content-encoding", "identity").lower() != "identity":
        return None
    return str(etag)


def _http_entry(uri: str, name: str | None, checksum: bool) -> Info:
    target = names.check_path(name or unquote(urlparse(uri).path.rsplit("/", 1)[-1]) or "index")
    if not checksum:
        return {"path": target, "sha256": _untracked(uri), "size": 0, "ref": uri, "etag": None}
    with _http_client(uri, timeout=60) as client:
        head = client.head(uri)
        etag = _strong_etag(head.headers) if head.is_success else None
        length = head.headers.get("content-length", "")
        if etag and length.isdigit():
            size = int(length)
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
            resp.raise_for_status()
            for chunk in resp.iter_bytes(CHUNK):
                h.update(chunk)
                size += len(chunk)
    return {"path": target, "sha256": h.hexdigest(), "size": size, "ref": uri, "etag": None}


def _read_http(uri: str, take: Callable[[bytes], None]) -> str | None:
    """Stream the body to ``take``; returns its ETag, if any."""
    with _http_client(uri, timeout=300) as client, client.stream("GET", uri) as resp:
        resp.raise_for_status()
        etag: str | None = resp.headers.get("etag")
        for chunk in resp.iter_bytes(CHUNK):
            take(chunk)
    return etag


# -- fetching -----------------------------------------------------------------------------------


def fetch_reference(entry: Info, dest: Path, progress: Callable[[int], None] | None = None) -> None:
    """Fetch a referenced file to ``dest`` (atomically), checking it is what was logged: its
    size, and its sha256 or its ETag (a reference logged with ``checksum=False`` is not checked).

    Raises:
        DigestMismatchError: the referenced bytes changed since they were logged.
        NotFoundError: the referenced file, object or URL is gone.
        PermissionDeniedError: reading it is refused.
        TransportError: the store or server cannot be reached, or answers an error.
    """
    uri: str = entry["ref"]
    scheme = _scheme(uri)
    h = hashlib.sha256()
    size = 0
    # Locked while written (see sdk/streams.py), so that a download's sweep of dead partial
    # files tells it from one a killed download left; removed on leaving unless renamed.
    with locked_temp(dest) as tmp, open_new(tmp) as out:

        def take(chunk: bytes) -> None:
            nonlocal size
            h.update(chunk)
            size += len(chunk)
            out.write(chunk)
            if progress:
                progress(len(chunk))

        received_etag: str | None = None
        if scheme == "file":
            _read_file(uri, take)
        elif scheme == "s3":
            received_etag = _read_s3(uri, take)
        else:
            received_etag = _read_http(uri, take)
        out.close()
        _check_received(entry, h.hexdigest(), size, received_etag)
        os.replace(tmp, dest)


def _check_received(entry: Info, digest: str, size: int, etag: str | None) -> None:
    """Refuse bytes that are not what ``entry`` recorded.

    Raises:
        DigestMismatchError: another size, sha256 or ETag than recorded.
    """
    uri: str = entry["ref"]
    if _scheme(uri) in ("http", "https") and entry["sha256"] == _untracked(uri):
        return  # logged with checksum=False, which only http(s) references take
    recorded: str | None = entry.get("etag")
    # http entries logged before sizes were checked (with checksum=False) may hold a weak
    # ETag and the compressed length, or no length (0): their size cannot be checked, and
    # the identity GET now sent gets the strong form of their ETag.
    weak = bool(
        recorded
        and _scheme(uri) in ("http", "https")
        and (recorded.startswith("W/") or entry["size"] == 0)
    )
    if size != entry["size"] and not weak:
        raise DigestMismatchError(
            f"{uri} changed since it was logged ({size} bytes, not {entry['size']})"
        )
    if recorded:
        if (etag != recorded) if not weak else (_opaque(etag) != _opaque(recorded)):
            raise DigestMismatchError(
                f"{uri} changed since it was logged (ETag {etag!r}, not {recorded!r})"
            )
    elif digest != entry["sha256"]:
        raise DigestMismatchError(f"{uri} changed since it was logged: its sha256 differs")


def _opaque(etag: str | None) -> str | None:
    """An ETag without its weakness mark, for a weak comparison (RFC 9110, 8.8.3.2)."""
    return etag[2:] if etag is not None and etag.startswith("W/") else etag


__all__ = ["entries_for", "fetch_reference"]
