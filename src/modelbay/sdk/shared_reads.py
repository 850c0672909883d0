"""A large file read once, for its sha256 and for the parts that send it to the server.

A new file sent while it is hashed (sdk/transfer.py) was read twice: by the hash, ahead, and
again by each part's sender. Here reader threads read it in order, a chunk at a time, into a
few reused buffers; the hash takes each chunk in turn, and the part senders send the same
buffers. The hash never waits for the senders: when every buffer is taken, the oldest chunk
already hashed and not being sent gives up its buffer, and a sender that still needs that
chunk reads it again itself. So a slow network still lets the hash end early, and a copy of
bytes the server stores already stops then.

Chunks the page cache holds are copied from it; the others are read with ``O_DIRECT`` into
the reused buffers. Reading a cold file through the page cache costs CPU for every new page it
fills, on the benchmark's VM more than hashing the bytes; a file sent once gains nothing from
being cached. A chunk counts as cached when a one-page ``RWF_NOWAIT`` read of its start
succeeds, on a descriptor that reads nothing ahead (``POSIX_FADV_RANDOM``), so that asking
does not start the read it avoids. Where ``O_DIRECT`` is missing or refused (some
filesystems), chunks are read through the page cache.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import math
import mmap
import os
import stat
import threading
import time
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Any

from modelbay.errors import InvalidInputError

#: Bytes per chunk at most (each O_DIRECT read asks for one chunk).
CHUNK = 4 << 20
#: Bytes of buffers one shared read holds.
BUFFER_BYTES = 48 << 20
#: How much slower than its own pace senders may make the hash (see _take_buffer).
LAG = 3
#: Threads reading ahead of the hash (O_DIRECT reads wait for the disk: two keep it busy).
READERS = 2
PAGE = mmap.PAGESIZE


def chunk_for(parts: list[dict[str, Any]]) -> int | None:
    """The chunk size for sending ``parts`` (each part a whole number of chunks), or None when
    their offsets are not aligned to pages (they are then read by their senders)."""
    chunk = math.gcd(CHUNK, *(int(p["offset"]) for p in parts))
    return chunk if chunk % PAGE == 0 else None


class _File:
    """Reads chunks of a regular file at page-aligned offsets (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Opened without blocking, then checked to be a regular file (as sha256_file does).
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.direct: int | None = None
        try:
            if not stat.S_ISREG(os.fstat(self.fd).st_mode):
                raise InvalidInputError(f"{path} is not a regular file", {"path": str(path)})
            with contextlib.suppress(AttributeError, OSError):
                direct = os.open(path, os.O_RDONLY | os.O_DIRECT)
                try:
                    os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_RANDOM)  # see _cached
                except OSError:
                    os.close(direct)
                    raise
                self.direct = direct
        except BaseException:
            self.close()
            raise
        self.use_direct = self.direct is not None

    def read(self, buf: memoryview, offset: int, cached: bool | None = None) -> tuple[int, bool]:
        """Fill ``buf`` (page-aligned) from ``offset``: the bytes read (fewer only at the end
        of the file), and whether they came through the page cache. ``cached`` says that
        without asking (a chunk read again: asking caches the page it asks about)."""
        got = 0
        if cached is None:
            cached = not self.use_direct or self._cached(buf, offset)
        if not cached and self.direct is not None:
            try:
                while got < len(buf) and (n := os.preadv(self.direct, [buf[got:]], offset + got)):
                    got += n
                    if got % PAGE:  # the end of the file: what follows is not aligned
                        break
            except OSError as exc:
                if exc.errno != errno.EINVAL or got:
                    raise
                self.use_direct = False  # refused by this filesystem: through the page cache
                with contextlib.suppress(OSError):
                    os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_NORMAL)  # reading ahead
                cached = True
        while got < len(buf) and (n := os.preadv(self.fd, [buf[got:]], offset + got)):
            got += n
        return got, cached

    def _cached(self, buf: memoryview, offset: int) -> bool:
        """Whether the page at ``offset`` is in the page cache (or that cannot be asked)."""
        try:
            return os.preadv(self.fd, [buf[:PAGE]], offset, os.RWF_NOWAIT) > 0
        except BlockingIOError:
            return False
        except (AttributeError, OSError):  # RWF_NOWAIT unknown here: read as before
            return True

    def close(self) -> None:
        os.close(self.fd)
        if self.direct is not None:
            os.close(self.direct)
            self.direct = None


