"""An object's sha256, read back from the store over a presigned GET URL: in ranges, several
at a time, each read with ``readinto`` into one of a few buffers kept for the whole read,
and hashed in order as they arrive.

This is how the S3 store checks a multipart upload against its digest before the blob is
recorded (see S3BlobStore.finish). botocore reads a response into a new bytes object per
read and copies it again to join them; on a 1 GiB object the fresh pages and copies cost
the server about as much CPU as the hash itself, on the machine the object store serves
from. ``http.client`` (the standard library) reads into the buffers given. TLS is checked
against ``AWS_CA_BUNDLE`` when set, else certifi's bundle, as botocore does by default.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

CONNECT_SECONDS = 10.0
READ_SECONDS = 300.0


def hashed_ranges(url: str, size: int, range_size: int, readers: int) -> tuple[str, int]:
    """(sha256, bytes read) of the first ``size`` bytes of the object at ``url``, fetched in
    ranges of ``range_size`` bytes, ``readers`` at a time (at most ``readers + 1`` ranges
    held in memory). An object shorter than ``size`` shows in the bytes read.

    Raises:
        OSError, http.client.HTTPException: the store could not be reached, or refused.
    """
    origin = urlsplit(url)
    target = origin.path + (f"?{origin.query}" if origin.query else "")
    starts = list(range(0, size, range_size))
    reads = _Reads(len(starts), [bytearray(range_size) for _ in range(readers + 1)])

    def run() -> None:
        conn = _connect(origin.scheme, origin.hostname or "", origin.port)
        try:
            while (taken := reads.take()) is not None:
                i, buf = taken
                length = min(range_size, size - starts[i])
                got = _read_range(conn, target, starts[i], length, memoryview(buf))
                reads.put(i, buf, got)
        except BaseException as exc:
            reads.fail(exc)
        finally:
            conn.close()

    h = hashlib.sha256()
    total = 0
    with ThreadPoolExecutor(readers) as pool:
        for _ in range(readers):
            pool.submit(run)
        try:
            for i in range(len(starts)):
                buf, got = reads.wait_for(i)
                h.update(memoryview(buf)[:got])
                total += got
                reads.give_back(buf)
        finally:
            reads.stop()
    return h.hexdigest(), total


def _read_range(
    conn: http.client.HTTPConnection, target: str, start: int, length: int, buf: memoryview
) -> int:
    """Bytes ``[start, start + length)`` of the object into ``buf``; how many came."""
    conn.request("GET", target, headers={"Range": f"bytes={start}-{start + length - 1}"})
    resp = conn.getresponse()
    if resp.status == 416:
        resp.read()
        return 0  # the object ends before this range
    if resp.status not in (200, 206):
        raise http.client.HTTPException(f"the object store answered HTTP {resp.status}")
    skip = start if resp.status == 200 else 0  # a store that ignores ranges: take this one
    while skip and (n := resp.readinto(buf[: min(len(buf), skip)])):
        skip -= n
    got = 0
    while got < length and (n := resp.readinto(buf[got:length])):
        got += n
    if not resp.isclosed():  # more than asked: the connection cannot serve another request
        conn.close()
    return got


def _connect(scheme: str, host: str, port: int | None) -> http.client.HTTPConnection:
    conn: http.client.HTTPConnection
    if scheme == "https":
        context = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or _certifi())
        conn = http.client.HTTPSConnection(host, port, timeout=CONNECT_SECONDS, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=CONNECT_SECONDS)
    conn.connect()
    assert conn.sock is not None
    conn.sock.settimeout(READ_SECONDS)
    conn.timeout = READ_SECONDS  # for the connection made again after one was closed
    return conn


def _certifi() -> str | None:
    try:
        from certifi import where
    except ImportError:  # pragma: no cover - botocore then uses its own bundle too
        return None
    return str(where())


class _Reads:
    """The ranges of one read-back: taken in order by the readers when a buffer is free,
    handed to the hash in order; the first error stops everyone."""

    def __init__(self, count: int, buffers: list[bytearray]) -> None:
        self._next = iter(range(count))
        self._free = buffers
        self._done: dict[int, tuple[bytearray, int]] = {}
        self._error: BaseException | None = None
        self._stopped = False
        self._changed = threading.Condition()

    def take(self) -> tuple[int, bytearray] | None:
        with self._changed:
            self._changed.wait_for(lambda: self._free or self._stopped or self._error)
            if self._stopped or self._error:
                return None
            i = next(self._next, None)
            return None if i is None else (i, self._free.pop())

    def put(self, i: int, buf: bytearray, got: int) -> None:
        self._notify(lambda: self._done.__setitem__(i, (buf, got)))

    def wait_for(self, i: int) -> tuple[bytearray, int]:
        with self._changed:
            self._changed.wait_for(lambda: i in self._done or self._error)
            if self._error is not None:
                raise self._error
            return self._done.pop(i)

    def give_back(self, buf: bytearray) -> None:
        self._notify(lambda: self._free.append(buf))

    def fail(self, exc: BaseException) -> None:
        self._notify(lambda: setattr(self, "_error", self._error or exc))

    def stop(self) -> None:
        self._notify(lambda: setattr(self, "_stopped", True))

    def _notify(self, change: Callable[[], object]) -> None:
        with self._changed:
            change()
            self._changed.notify_all()
