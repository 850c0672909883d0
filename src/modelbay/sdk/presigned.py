"""Bytes to and from presigned object-store URLs (a server over an S3 blob store hands them
out): sent and fetched with an HTTP client of their own, made on first use, that carries no
modelbay credentials to the object store."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelbay.errors import NotFoundError, TransportError
from modelbay.sdk.streams import Progress, atomic_verified_write, counted, read_range

Info = dict[str, Any]


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
        with self._fetching(url, digest) as resp:
            atomic_verified_write(dest, digest, counted(response_body(resp), progress), size)

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
                    raise NotFoundError(
                        f"blob {digest[:12]} is recorded as stored, but the object store has "
                        "no object for it: its bytes are lost; an admin must restore them",
                        {"sha256": digest, "reason": "lost_from_store"},
                    )
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


def response_body(resp: Any) -> Iterator[bytes]:
    """A response's body as the connection delivers it: not re-chunked (a copy of every
    byte) and not decoded unless the response says it is encoded."""
    if resp.headers.get("content-encoding", "identity") == "identity":
        return resp.iter_raw()  # type: ignore[no-any-return]
    return resp.iter_bytes()  # type: ignore[no-any-return]
