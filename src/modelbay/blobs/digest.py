"""Content addresses: the form of a sha256 digest, and the digest of a file.

Shared by the SDK (hashing what it logs, checking what it caches), the services and the
blob backends, so that the SDK needs no backend to name bytes.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

from modelbay.errors import InvalidInputError

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


def sha256_file(path: Path | str, progress: Callable[[int], None] | None = None) -> tuple[str, int]:
    """Hash a regular file streaming; returns (hex digest, size). ``progress(n)`` is called
    after each chunk of ``n`` bytes (it may raise, to stop the hashing).

    Opened without blocking, then checked to be a regular file: a FIFO swapped in for a file
    would otherwise block the open (or the reads) for good.

    Raises:
        InvalidInputError: ``path`` is not a regular file.
    """
    h = hashlib.sha256()
    size = 0
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidInputError(f"{path} is not a regular file", {"path": os.fspath(path)})
    with open(fd, "rb", buffering=0) as f:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
            size += n
            if progress is not None:
                progress(n)
    return h.hexdigest(), size
