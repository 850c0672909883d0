"""Content-addressed bytes in an S3-compatible object store.

Clients send and fetch bytes directly with presigned URLs, so file bytes never pass through
a modelbay server on their way in or out. Each upload session writes a key of its own
(``<prefix>uploads/<session id>``) that only that session's URLs can write; ``finish`` checks
the size and digest of what is there, and the object stays where it is: the service records
its key with the blob (``stored_key``), and reads, presigns and deletes that key. An upload
with wrong bytes never touches the key of a blob already stored, and no copy inside the
store doubles the time of a large upload. Blobs stored before keys were recorded, and blobs
sent through the server (``put_stream``), are under their digest's name
(``<prefix>blobs/ab/<digest>``), which only the server writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlparse

from modelbay.blobs import Target, UploadSession, finish_each
from modelbay.errors import ConflictError, DigestMismatchError, InvalidInputError, NotFoundError

CHUNK = 1 << 20
URL_SECONDS = 3600
COPY_OBJECT_LIMIT = 5 * (1 << 30)
#: A large object is read back for its digest in ranges of this size, several at a time,
#: and hashed in order: the hash runs while the next ranges arrive.
READ_RANGE = 8 << 20
READERS = 6


def _client(endpoint_url: str | None) -> Any:
    """An S3 client made from a boto3 session of its own."""
    import boto3
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"max_attempts": 5, "mode": "standard"},
        max_pool_connections=32,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    # A session of its own: the default one keeps the credentials it found first for the
    # life of the process, so a store opened later with other settings would sign with them.
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url, config=config)


def _b64(digest: str) -> str:
    """The base64 form of a hex sha256, as S3's checksum headers carry it."""
    import base64

    return base64.b64encode(bytes.fromhex(digest)).decode()