class _Chunk:
    __slots__ = ("buf", "hashed", "n", "sending", "sent")

    def __init__(self, buf: memoryview, n: int) -> None:
        self.buf = buf
        self.n = n
        self.hashed = False
        self.sending = 0
        self.sent = False


class SharedReads:
    """The chunks of one file, read once in order by reader threads, for :meth:`hash` and
    for :meth:`part`. :meth:`close` stops the readers and closes the file.

    Raises:
        InvalidInputError: ``path`` is not a regular file.
        OSError: it cannot be opened.
    """

    def __init__(self, path: Path, chunk: int, sends: Iterable[tuple[int, int]]) -> None:
        self.chunk = chunk
        #: The chunks some sender will ask for: those of ``sends``, (offset, length) pairs.
        self._wanted = {
            i
            for offset, length in sends
            for i in range(offset // chunk, -(-(offset + length) // chunk))
        }
        self._sending_over = False
        self.file = _File(path)
        count = max(READERS + 4, BUFFER_BYTES // chunk)
        self._memory = mmap.mmap(-1, count * chunk)  # page-aligned, as O_DIRECT needs
        view = memoryview(self._memory)
        self._free = [view[i * chunk : (i + 1) * chunk] for i in range(count)]
        self._chunks: dict[int, _Chunk] = {}
        self._next = 0  # the next chunk to read
        self._hashed = 0  # the next chunk to hash
        self._end: int | None = None  # the first chunk past the end of the file, once seen
        self._cached: set[int] = set()  # the chunks read through the page cache
        #: Seconds hashing a chunk takes (a running mean), to wait for a buffer to come free.
        self._patience = chunk / 1e9
        self.given_up = 0  # chunks whose buffers were taken back before they were sent
        self._hash_waits: float | None = None  # since when the hash waits for its next chunk
        self._error: BaseException | None = None
        self._closed = False
        self._changed = threading.Condition()
        self._own = threading.local()  # a sender's own buffer, for chunks given up
        self._readers = [
            threading.Thread(target=self._read, name="modelbay-read", daemon=True)
            for _ in range(READERS)
        ]
        for t in self._readers:
            t.start()

    def _read(self) -> None:
        while True:
            with self._changed:
                buf = self._take_buffer()
                if buf is None:
                    return
                i = self._next
                self._next += 1
            try:
                n, cached = self.file.read(buf, i * self.chunk)
            except BaseException as exc:
                with self._changed:
                    self._error = self._error or exc
                    self._changed.notify_all()
                return
            with self._changed:
                if cached:
                    self._cached.add(i)
                if n < self.chunk:  # the end of the file: chunk i is its last, or past it
                    last = i + 1 if n else i
                    self._end = last if self._end is None else min(self._end, last)
                if n:
                    self._chunks[i] = c = _Chunk(buf, n)
                    c.sent = i not in self._wanted or self._sending_over
                else:
                    self._free.append(buf)
                self._changed.notify_all()

    def _take_buffer(self) -> memoryview | None:
        """A buffer for the next chunk; None once there is nothing more to read. Holds the
        lock. When none is free, the oldest chunk hashed and not being sent gives up its
        buffer, once the hash has waited for its next chunk LAG times as long as hashing a
        chunk takes: senders at least 1/(LAG+1) as fast as the hash keep every chunk they
        send, and slower ones slow the hash down no more than that."""
        while True:
            if self._closed or self._error is not None:
                return None
            if self._end is not None and self._next >= self._end:
                return None
            if self._free:
                return self._free.pop()
            done = [i for i, c in self._chunks.items() if c.hashed and not c.sending]
            timeout = None
            if done and self._sending_over:
                return self._chunks.pop(min(done)).buf
            if done and self._hash_waits is not None:
                timeout = self._hash_waits + LAG * self._patience - time.monotonic()
                if timeout <= 0:
                    self.given_up += 1
                    return self._chunks.pop(min(done)).buf
            self._changed.wait(timeout)

    def hash(self) -> tuple[str, int]:
        """The file's (sha256, size), hashed as the readers bring its chunks.

        Raises:
            OSError: a read failed.
        """
        h = hashlib.sha256()
        size = 0
        while True:
            with self._changed:
                i = self._hashed
                while i not in self._chunks:
                    if self._error is not None:
                        raise self._error
                    if self._end is not None and i >= self._end:
                        return h.hexdigest(), size
                    if self._hash_waits is None:
                        self._hash_waits = time.monotonic()
                        self._changed.notify_all()  # readers short of buffers: see _take_buffer
                    self._changed.wait()
                self._hash_waits = None
                c = self._chunks[i]
            t = time.monotonic()
            h.update(c.buf[: c.n])
            self._patience = (self._patience + time.monotonic() - t) / 2
            size += c.n
            with self._changed:
                c.hashed = True
                self._hashed = i + 1
                if c.sent:
                    self._release(i)
                self._changed.notify_all()

    def part(self, offset: int, length: int) -> Generator[memoryview, None, None]:
        """Bytes ``[offset, offset+length)`` (``offset`` a multiple of the chunk), chunk by
        chunk, from the shared buffers, or read again where a chunk's buffer was given up.
        Each view is valid until the next one is asked for.

        Raises:
            InvalidInputError: the file is shorter than that (it changed since it was hashed).
            OSError: a read failed.
        """
        end = offset + length
        while offset < end:
            i = offset // self.chunk
            want = min(self.chunk, end - offset)
            c = self._wait_for(i)
            if c is None:
                buf = self._own_buffer()
                with self._changed:
                    cached = i in self._cached if i < self._next else None
                n, _ = self.file.read(buf, offset, cached)
            else:
                buf, n = c.buf, c.n
            if n < want:
                self._done_sending(i, c)
                raise InvalidInputError(f"{self.file.path} changed while it was being uploaded")
            try:
                yield buf[:want]
            finally:
                self._done_sending(i, c)
            offset += want

    def _wait_for(self, i: int) -> _Chunk | None:
        """Chunk ``i`` marked as being sent, once read; None if it was given up (or this
        shared read is over): the sender reads it itself."""
        with self._changed:
            while True:
                c = self._chunks.get(i)
                if c is not None:
                    c.sending += 1
                    return c
                if i < self._hashed or self._sending_over or self._closed or self._error:
                    return None
                if self._end is not None and i >= self._end:
                    return None
                self._changed.wait()

    def _done_sending(self, i: int, c: _Chunk | None) -> None:
        if c is None:
            return
        with self._changed:
            c.sending -= 1
            c.sent = True
            if c.hashed and not c.sending and self._chunks.get(i) is c:
                self._release(i)
            self._changed.notify_all()

    def _release(self, i: int) -> None:
        """Give chunk ``i``'s buffer back (holds the lock)."""
        self._free.append(self._chunks.pop(i).buf)

    def _own_buffer(self) -> memoryview:
        buf: memoryview | None = getattr(self._own, "buf", None)
        if buf is None:
            buf = self._own.buf = memoryview(mmap.mmap(-1, self.chunk))
        return buf

    def done_sending(self) -> None:
        """No sender asks for a chunk from now on (one that does reads its own): each chunk
        gives its buffer back once hashed."""
        with self._changed:
            self._sending_over = True
            for i, c in list(self._chunks.items()):
                c.sent = True
                if c.hashed and not c.sending:
                    self._release(i)
            self._changed.notify_all()

    def close(self) -> None:
        """Stop the readers and close the file (chunks are no longer shared: a sender still
        running reads its own)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        for t in self._readers:
            t.join()
        self.file.close()
