"""Content-addressed bytes on the local disk.

A blob lives at ``root/ab/cdef...`` named by its sha256. It is written to a temporary file in
``root/tmp``, hashed on the way, flushed, then renamed into place: a crash leaves at most a
stray temporary file, never a partial blob under its digest name.

An upload session writes its parts at their offsets into one preallocated file
``root/uploads/<id>`` (no part is copied twice) and marks each finished part with an empty
file in ``root/uploads/<id>.parts/``, so that a killed upload resumes with the parts it lacks.

**Hashing while parts arrive.** A sha256 cannot be assembled from the parts' own hashes, so
a background hasher reads the staging file in order, part by part, as soon as the parts
before are written (a part is hashed while it is flushed, the last one included, which
completion waits for); completing the upload then costs only the parts not yet hashed, instead
of reading the whole file again. This is sound only if the bytes of a hashed part never
change: each part writer first claims its part (``<n>.claim``), and a second claim (a part
sent again: a resumed upload, or two clients sending one blob) leaves a ``rewritten`` flag,
after which completion hashes the whole file as before. The hasher lives in one server
process; a completion in another process (or after a restart) also hashes the whole file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import threading
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from modelbay.blobs import DEFAULT_PART_SIZE, Target, UploadSession, finish_each
from modelbay.blobs.digest import check_digest as check_digest  # also the blob routes'
from modelbay.blobs.digest import sha256_file
from modelbay.errors import (
    DigestMismatchError,
    InvalidInputError,
    NotFoundError,
    StorageFullError,
)
from modelbay.preallocation import NO_ROOM, reserve

CHUNK = 1 << 20
#: The flag left in an upload's markers when a part was sent more than once.
REWRITTEN = "rewritten"
#: Threads that flush a batch of small blobs: concurrent fsyncs share the journal's commits.
FLUSHERS = 16


def _full(exc: OSError, size: int | None, where: int | Path) -> StorageFullError:
    """The typed error for ENOSPC or EDQUOT while storing ``size`` bytes (None: unknown) on
    the filesystem of ``where`` (a descriptor or a path), saying how much room is left."""
    free = None
    with contextlib.suppress(OSError):
        st = os.statvfs(where)
        free = st.f_bavail * st.f_frsize
    said = ([] if size is None else [f"{size:,} bytes needed"]) + (
        [] if free is None else [f"{free:,} free"]
    )
    return StorageFullError(
        f"the blob store's disk is full ({exc.strerror}{''.join(', ' + s for s in said)})",
        {"storage": "blobs", "size": size, "free": free},
    )


@contextlib.contextmanager
def _typed_when_full(size: int | None, where: int | Path) -> Iterator[None]:
    """Turn ENOSPC and EDQUOT from a write or a flush into :class:`StorageFullError`."""
    try:
        yield
    except OSError as exc:
        if exc.errno in NO_ROOM:
            raise _full(exc, size, where) from exc
        raise


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _hashing() -> ThreadPoolExecutor:
    """The threads that hash uploads in order as their parts arrive, shared by every store
    in the process (started on first use)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(2, thread_name_prefix="modelbay-hash")
        return _executor