class _HashingReader:
    """A file-like view of an iterable of chunks that hashes what is read through it."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = b""
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            try:
                chunk = next(self._it)
            except StopIteration:
                break
            self._buf += chunk
        out, self._buf = (self._buf, b"") if n < 0 else (self._buf[:n], self._buf[n:])
        self.hash.update(out)
        self.size += len(out)
        return out


class S3BlobStore:
    """Blobs in ``s3://bucket/prefix`` (any S3-compatible store: AWS, SeaweedFS, MinIO...)."""

    kind = "s3"
    #: Parts the size boto3's transfers use (``TransferConfig``'s 8 MiB): a cold file's parts
    #: are then read nearly in order by the streams sending them at once, where 64 MiB parts
    #: had them read places of the file 64 MiB apart. The store holds up to 10,000 parts
    #: (78 GiB at this size); larger blobs get larger parts (see blobs.part_size_for).
    part_size = 8 << 20

    def __init__(
        self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, client: Any = None
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._owns_client = client is None
        self.client = client if client is not None else _client(endpoint_url)

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str | None = None) -> S3BlobStore:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise InvalidInputError(f"invalid blob store URL {url!r}: use s3://bucket/prefix")
        return cls(parsed.netloc, parsed.path, endpoint_url=endpoint_url)

    def key(self, digest: str) -> str:
        return f"{self.prefix}blobs/{digest[:2]}/{digest}"

    def _staging(self, session_id: str) -> str:
        return f"{self.prefix}uploads/{session_id}"

    def _object(self, digest: str, key: str | None) -> str:
        """The full key of a blob recorded under ``key`` (None: its digest's name)."""
        return self.prefix + key if key is not None else self.key(digest)

    def stored_key(self, session: UploadSession) -> str | None:
        """A session's own key, where :meth:`finish` leaves its bytes (relative to the prefix)."""
        return f"uploads/{session.id}"

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def check(self) -> None:
        """Raise unless the bucket answers (HeadBucket)."""
        self.client.head_bucket(Bucket=self.bucket)

    def size(self, digest: str, key: str | None = None) -> int | None:
        head = self._head(self._object(digest, key))
        return int(head["ContentLength"]) if head else None

    def put_stream(self, digest: str, chunks: Iterable[bytes], size: int | None = None) -> int:
        """Upload the bytes through a staging key, verify them, and move them in place.

        Raises:
            DigestMismatchError: the bytes hash to something else, or their size differs.
        """
        from boto3.s3.transfer import TransferConfig

        staging = self._staging(uuid.uuid4().hex)
        reader = _HashingReader(chunks)
        self.client.upload_fileobj(
            reader,
            self.bucket,
            staging,
            Config=TransferConfig(multipart_chunksize=64 << 20, max_concurrency=4),
        )
        try:
            actual = reader.hash.hexdigest()
            if actual != digest or (size is not None and reader.size != size):
                raise DigestMismatchError(
                    f"bytes sent for {digest[:12]} hash to {actual[:12]} ({reader.size} bytes)",
                    {"expected": digest, "actual": actual, "size": reader.size},
                )
            self._move_in(staging, digest, reader.size)
        finally:
            self.client.delete_object(Bucket=self.bucket, Key=staging)
        return reader.size

    def _move_in(self, staging: str, digest: str, size: int) -> None:
        """Copy verified bytes to their digest name, inside the store.

        Two clients finishing the same blob may copy at once: a single CopyObject (up to
        5 GiB) is atomic, and a failed multipart copy counts as done when the name holds the
        right size, since the bytes under a digest name are the same whoever wrote them.
        """
        target = self.key(digest)
        if size <= COPY_OBJECT_LIMIT:
            self.client.copy_object(
                Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": staging}
            )
            return
        try:
            self.client.copy({"Bucket": self.bucket, "Key": staging}, self.bucket, target)
        except Exception:
            head = self._head(target)
            if head is None or int(head["ContentLength"]) != size:
                raise

    def put_many(self, blobs: Sequence[tuple[str, bytes]]) -> None:
        """Store small blobs held in memory, each checked against its digest.

        Raises:
            DigestMismatchError: a blob's bytes hash to something else.
        """
        for digest, data in blobs:
            self.put_stream(digest, [data], len(data))

    def iter_bytes(self, digest: str, key: str | None = None) -> Iterator[bytes]:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._object(digest, key))["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise NotFoundError(
                    f"blob {digest[:12]} is not stored", {"sha256": digest}
                ) from None
            raise
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def delete(self, digest: str, key: str | None = None) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._object(digest, key))

    def close(self) -> None:
        """Close botocore's connection pool when the client is the store's own."""
        if self._owns_client:
            self.client.close()

    def _presign(self, operation: str, params: dict[str, Any]) -> str:
        return str(
            self.client.generate_presigned_url(operation, Params=params, ExpiresIn=URL_SECONDS)
        )

    def download_target(self, digest: str, key: str | None = None) -> Target | None:
        url = self._presign("get_object", {"Bucket": self.bucket, "Key": self._object(digest, key)})
        return Target(url, "GET")

    # -- upload sessions ----------------------------------------------------------------------

    def begin(self, session: UploadSession) -> str | None:
        """A multipart upload's id; None for a one-part session of a known digest, whose URL
        carries the digest's checksum. A provisional session (no digest yet) is always a
        multipart upload, whose completion reads the object back."""
        if session.parts == 1 and session.sha256 is not None:
            return None
        created = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=self._staging(session.id)
        )
        return str(created["UploadId"])

    def part_target(self, session: UploadSession, number: int) -> Target | None:
        if session.backend_id is None:
            # The digest is signed into the URL and the store refuses a body that does not hash
            # to it, so finish() need not read the bytes back (a store that keeps no checksum
            # has them read back).
            checksum = _b64(session.digest)
            single = {
                "Bucket": self.bucket,
                "Key": self._staging(session.id),
                "ChecksumSHA256": checksum,
            }
            url = self._presign("put_object", single)
            return Target(url, "PUT", {"x-amz-checksum-sha256": checksum})
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._staging(session.id),
            "UploadId": session.backend_id,
            "PartNumber": number,
        }
        return Target(self._presign("upload_part", params))

    def part_writer(self, session: UploadSession, number: int) -> Any:
        raise InvalidInputError(
            "parts of an S3-backed upload go to their presigned URLs, not to the server"
        )

    def receiver(self, digest: str, size: int | None) -> SpoolReceiver:
        return SpoolReceiver(self, digest, size)

    def _parts(self, session: UploadSession) -> list[dict[str, Any]] | None:
        """The parts the store holds for the session's multipart upload; None once that upload
        is gone (completed or aborted)."""
        from botocore.exceptions import ClientError

        parts: list[dict[str, Any]] = []
        marker = 0
        while True:
            try:
                page = self.client.list_parts(
                    Bucket=self.bucket,
                    Key=self._staging(session.id),
                    UploadId=session.backend_id,
                    PartNumberMarker=marker,
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchUpload", "404"):
                    return None
                raise
            parts.extend(page.get("Parts", []))
            if not page.get("IsTruncated"):
                return parts
            marker = int(page["NextPartNumberMarker"])

    def stored_parts(self, session: UploadSession) -> dict[int, int] | None:
        """Parts already stored (number -> size), read from the store itself; None once the
        session's multipart upload is gone (completed, or aborted, by a bucket lifecycle rule
        for one)."""
        if session.backend_id is None:
            head = self._head(self._staging(session.id))
            return (
                {1: int(head["ContentLength"])}
                if head and int(head["ContentLength"]) == session.size
                else {}
            )
        parts = self._parts(session)
        return None if parts is None else _whole_parts(session, parts)

    def finish(self, session: UploadSession) -> None:
        """Assemble the parts and check size and digest by reading the object back inside the
        store's network; the object stays under the session's key (:meth:`stored_key`).

        Raises:
            InvalidInputError: parts are missing.
            DigestMismatchError: the bytes hash to something else (the upload is discarded).
            NotFoundError: the session cannot go on: its multipart upload is gone and left no
                whole assembled object, or the assembled object could not be read (it is
                discarded). Its blob must be sent again.
            ConflictError: parts were replaced while completing; try again.
        """
        staging = self._staging(session.id)
        if session.backend_id is None:
            if not self._settled_by(session, self._head_checksum(staging)):
                self._read_back(session, staging)
            return
        from botocore.exceptions import ClientError

        self._assemble(session)
        # From here on the multipart upload is gone: whatever fails, the session cannot be
        # resumed, and its assembled object goes.
        try:
            self._read_back(session, staging)
        except DigestMismatchError:
            raise
        except Exception as exc:
            with contextlib.suppress(ClientError):
                self.client.delete_object(Bucket=self.bucket, Key=staging)
            raise NotFoundError(
                f"upload {session.id} could not be read back ({type(exc).__name__}): "
                "send its blob again"
            ) from exc

    def _assemble(self, session: UploadSession) -> None:
        """Complete a session's multipart upload, or find it completed already.

        Raises:
            InvalidInputError, NotFoundError, ConflictError: as :meth:`finish` says.
        """
        from botocore.exceptions import ClientError

        staging = self._staging(session.id)
        parts = self._parts(session)
        if parts is None:
            # The multipart upload is gone: a completion assembled it and was cut off before
            # it settled (or the store lost its answer), or it was aborted. Go on from the
            # assembled object if it is whole.
            head = self._head(staging)
            if head is None or int(head["ContentLength"]) != session.size:
                with contextlib.suppress(ClientError):
                    self.client.delete_object(Bucket=self.bucket, Key=staging)
                raise NotFoundError(f"upload {session.id} is gone: send its blob again")
            return
        missing = set(range(1, session.parts + 1)) - set(_whole_parts(session, parts))
        if missing:
            raise InvalidInputError(
                f"upload {session.id} lacks {len(missing)} part(s)",
                {"missing_parts": sorted(missing)[:100]},
            )
        parts.sort(key=lambda p: int(p["PartNumber"]))
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=staging,
                UploadId=session.backend_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]
                },
            )
        except ClientError as exc:
            # Parts replaced while this completion ran, or the store's answer lost: the
            # session stays open, and completing it again goes on from what is there.
            code = exc.response.get("Error", {}).get("Code", "")
            raise ConflictError(
                f"upload {session.id} changed while completing it ({code}); try again"
            ) from exc

    def finish_many(self, sessions: Sequence[UploadSession]) -> list[BaseException | None]:
        """:meth:`finish` each session, several at a time."""
        return finish_each(self.finish, sessions)

    def _settled_by(self, session: UploadSession, head: tuple[int, str | None] | None) -> bool:
        """Whether what a HEAD of a one-part upload's object answered settles its check: True
        when the store keeps the promised size and sha256, False when it keeps no checksum
        and the bytes are to be read back (:meth:`_read_back`). One-part uploads go to their
        session's key, with the checksum signed into their URLs.

        Raises:
            InvalidInputError: there is no such object.
        """
        if head is None:
            raise InvalidInputError(f"upload {session.id} lacks 1 part(s)", {"missing_parts": [1]})
        return head == (session.size, _b64(session.digest))

    def _read_back(self, session: UploadSession, key: str) -> None:
        """Check an upload's object by reading it back: its size, then its sha256.

        Raises:
            DigestMismatchError: the bytes are other than promised (the object is removed).
        """
        actual, size = self._digest_of(key, session.size)
        if actual != session.digest or size != session.size:
            self.client.delete_object(Bucket=self.bucket, Key=key)
            raise DigestMismatchError(
                f"uploaded bytes hash to {actual[:12]}, not {session.digest[:12]}",
                {"expected": session.digest, "actual": actual, "size": size},
            )

    def _digest_of(self, key: str, size: int) -> tuple[str, int]:
        """(sha256, size) of an object expected to hold ``size`` bytes: read in ranges over
        a presigned URL, ``READERS`` at a time, hashed in order as they arrive (see
        blobs/readback.py). Bytes past ``size`` are not read but for one, which makes the
        object longer than promised; an object shorter than ``size`` shows in the size."""
        if size <= READ_RANGE:
            data = self._read_range(key, 0, READ_RANGE + 1)
            return hashlib.sha256(data).hexdigest(), len(data)
        from modelbay.blobs.readback import hashed_ranges

        url = self._presign("get_object", {"Bucket": self.bucket, "Key": key})
        digest, got = hashed_ranges(url, size, READ_RANGE, READERS)
        return digest, got + (len(self._read_range(key, size, 1)) if got == size else 0)

    def _read_range(self, key: str, start: int, length: int) -> bytes:
        """Up to ``length`` bytes of an object from ``start`` (none past its end)."""
        from botocore.exceptions import ClientError

        try:
            resp = self.client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""  # starts past the end
            raise
        body = resp["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def _head_checksum(self, key: str) -> tuple[int, str | None] | None:
        """(size, base64 sha256 as the store keeps it, or None) of an object; None if absent."""
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(head["ContentLength"]), head.get("ChecksumSHA256")

    def touched_at(self, session: UploadSession) -> float | None:
        return None  # ListParts per session would tell, at a request each: age is enough

    def sweep_staging(self, before: float, live: Collection[str]) -> tuple[int, int]:
        """Nothing: a multipart upload nobody completes is for the bucket's lifecycle rule
        (``AbortIncompleteMultipartUpload``) to end; this store reserves no room ahead."""
        return 0, 0

    def abort(self, session: UploadSession) -> None:
        from botocore.exceptions import ClientError

        if session.backend_id is not None:
            with contextlib.suppress(ClientError):
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self._staging(session.id), UploadId=session.backend_id
                )
        self.client.delete_object(Bucket=self.bucket, Key=self._staging(session.id))


def _whole_parts(session: UploadSession, parts: list[dict[str, Any]]) -> dict[int, int]:
    """The parts (number -> size) of a multipart upload listing that have their full size."""
    return {
        int(p["PartNumber"]): int(p["Size"])
        for p in parts
        if int(p["Size"]) == session.part_range(int(p["PartNumber"]))[1]
    }


class SpoolReceiver:
    """Bytes sent to the server for an S3 store (the fallback path; clients normally upload
    with presigned URLs): spooled to a temporary file, so memory stays flat, then uploaded."""

    def __init__(self, store: S3BlobStore, digest: str, size: int | None) -> None:
        import tempfile

        self.store = store
        self.digest = digest
        self.size = size
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)

    def commit(self) -> int:
        self._file.seek(0)
        return self.store.put_stream(
            self.digest, iter(lambda: self._file.read(CHUNK), b""), self.size
        )

    def __enter__(self) -> SpoolReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()
