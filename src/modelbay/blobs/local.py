"""Content-addressed bytes on the local disk.

A blob lives at ``root/ab/cdef...`` named by its sha256. It is written to a temporary file in
``root/tmp``, hashed on the way, flushed, then renamed into place: a crash leaves at most a
stray temporary file, never a partial blob under its digest name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

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
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


class LocalBlobStore:
    """Blobs in a directory; safe for several processes writing the same blob at once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        check_digest(digest)
        return self.root / digest[:2] / digest

    def has(self, digest: str) -> bool:
        return self.path(digest).exists()

    def size(self, digest: str) -> int | None:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def missing(self, digests: Iterable[str]) -> list[str]:
        return [d for d in dict.fromkeys(digests) if not self.has(d)]

    def writer(self, digest: str, size: int | None = None) -> BlobWriter:
        """A writer that hashes what it is given and stores it under ``digest`` on commit."""
        return BlobWriter(self, check_digest(digest), size)

    def put_stream(self, digest: str, chunks: Iterable[bytes], size: int | None = None) -> int:
        """Store the bytes of ``chunks`` under ``digest`` after checking they hash to it.

        Raises:
            DigestMismatchError: the bytes hash to something else, or their size differs.
        """
        target = self.path(digest)
        if target.exists():
            return target.stat().st_size
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

    def copy_to(self, digest: str, dest: Path) -> None:
        """Copy a blob to ``dest``, verifying its digest; ``dest`` appears only when complete.

        Raises:
            DigestMismatchError: the stored bytes are corrupt.
        """
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        h = hashlib.sha256()
        try:
            with self.open(digest) as src, open(tmp, "wb") as out:
                while chunk := src.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
            if h.hexdigest() != digest:
                raise DigestMismatchError(
                    f"stored blob {digest[:12]} is corrupt: it hashes to {h.hexdigest()[:12]}",
                    {"expected": digest, "actual": h.hexdigest()},
                )
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def remove_tree(self) -> None:  # pragma: no cover - test helper
        shutil.rmtree(self.root, ignore_errors=True)


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