class LocalBlobStore:
    """Blobs in a directory; safe for several processes writing the same blob at once."""

    kind = "disk"
    part_size = DEFAULT_PART_SIZE

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.uploads = root / "uploads"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.uploads.mkdir(parents=True, exist_ok=True)
        self._hashers: dict[str, _InOrderHash] = {}
        self._hashers_lock = threading.Lock()

    def check(self) -> None:
        """Raise OSError unless the store's directory exists and may be written."""
        if not self.root.is_dir():
            raise FileNotFoundError(f"blob directory {self.root} does not exist")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise PermissionError(f"blob directory {self.root} is not writable")

    def path(self, digest: str) -> Path:
        check_digest(digest)
        return self.root / digest[:2] / digest

    def size(self, digest: str, key: str | None = None) -> int | None:
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
            StorageFullError: the disk has no room for them (nothing is left).
        """
        with self.writer(digest, size) as w:
            for chunk in chunks:
                w.write(chunk)
            return w.commit()

    def put_many(self, blobs: Sequence[tuple[str, bytes]]) -> None:
        """Store small blobs held in memory, after checking each hashes to its digest.

        All are checked before any is written, all are written and flushed before any is
        renamed into place: a batch costs one round of concurrent fsyncs, not one per blob.

        Raises:
            DigestMismatchError: a blob's bytes hash to something else (nothing is stored).
            StorageFullError: the disk has no room for them (nothing is stored).
        """
        for digest, data in blobs:
            actual = hashlib.sha256(data).hexdigest()
            if actual != check_digest(digest):
                raise DigestMismatchError(
                    f"bytes sent for {digest[:12]} hash to {actual[:12]} ({len(data)} bytes)",
                    {"expected": digest, "actual": actual, "size": len(data)},
                )
        tmps: list[Path] = []
        fds: list[int] = []
        try:
            with _typed_when_full(sum(len(d) for _, d in blobs), self.tmp):
                for digest, data in blobs:
                    tmps.append(self.tmp / f"{digest}.{uuid.uuid4().hex}")
                    fds.append(os.open(tmps[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fds[-1], view) :]
                if len(fds) > 1:
                    with ThreadPoolExecutor(min(FLUSHERS, len(fds))) as pool:
                        for _ in pool.map(os.fsync, fds):
                            pass
                elif fds:
                    os.fsync(fds[0])
                for (digest, _), tmp in zip(blobs, tmps, strict=True):
                    target = self.path(digest)
                    target.parent.mkdir(exist_ok=True)
                    os.replace(tmp, target)
        finally:
            for fd in fds:
                os.close(fd)
            for tmp in tmps:
                tmp.unlink(missing_ok=True)

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

    def iter_bytes(self, digest: str, key: str | None = None) -> Iterator[bytes]:
        with self.open(digest) as f:
            while chunk := f.read(CHUNK):
                yield chunk

    def delete(self, digest: str, key: str | None = None) -> None:
        self.path(digest).unlink(missing_ok=True)

    def download_target(self, digest: str, key: str | None = None) -> Target | None:
        return None  # served by the server itself

    def close(self) -> None:
        pass  # nothing held open between calls

    # -- upload sessions ----------------------------------------------------------------------

    def _staging(self, session: UploadSession) -> Path:
        return self.uploads / session.id

    def _markers(self, session: UploadSession) -> Path:
        return self.uploads / f"{session.id}.parts"

    def begin(self, session: UploadSession) -> str | None:
        """Create the session's staging file, its room reserved (see modelbay/preallocation.py).

        Raises:
            StorageFullError: the disk has no room for the whole blob (nothing is left).
        """
        staging = self._staging(session)
        try:
            with _typed_when_full(session.size, self.uploads):
                with open(staging, "ab") as f:
                    reserve(f.fileno(), session.size)
                self._markers(session).mkdir(exist_ok=True)
        except BaseException:
            self.abort(session)
            raise
        return None

    def _hasher(self, session: UploadSession, create: bool) -> _InOrderHash | None:
        with self._hashers_lock:
            hasher = self._hashers.get(session.id)
            if hasher is None and create:
                hasher = self._hashers[session.id] = _InOrderHash(self, session)
            return hasher

    def _part_stored(self, session: UploadSession, written: int | None = None) -> None:
        """Called after a part is marked stored, or (``written``: its number) once all its
        bytes are written, before they are flushed: hash what is now contiguous, in the
        background."""
        if session.parts > 1:
            hasher = self._hasher(session, create=True)
            assert hasher is not None
            if written is not None:
                hasher.written(written)
            _hashing().submit(hasher.advance)

    def _whole_digest(self, session: UploadSession, fd: int) -> tuple[str, int]:
        """(sha256, size) of the assembled staging file, read again only where needed;
        the caller holds the exclusive lock (no part writer is left inside the file)."""
        markers = self._markers(session)
        if not (markers / REWRITTEN).exists():
            if session.parts == 1:
                seen = (markers / "1").read_text()  # hashed by its writer on the way in
            else:
                hasher = self._hasher(session, create=False)
                seen = (hasher.finish() if hasher is not None else None) or ""
            if seen:
                return seen, os.fstat(fd).st_size
        return sha256_file(self._staging(session))

    def _forget(self, session: UploadSession) -> None:
        with self._hashers_lock:
            self._hashers.pop(session.id, None)

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

    def stored_parts(self, session: UploadSession) -> dict[int, int] | None:
        """The parts marked stored; None when the staging file or its markers are gone."""
        try:
            names = os.listdir(self._markers(session))
        except FileNotFoundError:
            return None
        if not self._staging(session).exists():
            return None
        return {int(n): session.part_range(int(n))[1] for n in names if n.isdigit()}

    def stored_key(self, session: UploadSession) -> str | None:
        return None  # finish() renames the bytes to their digest's name

    def finish(self, session: UploadSession) -> None:
        """Check every part is there and the whole hashes to the digest, then move it in place.

        Raises:
            InvalidInputError: parts are missing.
            NotFoundError: the session's staging file is gone (aborted or finished).
            DigestMismatchError: the assembled bytes hash to something else.
            StorageFullError: no room for the blob's folder (its bytes stay staged).
        """
        stored = self.stored_parts(session)
        if stored is None:
            raise NotFoundError(f"upload {session.id} is not open")
        missing = set(range(1, session.parts + 1)) - set(stored)
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
            actual, size = self._whole_digest(session, fd)
            if actual != session.digest or size != session.size:
                self.abort(session)
                raise DigestMismatchError(
                    f"uploaded bytes hash to {actual[:12]}, not {session.digest[:12]}",
                    {"expected": session.digest, "actual": actual, "size": size},
                )
            target = self.path(session.digest)
            with _typed_when_full(None, self.root):
                target.parent.mkdir(exist_ok=True)
            os.replace(staging, target)
            shutil.rmtree(self._markers(session), ignore_errors=True)
            self._forget(session)
        finally:
            os.close(fd)

    def finish_many(self, sessions: Sequence[UploadSession]) -> list[BaseException | None]:
        return finish_each(self.finish, sessions)

    def abort(self, session: UploadSession) -> None:
        self._forget(session)
        self._staging(session).unlink(missing_ok=True)
        shutil.rmtree(self._markers(session), ignore_errors=True)

    def touched_at(self, session: UploadSession) -> float | None:
        """The staging file's mtime: every part written moves it."""
        try:
            return self._staging(session).stat().st_mtime
        except FileNotFoundError:
            return None

    def sweep_staging(self, before: float, live: Collection[str]) -> tuple[int, int]:
        """Staging files (and their markers) of sessions not in ``live``, untouched since
        ``before``: a session begun here whose database row was never written (the server
        stopped in between), or whose abort failed. Each holds its blob's whole size."""
        removed = freed = 0
        with os.scandir(self.uploads) as entries:
            for entry in entries:
                upload_id = entry.name.removesuffix(".parts")
                if upload_id in live:
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if st.st_mtime >= before:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                    removed += 1
                    freed += st.st_blocks * 512
        return removed, freed


