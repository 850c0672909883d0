"""Content-addressed bytes: the disk backend and the S3 backend behind one interface.

Bytes are named by their sha256 and never change. A large file goes up as an *upload
session* in parts, possibly over several attempts: each part lands where the backend says
(the server itself for the disk backend, a presigned S3 URL for S3), and ``finish`` checks
the whole against the promised size and digest before it is recorded as stored.

Where the bytes end up is the backend's: the disk store renames them to their digest's name;
an object store leaves them under the key their upload wrote (:meth:`BlobBackend.stored_key`),
which the service records with the blob, and reads, presigns and deletes that key (``key``
below; None: the digest's own name, as for blobs stored before keys were recorded).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

MIB = 1 << 20
#: Bytes per part of an upload session on the disk store (each store says its own: see
#: ``BlobBackend.part_size``). The disk store hashes parts in order as they arrive (see
#: blobs/local.py): smaller parts leave less to hash when the upload completes, but each part
#: is a request, a flush and a marker, on the critical path of a file sent while it is
#: hashed. On the disk store, files up to a part's size go whole, in one request.
DEFAULT_PART_SIZE = 64 * MIB
MAX_PARTS = 10_000
MAX_BLOB_SIZE = 5 * (1 << 40)


@dataclass(frozen=True)
class UploadSession:
    """An upload of one blob, in ``parts`` parts of ``part_size`` bytes (the last may be shorter).

    ``sha256`` is None while a *provisional* session (opened by a client that hashes the file
    as it sends it) has not been told its digest; it is given at completion.
    """

    id: str
    sha256: str | None
    size: int
    part_size: int
    backend_id: str | None = None

    @property
    def digest(self) -> str:
        """The digest the bytes must hash to (a provisional session has one only once its
        client names it at completion)."""
        if self.sha256 is None:
            raise ValueError(f"upload {self.id} has no digest yet")
        return self.sha256

    @property
    def parts(self) -> int:
        return max(1, -(-self.size // self.part_size))

    def part_range(self, number: int) -> tuple[int, int]:
        """(offset, length) of part ``number`` (1-based)."""
        offset = (number - 1) * self.part_size
        return offset, max(0, min(self.part_size, self.size - offset))


def part_size_for(size: int, preferred: int = DEFAULT_PART_SIZE) -> int:
    """The part size: ``preferred``, grown so that no upload needs more than 10,000 parts."""
    return max(preferred, -(-size // MAX_PARTS))


@dataclass(frozen=True)
class Target:
    """Where a client sends (or fetches) bytes: an absolute presigned URL, or None for the server."""

    url: str
    method: str = "PUT"
    headers: dict[str, str] = field(default_factory=dict)


class Receiver(Protocol):
    """Bytes arriving at the server: ``write`` each chunk, then ``commit`` (verify and store)."""

    def write(self, chunk: bytes) -> None: ...

    def commit(self) -> int: ...

    def __enter__(self) -> Receiver: ...

    def __exit__(self, *exc: object) -> None: ...


class BlobBackend(Protocol):
    kind: str
    #: Bytes per part of the upload sessions this store is sent, unless the server is told
    #: another size (``Settings.upload_part_size``).
    part_size: int

    def check(self) -> None:
        """Raise when the store cannot be reached or written (a readiness probe)."""
        ...

    def size(self, digest: str, key: str | None = None) -> int | None: ...

    def put_stream(self, digest: str, chunks: Iterable[bytes], size: int | None = None) -> int: ...

    def put_many(self, blobs: Sequence[tuple[str, bytes]]) -> None: ...

    def iter_bytes(self, digest: str, key: str | None = None) -> Iterator[bytes]: ...

    def delete(self, digest: str, key: str | None = None) -> None: ...

    def begin(self, session: UploadSession) -> str | None: ...

    def part_target(self, session: UploadSession, number: int) -> Target | None: ...

    def part_writer(self, session: UploadSession, number: int) -> Receiver: ...

    def receiver(self, digest: str, size: int | None) -> Receiver: ...

    def stored_parts(self, session: UploadSession) -> dict[int, int] | None:
        """The parts already stored (number -> size); None when the session can take no
        more parts (its staging file or multipart upload is gone)."""
        ...

    def finish(self, session: UploadSession) -> None: ...

    def stored_key(self, session: UploadSession) -> str | None:
        """Where a finished session's bytes stay, to be recorded with its blob; None: under
        the digest's own name."""
        ...

    def finish_many(self, sessions: Sequence[UploadSession]) -> list[BaseException | None]:
        """:meth:`finish` each session; one outcome per session, in order: None, or the
        exception its finish raised (each is tried whatever the others' outcomes)."""
        ...

    def abort(self, session: UploadSession) -> None: ...

    def touched_at(self, session: UploadSession) -> float | None:
        """When the session last took bytes (epoch seconds), where the store can tell at
        little cost; None where it cannot."""
        ...

    def sweep_staging(self, before: float, live: Collection[str]) -> tuple[int, int]:
        """Remove what sessions not in ``live`` left in the store, untouched since
        ``before`` (a session whose database row was never written, or whose abort failed);
        returns how many and their bytes."""
        ...

    def download_target(self, digest: str, key: str | None = None) -> Target | None: ...

    def close(self) -> None:
        """Let go of connections; the store is not used afterwards."""
        ...


def finish_each(
    finish: Callable[[UploadSession], None], sessions: Sequence[UploadSession], workers: int = 8
) -> list[BaseException | None]:
    """Run ``finish`` on each session, ``workers`` at a time; each one's outcome, in order:
    None, or the exception it raised."""

    def one(session: UploadSession) -> BaseException | None:
        try:
            finish(session)
        except BaseException as exc:  # the caller settles every session either way
            return exc
        return None

    if not sessions:
        return []
    with ThreadPoolExecutor(min(workers, len(sessions))) as pool:
        return list(pool.map(one, sessions))


def open_backend(
    spec: str | None, default_root: object, *, s3_endpoint_url: str | None = None
) -> BlobBackend:
    """``None`` or a path: the disk backend; ``s3://bucket/prefix``: S3."""
    from pathlib import Path

    from modelbay.blobs.local import LocalBlobStore

    if spec and spec.startswith("s3://"):
        from modelbay.extras import require

        require("s3", f"the blob store {spec}")
        from modelbay.blobs.s3 import S3BlobStore

        return S3BlobStore.from_url(spec, endpoint_url=s3_endpoint_url)
    root = Path(spec) if spec else Path(str(default_root))
    return LocalBlobStore(root)
