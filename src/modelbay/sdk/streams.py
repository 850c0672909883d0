"""Bytes between files and the wire: files read in ranges, downloads written atomically and
verified against their sha256 (hashed on a helper thread once they prove large)."""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from modelbay.errors import DigestMismatchError, InvalidInputError

Progress = Callable[[int], None] | None
CHUNK = 1 << 20


def read_range(path: Path, offset: int, length: int, progress: Progress = None) -> Iterator[bytes]:
    """The bytes ``[offset, offset+length)`` of a file, a chunk at a time (nothing staged).

    Raises:
        InvalidInputError: the file is shorter than that (it changed since it was hashed).
    """
    with open(path, "rb") as f:
        f.seek(offset)
        remaining = length
        while remaining > 0:
            chunk = f.read(min(CHUNK, remaining))
            if not chunk:
                raise InvalidInputError(f"{path} changed while it was being uploaded")
            remaining -= len(chunk)
            if progress:
                progress(len(chunk))
            yield chunk


def read_whole(path: Path, size: int) -> bytes:
    """All ``size`` bytes of a (small) file.

    Raises:
        InvalidInputError: the file has another size now (it changed since it was hashed).
    """
    with open(path, "rb") as f:
        data = f.read(size + 1)
    if len(data) != size:
        raise InvalidInputError(f"{path} changed while it was being uploaded")
    return data


def counted(chunks: Iterable[bytes], progress: Progress) -> Iterator[bytes]:
    for chunk in chunks:
        if progress:
            progress(len(chunk))
        yield chunk


class StreamHash:
    """The sha256 of a stream, computed on a helper thread once the stream has proved long:
    hashlib releases the GIL, so a large download is hashed while it is received and
    written rather than in turn. Chunks must not change after :meth:`update`."""

    INLINE = 8 << 20  # the first bytes are hashed inline: a thread costs more than they do
    BATCH = 1 << 20

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._seen = 0
        self._batch: list[bytes] = []
        self._held = 0
        self._queue: queue.Queue[list[bytes] | None] | None = None
        self._thread: threading.Thread | None = None

    def update(self, chunk: bytes) -> None:
        self._seen += len(chunk)
        if self._queue is None:
            if self._seen <= self.INLINE:
                self._hash.update(chunk)
                return
            self._queue = queue.Queue(maxsize=16)  # at most 16 MiB waiting
            self._thread = threading.Thread(target=self._run, name="modelbay-hash", daemon=True)
            self._thread.start()
        self._batch.append(chunk)
        self._held += len(chunk)
        if self._held >= self.BATCH:
            self._queue.put(self._batch)
            self._batch, self._held = [], 0

    def _run(self) -> None:
        assert self._queue is not None
        while (batch := self._queue.get()) is not None:
            for chunk in batch:
                self._hash.update(chunk)

    def hexdigest(self) -> str:
        """The digest of everything given; stops the helper thread."""
        if self._queue is not None:
            self._queue.put(self._batch)
            self._batch = []
        self.close()
        return self._hash.hexdigest()

    def close(self) -> None:
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        self._queue = self._thread = None


def atomic_verified_write(dest: Path, digest: str, chunks: Any) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:12]}.part")
    h = StreamHash()
    try:
        with open(tmp, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
                h.update(chunk)
        actual = h.hexdigest()
        if actual != digest:
            raise DigestMismatchError(
                f"download of {dest.name} is corrupt: expected sha256 {digest[:12]}, got {actual[:12]}",
                {"expected": digest, "actual": actual, "path": str(dest)},
            )
        os.replace(tmp, dest)
    finally:
        h.close()
        tmp.unlink(missing_ok=True)
