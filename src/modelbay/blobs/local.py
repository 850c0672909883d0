"""Content-addressed bytes on the local disk.

A blob lives at ``root/ab/cdef...`` named by its sha256. It is written to a temporary file in
``root/tmp``, hashed on the way, flushed, then renamed into place: a crash leaves at most a
stray temporary file, never a partial blob under its digest name.

An upload session writes its parts at their offsets into one preallocated file
``root/uploads/<id>`` (no part is copied twice) and marks each finished part with an empty
file in ``root/uploads/<id>.parts/``, so that a killed upload resumes with the parts it lacks.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from modelbay.blobs import Target, UploadSession
from modelbay.errors import DigestMismatchError, InvalidInputError, NotFoundError

CHUNK = 1 << 20
HEX = frozenset("0123456789abcdef")


def check_digest(digest: object) -> str:
    """Return ``digest`` if it is a lowercase hex sha256.

    Raises:
        InvalidInputError: otherwise.
    """
    if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= HEX:
        raise InvalidInputError(f"invalid sha256 digest {str(digest)[:80]!r}", {"field": "sha256"})
    return digest


def sha256_file(path: Path | str) -> tuple[str, int]:
    """Hash a file streaming; returns (hex digest, size)."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
            size += n
    return h.hexdigest(), size


class LocalBlobStore:
    """Blobs in a directory; safe for several processes writing the same blob at once."""

    kind = "disk"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.uploads = root / "uploads"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.uploads.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        check_digest(digest)
        return self.root / digest[:2] / digest

    def size(self, digest: str) -> int | None:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def writer(self, digest: str, size: int | None = None) -> BlobWriter:
        """A writer that hashes what it is given and stores it under ``digest`` on commit."""
        return BlobWriter(self, check_digest(digest), size)

    def put_stream(self, digest: str, chunks: Iterable[bytes], size: int | None = None) -> int:
        """Store the bytes of ``chunks`` under ``digest`` after checking they hash to it.

        Raises:
            DigestMismatchError: the bytes hash to something else, or their size differs.
        """
        with self.writer(digest, size) as w:
            for chunk in chunks:
                w.write(chunk)
            return w.commit()

    def put_file(self, digest: str, source: Path) -> int:
        with open(source, "rb") as f:
            return self.put_stream(digest, iter(lambda: f.read(CHUNK), b""))

    def open(self, digest: str) -> BinaryIO:
        """Open a stored blob for reading.

        Raises:
            NotFoundError: no such blob.
        """
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest[:12]} is not stored", {"sha256": digest}) from None

    def iter_bytes(self, digest: str) -> Iterator[bytes]:
        with self.open(digest) as f:
            while chunk := f.read(CHUNK):
                yield chunk

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def download_target(self, digest: str) -> Target | None:
        return None  # served by the server itself

    # -- upload sessions ----------------------------------------------------------------------

    def _staging(self, session: UploadSession) -> Path:
        return self.uploads / session.id

    def _markers(self, session: UploadSession) -> Path:
        return self.uploads / f"{session.id}.parts"

    def begin(self, session: UploadSession) -> str | None:
        staging = self._staging(session)
        with open(staging, "ab") as f:
            f.truncate(session.size)
        self._markers(session).mkdir(exist_ok=True)
        return None

    def part_target(self, session: UploadSession, number: int) -> Target | None:
        return None  # parts are sent to the server, which writes them here

    def part_writer(self, session: UploadSession, number: int) -> PartWriter:
        """A writer for part ``number``: bytes go straight to their offset in the staging file.

        Raises:
            InvalidInputError: a part number out of range.
            NotFoundError: the session's staging file is gone (aborted or finished).
        """
        return PartWriter(self, session, number)

    def receiver(self, digest: str, size: int | None) -> BlobWriter:
        return self.writer(digest, size)

    def stored_parts(self, session: UploadSession) -> dict[int, int]:
        try:
            names = os.listdir(self._markers(session))
        except FileNotFoundError:
            return {}
        return {int(n): session.part_range(int(n))[1] for n in names if n.isdigit()}

    def finish(self, session: UploadSession) -> None:
        """Check every part is there and the whole hashes to the digest, then move it in place.

        Raises:
            InvalidInputError: parts are missing.
            DigestMismatchError: the assembled bytes hash to something else.
        """
        missing = set(range(1, session.parts + 1)) - set(self.stored_parts(session))
        if missing:
            raise InvalidInputError(
                f"upload {session.id} lacks {len(missing)} part(s)",
                {"missing_parts": sorted(missing)[:100]},
            )
        staging = self._staging(session)
        try:
            fd = os.open(staging, os.O_RDONLY)
        except FileNotFoundError:
            raise NotFoundError(f"upload {session.id} is not open") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # no part writer is left inside the file
            seen = (self._markers(session) / "1").read_text() if session.parts == 1 else ""
            actual, size = (seen, os.fstat(fd).st_size) if seen else sha256_file(staging)
            if actual != session.sha256 or size != session.size:
                self.abort(session)
                raise DigestMismatchError(
                    f"uploaded bytes hash to {actual[:12]}, not {session.sha256[:12]}",
                    {"expected": session.sha256, "actual": actual, "size": size},
                )
            target = self.path(session.sha256)
            target.parent.mkdir(exist_ok=True)
            os.replace(staging, target)
            shutil.rmtree(self._markers(session), ignore_errors=True)
        finally:
            os.close(fd)

    def abort(self, session: UploadSession) -> None:
        self._staging(session).unlink(missing_ok=True)
        shutil.rmtree(self._markers(session), ignore_errors=True)


