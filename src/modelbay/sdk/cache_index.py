"""The download cache's index (``index.db``, SQLite in WAL mode): one connection per
process, opened on first use, and replaced by a new, empty index when SQLite finds it
damaged (see :mod:`modelbay.sdk.cache`'s docstring). SQLite's errors come out as OSError,
the index being local disk like the blobs it lists."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock

from modelbay.sqlite_files import enable_wal

#: Seconds a process waits for another one's write lock on the index.
BUSY_TIMEOUT = 60.0
# SQLite's primary result codes for a file that is not, or is no longer, a sound database:
# only these make the index worth replacing (a locked or full disk does not).
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    digest    TEXT PRIMARY KEY,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    inode     INTEGER NOT NULL,
    last_used INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_last_used ON entries (last_used);
"""


class CacheIndex:
    """The index of the cache at ``root``, whose blobs are in ``blobs`` and whose files being
    filled are in ``tmp`` (a repair drops the blobs the lost index listed)."""

    def __init__(self, root: Path, blobs: Path, tmp: Path, origin: str | None) -> None:
        self.root = root
        self.blobs = blobs
        self.tmp = tmp
        self.origin = origin
        self.index_path = root / "index.db"
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    def close(self) -> None:
        """Close this process's connection (reopened on next use)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors():
            yield self._db()

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding SQLite's lock, across processes."""
        with self._lock, self._errors():
            conn = self._db()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                # The error that got here says more than one rolling back (on a damaged
                # index, say) would.
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _db(self) -> sqlite3.Connection:
        # A connection must not cross fork(): a child opens its own.
        if self._conn is None or self._pid != os.getpid():
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise unusable(self.root, exc, self.origin) from exc
            try:
                conn = self._connect()
            except sqlite3.DatabaseError as exc:
                if not _is_damage(exc):
                    raise  # locked, a full disk, cannot be opened: nothing to repair
                conn = self._repair()
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's errors as OSError (the index is local disk like the blobs). Damage a
        query meets (a malformed page shows only when read) is repaired before the error
        goes on, so that the next call finds a sound index; the caller holds ``_lock``."""
        try:
            yield
        except sqlite3.Error as exc:
            if not _is_damage(exc):
                raise OSError(f"{self.where()} cannot be used: {exc}") from exc
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()  # this process's only connection: _lock is held
            self._conn = None
            try:
                self._conn, self._pid = self._repair(), os.getpid()
            except sqlite3.Error as again:
                raise OSError(
                    f"{self.where()} is damaged ({exc}) and cannot be repaired: {again}"
                ) from again
            raise IndexRebuiltError(
                f"{self.where()} was damaged ({exc}): it was set aside as index.db.corrupt "
                "and a new, empty one started; try again"
            ) from exc

    def where(self) -> str:
        origin = f" (set by {self.origin})" if self.origin else ""
        return f"download cache index {self.index_path}{origin}"

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.index_path,
            timeout=BUSY_TIMEOUT,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            enable_wal(conn, timeout=BUSY_TIMEOUT)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def _repair(self) -> sqlite3.Connection:
        """Replace an index SQLite cannot read by a new, empty one (see the module docstring)."""
        with FileLock(self.root / "index.lock"):
            # Another process may have repaired it meanwhile: look again, thoroughly (this
            # runs only once damage was seen). Only damage goes on to the repair: a locked
            # index, a full disk or an I/O error must not cost the cache every blob.
            try:
                conn = self._connect()
            except sqlite3.DatabaseError as exc:
                if not _is_damage(exc):
                    raise
            else:
                try:
                    check_index(conn, "integrity_check")
                except sqlite3.DatabaseError as exc:
                    conn.close()
                    if not _is_damage(exc):
                        raise
                else:
                    return conn
            os.replace(self.index_path, self.index_path.with_name("index.db.corrupt"))
            for suffix in ("-wal", "-shm"):
                self.index_path.with_name("index.db" + suffix).unlink(missing_ok=True)
            if self.blobs.is_dir():
                doomed = self.tmp / f".blobs-{uuid.uuid4().hex[:12]}"
                self.tmp.mkdir(parents=True, exist_ok=True)
                os.replace(self.blobs, doomed)
                shutil.rmtree(doomed, ignore_errors=True)
            return self._connect()


class IndexRebuiltError(OSError):
    """A call met a damaged index, which was replaced by a new, empty one."""


class _DamagedIndexError(sqlite3.DatabaseError):
    """A check found damage that no statement has run into yet."""


def _is_damage(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says the index file is not, or no longer, a sound database."""
    if isinstance(exc, _DamagedIndexError):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def check_index(conn: sqlite3.Connection, pragma: str) -> None:
    """Run ``PRAGMA quick_check(1)`` or ``integrity_check(1)``; raise if it finds damage."""
    (result,) = conn.execute(f"PRAGMA {pragma}(1)").fetchone()
    if result != "ok":
        raise _DamagedIndexError(f"database disk image is malformed ({pragma}: {result})")


def unusable(root: Path, exc: OSError, origin: str | None = None) -> OSError:
    """An OSError that says which cache failed and how to choose another."""
    reason = exc.strerror or str(exc)
    where = f"download cache {root}" + (f" (set by {origin})" if origin else "")
    error = OSError(f"{where} cannot be used: {reason}")
    error.errno = exc.errno
    return error
