"""Bundles: many small blobs in one request or response body, so that 10,000 small files
cost a few requests, one database transaction per request and one disk flush, instead of
10,000 of each.

A bundle is a sequence of frames, each the blob's sha256 (32 raw bytes), its size (8 bytes,
big-endian), then its bytes. A bundle carries no checksum of its own: whoever receives a
blob checks it against its digest before it counts.
"""

from __future__ import annotations

import struct

from modelbay.errors import InvalidInputError, PayloadTooLargeError

HEADER = struct.Struct(">32sQ")
#: Blobs up to this size travel in bundles; larger ones in their own request.
MAX_BUNDLED_BLOB = 1 << 20
#: A bundle's bytes (frames included) and its number of blobs are at most these (a server
#: holds a bundle in memory until every blob in it is checked).
MAX_BUNDLE_BYTES = 16 << 20
MAX_BUNDLE_BLOBS = 10_000


def frame_header(digest: str, size: int) -> bytes:
    """The header that precedes the ``size`` bytes of the blob ``digest`` in a bundle."""
    return HEADER.pack(bytes.fromhex(digest), size)


def bundle_size(sizes: list[int]) -> int:
    """The bytes of a bundle holding blobs of these sizes."""
    return sum(sizes) + HEADER.size * len(sizes)


class Unbundler:
    """Splits a bundle arriving in chunks of any size into ``(digest, bytes)`` pairs.

    Raises (from :meth:`feed` and :meth:`close`):
        InvalidInputError: a frame larger than :data:`MAX_BUNDLED_BLOB`, or a bundle that
            ends inside a frame.
        PayloadTooLargeError: more than ``max_bytes`` in all.
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.received = 0
        self._buf = bytearray()
        self._want: tuple[str, int] | None = None  # the current frame's header, once read

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        """The blobs completed by ``chunk``, in order."""
        self.received += len(chunk)
        if self.max_bytes is not None and self.received > self.max_bytes:
            raise PayloadTooLargeError(f"a bundle holds at most {self.max_bytes} bytes")
        self._buf += chunk
        out: list[tuple[str, bytes]] = []
        start = 0
        while True:
            if self._want is None:
                if len(self._buf) - start < HEADER.size:
                    break
                raw, size = HEADER.unpack_from(self._buf, start)
                if size > MAX_BUNDLED_BLOB:
                    raise InvalidInputError(
                        f"a bundled blob holds at most {MAX_BUNDLED_BLOB} bytes, not {size}"
                    )
                self._want = (raw.hex(), size)
                start += HEADER.size
            digest, size = self._want
            if len(self._buf) - start < size:
                break
            out.append((digest, bytes(self._buf[start : start + size])))
            start += size
            self._want = None
        del self._buf[:start]
        return out

    def close(self) -> None:
        """Check that the bundle ended between frames."""
        if self._want is not None or self._buf:
            raise InvalidInputError("the bundle ends inside a blob")
