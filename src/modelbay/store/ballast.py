"""Room kept for the calls that free room: a file beside a SQLite database, given up when
its disk is full.

Every SQLite write, a delete included, appends to the write-ahead log, which needs room on
the disk. On a full disk, deleting versions and collecting their bytes (``modelbay gc``),
the very calls that would make room, then failed with 507 like any other write: after a
restart the log starts empty, and with none of its earlier room to reuse, every write
failed. So the database keeps a ballast file of :data:`BALLAST_BYTES`; a call that frees
room gives it up first when the disk has less than that left (ordinary writes do not:
they fail as before, so the room stays for the calls that free some), and the ballast is
taken again once there is room for it twice over.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from modelbay.preallocation import NO_ROOM, reserve

log = logging.getLogger("modelbay.store")

#: The room kept: the log's growth for deleting hundreds of versions, or a collection's
#: first pages of marked blobs, before any byte is freed.
BALLAST_BYTES = 4 << 20


class Ballast:
    """The ballast file at ``path`` (several processes may share it: each call looks at the
    disk, not at what this object thinks)."""

    def __init__(self, path: Path, size: int = BALLAST_BYTES) -> None:
        self.path = path
        self.size = size
        self.take()

    def free(self) -> int:
        """Bytes free on the ballast's disk for this process."""
        vfs = os.statvfs(self.path.parent)
        return (vfs.f_bfree if os.geteuid() == 0 else vfs.f_bavail) * vfs.f_frsize

    def take(self) -> bool:
        """Make the ballast if it is missing and the disk has room for it twice over;
        whether it is there now. Never raises."""
        try:
            if self.path.exists():
                return True
            if self.free() < 2 * self.size:
                return False
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                reserve(fd, self.size)
            finally:
                os.close(fd)
            return True
        except OSError as exc:
            if exc.errno not in NO_ROOM:
                log.warning("cannot keep room for the database in %s: %s", self.path, exc)
            with contextlib.suppress(OSError):
                if self.path.stat().st_size < self.size:
                    self.path.unlink()
            return False

    def give_up_if_full(self) -> None:
        """Remove the ballast if the disk has less than its size left. Never raises."""
        try:
            if self.free() >= self.size or not self.path.exists():
                return
            self.path.unlink()
        except OSError:
            return
        log.warning(
            "the database's disk is full: gave up the %d bytes kept for freeing room (%s)",
            self.size,
            self.path,
        )
