"""Bytes to and from presigned object-store URLs (a server over an S3 blob store hands them
out): sent and fetched with HTTP clients of their own, made on first use, that carry no
modelbay credentials to the object store.

A large blob is fetched in ranges, several at once, each written at its offset as it
arrives and the file hashed in order behind them (see streams.atomic_verified_ranges), as
object-store clients fetch (one stream is slower than the store). The ranges come over
``http.client`` connections kept per origin, read with ``readinto`` into one buffer per
thread: no new bytes object per read, whose fresh pages cost more than the copy itself.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from modelbay.errors import InvalidInputError, NotFoundError, TransportError
from modelbay.jsontext import Info
from modelbay.sdk.httpclient import verified_context
from modelbay.sdk.streams import (
    Progress,
    RangeWriter,
    atomic_verified_ranges,
    atomic_verified_write,
    counted,
)

#: A blob at least this large is fetched in ranges of RANGE bytes, STREAMS at a time.
RANGED_FROM = 32 << 20
RANGE = 8 << 20
STREAMS = 8
#: Ranges being fetched at once by one process, whatever the number of large blobs.
MAX_RANGES = 32
#: Bytes read from a range's response at a time.
READ_BYTES = 1 << 20
CONNECT_SECONDS = 10.0
READ_SECONDS = 300.0


class Presigned:
    """Transfers to presigned URLs, one lazily made connection pool for all of them."""

    def __init__(self) -> None:
        self._client: Any = None
        self._lock = threading.Lock()
        self._connections = _Connections()
        self._ranges = threading.BoundedSemaphore(MAX_RANGES)
        self._local = threading.local()

    def _pool(self) -> Any:
        with self._lock:
            if self._client is None:
                import httpx

                from modelbay.sdk.httpclient import client

                self._client = client(
                    timeout=httpx.Timeout(300.0, connect=10.0),
                    limits=httpx.Limits(max_connections=32),
                )
            return self._client

    def put(self, part: Info, path: Path, progress: Progress) -> None:
        """Send bytes ``[offset, offset+size)`` of ``path`` to ``part["url"]``, straight from
        the file to the socket (see :func:`send_range`).

        Raises:
            InvalidInputError: the file is shorter than that (it changed since it was hashed).
            TransportError: the object store could not be reached or refused the part.
        """
        origin = urlsplit(part["url"])
        target = origin.path + (f"?{origin.query}" if origin.query else "")
        headers = {**part.get("headers", {}), "Content-Length": str(part["size"])}
        sent = [0]

        def count(n: int) -> None:
            sent[0] += n
            if progress:
                progress(n)

        for attempt in (1, 2):
            conn, reused = self._connections.take(origin)
            try:
                conn.putrequest(part.get("method", "PUT"), target, skip_accept_encoding=True)
                for name, value in headers.items():
                    conn.putheader(name, value)
                conn.endheaders()
                assert conn.sock is not None
                send_range(conn.sock, path, part["offset"], part["size"], count)
                resp = conn.getresponse()
                body = resp.read()
                break
            except (http.client.HTTPException, OSError) as exc:
                conn.close()
                if not (reused and attempt == 1 and not sent[0]):  # else: an idle one closed
                    raise TransportError(f"upload to the object store failed: {exc}") from exc
            except BaseException:
                conn.close()
                raise
        if resp.will_close:
            conn.close()
        else:
            self._connections.give(origin, conn)
        if not 200 <= resp.status < 300:
            raise TransportError(
                f"the object store refused a part (HTTP {resp.status}): "
                f"{body[:200].decode(errors='replace')}"
            )

    def get(
        self, url: str, digest: str, dest: Path, progress: Progress, size: int | None = None
    ) -> None:
        """Write the blob at ``url`` to ``dest``, atomically, verified against ``digest`` (the
        room for ``size`` bytes reserved first).

        Raises:
            TransportError: the object store could not be reached or refused.
            NotFoundError: the object store has no such object (the blob is lost).
            DigestMismatchError: the bytes do not hash to ``digest``.
        """
        if size is not None and size >= RANGED_FROM:
            atomic_verified_ranges(
                dest,
                digest,
                size,
                lambda start, length, write: self._range(url, digest, start, length, write),
                range_size=RANGE,
                streams=STREAMS,
                progress=progress,
            )
            return
        with self._fetching(url, digest) as resp:
            atomic_verified_write(dest, digest, counted(response_body(resp), progress), size)

    def _range(self, url: str, digest: str, start: int, length: int, write: RangeWriter) -> None:
        """Bytes ``[start, start + length)`` of the object at ``url`` to ``write``; fewer
        when the object ends sooner (the caller's size check sees it)."""
        origin = urlsplit(url)
        target = origin.path + (f"?{origin.query}" if origin.query else "")
        headers = {"Range": f"bytes={start}-{start + length - 1}"}
        with self._ranges:
            for attempt in (1, 2):
                conn, reused = self._connections.take(origin)
                try:
                    conn.request("GET", target, headers=headers)
                    resp = conn.getresponse()
                    break
                except (http.client.HTTPException, OSError) as exc:
                    conn.close()
                    if not (reused and attempt == 1):  # else: the store closed an idle one
                        raise TransportError(
                            f"download from the object store failed: {exc}"
                        ) from exc
            try:
                whole = self._read_range(resp, digest, start, length, write)
            except (http.client.HTTPException, OSError) as exc:
                conn.close()
                raise TransportError(f"download from the object store failed: {exc}") from exc
            except BaseException:
                conn.close()
                raise
            if whole:
                self._connections.give(origin, conn)
            else:
                conn.close()

    def _read_range(
        self, resp: Any, digest: str, start: int, length: int, write: RangeWriter
    ) -> bool:
        """Hand a range's response body to ``write``; whether it was read to its end (the
        connection can serve another request)."""
        if resp.status == 416:
            resp.read()
            return resp.isclosed()  # type: ignore[no-any-return] # the object ends before
        if resp.status == 404:
            raise _lost(digest)
        if resp.status not in (200, 206):
            raise TransportError(f"the object store refused a download (HTTP {resp.status})")
        buf = self._buffer()
        # A store that ignores ranges answers 200 with the whole object: take this range.
        skip = start if resp.status == 200 else 0
        while skip and (n := resp.readinto(buf[: min(len(buf), skip)])):
            skip -= n
        offset, remaining = start, length
        while remaining and (n := resp.readinto(buf[: min(len(buf), remaining)])):
            write(offset, buf[:n])
            offset, remaining = offset + n, remaining - n
        return resp.isclosed()  # type: ignore[no-any-return]

    def _buffer(self) -> memoryview:
        buf: memoryview | None = getattr(self._local, "buf", None)
        if buf is None:
            buf = self._local.buf = memoryview(bytearray(READ_BYTES))
        return buf

    def read(self, url: str, digest: str, size: int) -> bytes:
        """The bytes of the small blob at ``url``, *unverified*: the caller checks them. No
        more than ``size`` and one are read, whatever the object store sends.

        Raises:
            TransportError: the object store could not be reached or refused.
            NotFoundError: the object store has no such object (the blob is lost).
        """
        data = bytearray()
        with self._fetching(url, digest) as resp:
            for chunk in response_body(resp):
                data += chunk
                if len(data) > size:
                    break
        return bytes(data[: size + 1])

    @contextlib.contextmanager
    def _fetching(self, url: str, digest: str) -> Iterator[Any]:
        """A successful GET of the blob ``digest`` at ``url``, its body not read yet."""
        import httpx

        try:
            with self._pool().stream("GET", url) as resp:
                if resp.status_code == 404:  # the server listed it as stored
                    raise _lost(digest)
                if not resp.is_success:
                    raise TransportError(
                        f"the object store refused a download (HTTP {resp.status_code})"
                    )
                yield resp
        except httpx.HTTPError as exc:
            raise TransportError(f"download from the object store failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
        self._connections.close()


class _Connections:
    """Kept-alive ``http.client`` connections to object stores, by origin."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, str], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def take(self, origin: SplitResult) -> tuple[http.client.HTTPConnection, bool]:
        """A connection to ``origin`` (an idle one if any: then True)."""
        key = (origin.scheme, origin.netloc)
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop(), True
        host, port = origin.hostname or "", origin.port
        conn: http.client.HTTPConnection
        if origin.scheme == "https":
            conn = http.client.HTTPSConnection(
                host, port, timeout=CONNECT_SECONDS, context=verified_context()
            )
        elif origin.scheme == "http":
            conn = http.client.HTTPConnection(host, port, timeout=CONNECT_SECONDS)
        else:
            raise TransportError(f"cannot download from a {origin.scheme!r} URL")
        try:
            conn.connect()
        except OSError as exc:
            conn.close()
            raise TransportError(f"download from the object store failed: {exc}") from exc
        assert conn.sock is not None
        conn.sock.settimeout(READ_SECONDS)
        return conn, False

    def give(self, origin: SplitResult, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self._idle.setdefault((origin.scheme, origin.netloc), []).append(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


#: Bytes handed to the socket per ``sendfile`` call (each one reported to the progress).
SEND_BYTES = 1 << 20


def send_range(sock: Any, path: Path, offset: int, length: int, progress: Progress) -> None:
    """Send bytes ``[offset, offset+length)`` of ``path`` on ``sock`` with ``sendfile``: the
    kernel moves them from the page cache, no Python reads them (over TLS, Python's own
    fallback reads and sends them).

    Raises:
        InvalidInputError: the file is shorter than that (it changed since it was hashed).
    """
    with open(path, "rb") as f:
        end = offset + length
        while offset < end:
            n = sock.sendfile(f, offset, min(SEND_BYTES, end - offset))
            if not n:
                raise InvalidInputError(f"{path} changed while it was being uploaded")
            offset += n
            if progress:
                progress(n)


def _lost(digest: str) -> NotFoundError:
    return NotFoundError(
        f"blob {digest[:12]} is recorded as stored, but the object store has no object for "
        "it: its bytes are lost; an admin must restore them",
        {"sha256": digest, "reason": "lost_from_store"},
    )


def response_body(resp: Any) -> Iterator[bytes]:
    """A response's body as the connection delivers it: not re-chunked (a copy of every
    byte) and not decoded unless the response says it is encoded."""
    if resp.headers.get("content-encoding", "identity") == "identity":
        return resp.iter_raw()  # type: ignore[no-any-return]
    return resp.iter_bytes()  # type: ignore[no-any-return]