class BlobWriter:
    """Receives a blob's bytes into a temporary file; ``commit`` verifies and renames it."""

    def __init__(self, store: LocalBlobStore, digest: str, size: int | None) -> None:
        self.store = store
        self.digest = digest
        self.size = size
        self.tmp = store.tmp / f"{digest}.{uuid.uuid4().hex}"
        self._file = open(self.tmp, "wb")  # noqa: SIM115 - closed in commit() or __exit__
        self._hash = hashlib.sha256()
        self.written = 0

    def write(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self._file.write(chunk)
        self.written += len(chunk)

    def commit(self) -> int:
        """Verify and store; returns the size.

        Raises:
            DigestMismatchError: the bytes hash to something else, or their size differs.
        """
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        actual = self._hash.hexdigest()
        if actual != self.digest or (self.size is not None and self.written != self.size):
            raise DigestMismatchError(
                f"bytes sent for {self.digest[:12]} hash to {actual[:12]} ({self.written} bytes)",
                {"expected": self.digest, "actual": actual, "size": self.written},
            )
        target = self.store.path(self.digest)
        target.parent.mkdir(exist_ok=True)
        os.replace(self.tmp, target)
        return self.written

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._file.closed:
            self._file.close()
        self.tmp.unlink(missing_ok=True)


class PartWriter:
    """Writes one part of an upload session at its offset; the part counts once committed."""

    def __init__(self, store: LocalBlobStore, session: UploadSession, number: int) -> None:
        if not 1 <= number <= session.parts:
            raise InvalidInputError(f"part {number} is out of range 1..{session.parts}")
        self.store = store
        self.session = session
        self.number = number
        self.offset, self.length = session.part_range(number)
        staging = store._staging(session)
        try:
            self.fd = os.open(staging, os.O_WRONLY)
        except FileNotFoundError:
            raise NotFoundError(f"upload {session.id} is not open") from None
        # Writers share a lock that finish() takes exclusively before it renames the file into
        # place; a writer that waited for it must not write into what is now a stored blob.
        fcntl.flock(self.fd, fcntl.LOCK_SH)
        try:
            current = os.stat(staging).st_ino
        except FileNotFoundError:
            current = None
        if current != os.fstat(self.fd).st_ino:
            os.close(self.fd)
            raise NotFoundError(f"upload {session.id} is not open")
        # A one-part upload is hashed on the way in, so that finish() need not read it again.
        self.hash = hashlib.sha256() if session.parts == 1 else None
        self.written = 0

    def write(self, chunk: bytes) -> None:
        if self.written + len(chunk) > self.length:
            raise InvalidInputError(f"part {self.number} is longer than {self.length} bytes")
        if self.hash is not None:
            self.hash.update(chunk)
        view = memoryview(chunk)
        while view:
            n = os.pwrite(self.fd, view, self.offset + self.written)
            view = view[n:]
            self.written += n

    def commit(self) -> int:
        """Flush the part and mark it stored.

        Raises:
            InvalidInputError: the part is shorter than it must be.
        """
        if self.written != self.length:
            raise InvalidInputError(
                f"part {self.number} has {self.written} bytes, not {self.length}"
            )
        os.fsync(self.fd)
        marker = self.store._markers(self.session) / str(self.number)
        try:
            marker.write_text(self.hash.hexdigest() if self.hash is not None else "")
        except FileNotFoundError:  # completed meanwhile by another client
            raise NotFoundError(f"upload {self.session.id} is not open") from None
        return self.written

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)
