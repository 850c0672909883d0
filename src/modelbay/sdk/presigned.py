"""Bytes to and from presigned object-store URLs (a server over an S3 blob store hands them
out): sent and fetched with an HTTP client of their own, made on first use, that carries no
modelbay credentials to the object store."""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from modelbay.errors import NotFoundError, TransportError
from modelbay.sdk.streams import Progress, atomic_verified_write, counted, read_range

Info = dict[str, Any]

#: A blob at least this large is fetched in ranges of RANGE bytes, STREAMS at a time, as
#: object-store clients do (one stream is slower than the store); the ranges are written and
#: hashed in order, so no more than STREAMS of them are held in memory.
RANGED_FROM = 32 << 20
RANGE = 8 << 20
STREAMS = 8


class Presigned:
    """Transfers to presigned URLs, one lazily made connection pool for all of them."""

    def __init__(self) -> None:
        self._client: Any = None
        self._lock = threading.Lock()

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
        """Send bytes ``[offset, offset+size)`` of ``path`` to ``part["url"]``.

        Raises:
            TransportError: the object store could not be reached or refused the part.
        """
        import httpx

        headers = {**part.get("headers", {}), "Content-Length": str(part["size"])}
        try:
            resp = self._pool().request(
                part.get("method", "PUT"),
                part["url"],
                content=read_range(path, part["offset"], part["size"], progress),
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise TransportError(f"upload to the object store failed: {exc}") from exc
        if not resp.is_success:
            raise TransportError(
                f"the object store refused a part (HTTP {resp.status_code}): {resp.text[:200]}"
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
            chunks = self._ranges(url, digest, size)
            try:
                atomic_verified_write(dest, digest, counted(chunks, progress), size)
            finally:
                chunks.close()
            return
        with self._fetching(url, digest) as resp:
            atomic_verified_write(dest, digest, counted(response_body(resp), progress), size)

    def _ranges(self, url: str, digest: str, size: int) -> Generator[bytes, None, None]:
        """The first ``size`` bytes at ``url``, fetched in ranges several at a time and
        yielded in order (fewer when the object is shorter; the caller's check sees it)."""
        starts = iter(range(0, size, RANGE))
        with ThreadPoolExecutor(STREAMS) as pool:
            pending: deque[Future[bytes]] = deque()
            try:
                for start in starts:
                    pending.append(pool.submit(self._range, url, digest, start, size))
                    if len(pending) == STREAMS:
                        break
                while pending:
                    data = pending.popleft().result()
                    if (later := next(starts, None)) is not None:
                        pending.append(pool.submit(self._range, url, digest, later, size))
                    yield data
            finally:
                for future in pending:
                    future.cancel()

    def _range(self, url: str, digest: str, start: int, size: int) -> bytes:
        """Bytes ``[start, start + RANGE)`` of the object at ``url``, none past ``size``."""
        import httpx

        end = min(start + RANGE, size) - 1
        try:
            resp = self._pool().get(url, headers={"Range": f"bytes={start}-{end}"})
        except httpx.HTTPError as exc:
            raise TransportError(f"download from the object store failed: {exc}") from exc
        if resp.status_code == 416:
            return b""  # the object ends before this range: the digest check says so
        if resp.status_code == 404:
            raise _lost(digest)
        if not resp.is_success:
            raise TransportError(f"the object store refused a download (HTTP {resp.status_code})")
        # A store that ignores ranges answers 200 with the whole object: take this range.
        data = resp.content if resp.status_code == 206 else resp.content[start : end + 1]
        return bytes(data[: end + 1 - start])

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