class BlobWriter:
    """Receives a blob's bytes into a temporary file; ``commit`` verifies and renames it."""

    def __init__(self, store: LocalBlobStore, digest: str, size: int | None) -> None:
        self.store = store
        self.digest = digest
        self.size = size
        self.tmp = store.tmp / f"{digest}.{uuid.uuid4().hex}"
        with _typed_when_full(size, store.tmp):
            self._file = open(self.tmp, "wb")  # noqa: SIM115 - closed in commit() or __exit__
            try:
                if size:  # its room, up front (see modelbay/preallocation.py)
                    reserve(self._file.fileno(), size)
            except BaseException:
                self._file.close()
                self.tmp.unlink(missing_ok=True)
                raise
        self._hash = hashlib.sha256()
        self.written = 0

    def write(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        with _typed_when_full(self.size, self.store.tmp):
            self._file.write(chunk)
        self.written += len(chunk)

    def commit(self) -> int:
        """Verify and store; returns the size.

        Raises:
            DigestMismatchError: the bytes hash to something else, or their size differs.
        """
        with _typed_when_full(self.size, self.store.tmp):
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
        with _typed_when_full(None, self.store.root):
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
        try:
            with _typed_when_full(self.length, store.uploads):
                self._claim(store._markers(session))
        except BaseException:
            os.close(self.fd)
            raise
        # A one-part upload is hashed on the way in, so that finish() need not read it again.
        self.hash = hashlib.sha256() if session.parts == 1 else None
        self.written = 0

    def _claim(self, markers: Path) -> None:
        """Mark the part as being sent; flag the session if it was sent before (its bytes
        may then change after they were hashed in order).

        Raises:
            NotFoundError: the session's markers are gone (completed or aborted).
        """
        try:
            os.close(
                os.open(markers / f"{self.number}.claim", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            )
        except FileExistsError:
            with contextlib.suppress(FileNotFoundError):
                (markers / REWRITTEN).touch()
        except FileNotFoundError:
            raise NotFoundError(f"upload {self.session.id} is not open") from None

    def write(self, chunk: bytes) -> None:
        if self.written + len(chunk) > self.length:
            raise InvalidInputError(f"part {self.number} is longer than {self.length} bytes")
        if self.hash is not None:
            self.hash.update(chunk)
        view = memoryview(chunk)
        with _typed_when_full(self.length, self.fd):
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
        marker = self.store._markers(self.session) / str(self.number)
        # Hashed while it is flushed: a part that is then not marked stored is sent again,
        # and a part sent twice makes completion hash the whole file (see the docstring).
        self.store._part_stored(self.session, self.number)
        try:
            with _typed_when_full(self.length, self.fd):
                os.fsync(self.fd)
                marker.write_text(self.hash.hexdigest() if self.hash is not None else "")
        except FileNotFoundError:  # completed meanwhile by another client
            raise NotFoundError(f"upload {self.session.id} is not open") from None
        self.store._part_stored(self.session)
        return self.written

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


class _InOrderHash:
    """The sha256 of an upload's staging file, advanced over its parts in order as each
    becomes stored (see the module docstring)."""

    def __init__(self, store: LocalBlobStore, session: UploadSession) -> None:
        self.store = store
        self.session = session
        self.hash = hashlib.sha256()
        self.next = 1  # the first part not hashed yet
        self.failed = False
        self._lock = threading.Lock()
        self._written: set[int] = set()  # parts whose bytes are all written (not flushed)

    def written(self, number: int) -> None:
        """Part ``number`` has all its bytes written by its (only) writer."""
        self._written.add(number)

    def advance(self) -> None:
        """Hash every stored part from ``next`` on, up to the first one missing."""
        with self._lock:
            if self.failed:
                return
            markers = self.store._markers(self.session)
            try:
                with open(self.store._staging(self.session), "rb", buffering=0) as f:
                    buf = bytearray(CHUNK)
                    while self.next <= self.session.parts and (
                        self.next in self._written or (markers / str(self.next)).exists()
                    ):
                        offset, length = self.session.part_range(self.next)
                        while length:
                            n = os.preadv(
                                f.fileno(), [memoryview(buf)[: min(CHUNK, length)]], offset
                            )
                            if n <= 0:
                                raise OSError("the staging file is shorter than its parts")
                            self.hash.update(memoryview(buf)[:n])
                            offset += n
                            length -= n
                        self.next += 1
            except OSError:
                self.failed = True  # finished, aborted, or unreadable: hash the whole at the end

    def finish(self) -> str | None:
        """The whole file's digest, hashing the parts still left; None if it cannot tell."""
        self.advance()
        with self._lock:
            if self.failed or self.next <= self.session.parts:
                return None
            return self.hash.hexdigest()
