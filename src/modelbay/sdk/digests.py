"""Remembered file digests, so that logging unchanged files does not hash them again.

A file's sha256 is kept against what ``stat`` says of it (device, inode, size, modification
and change times). An entry is trusted only when the file was last modified well before it
was hashed: a file written in the same moment as it was hashed could change again within
the clock's resolution without its stat changing (git's "racy" case), so such a file is
simply hashed next time. Any trouble with the index (locked, unreadable, read-only) means
hashing, never a failed log. Such a racy entry is still kept as a *hint*: it says the
file was seen before (see :meth:`DigestIndex.seen`), which is enough to decide how to send
it, never enough to skip reading it.

The index also remembers the *provisional* upload sessions this machine has open (a large
new file is sent while it is hashed, before its digest is known; see sdk/transfer.py), by
server and file stat, so that logging the file again after a killed upload resumes the
session instead of sending every part again.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from modelbay.sqlite_files import enable_wal, rows_in

#: A file modified less than this many seconds before it was hashed is not remembered.
RACY_SECONDS = 2.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS digests (
    path TEXT PRIMARY KEY,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
)
"""
# Files hashed whose entry is not trusted (racy, see the module docstring): hints only. Kept
# apart from ``digests``, which older clients sharing the cache directory read and write.
_SEEN = """
CREATE TABLE IF NOT EXISTS seen (
    path TEXT PRIMARY KEY,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL
)
"""
_PROVISIONAL = """
CREATE TABLE IF NOT EXISTS provisional (
    server TEXT NOT NULL,
    path TEXT NOT NULL,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    upload_id TEXT NOT NULL,
    PRIMARY KEY (server, path)
)
"""


def stat_key(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """What says a file is unchanged: device, inode, size, and the times of its last write
    and of its last change of metadata."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class DigestIndex:
    """``path -> sha256`` for files whose stat has not changed since they were hashed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=5, isolation_level=None)
            enable_wal(conn, timeout=5)
            conn.execute("PRAGMA synchronous=OFF")  # a lost entry only means hashing again
            conn.execute(_SCHEMA)
            conn.execute(_SEEN)
            conn.execute(_PROVISIONAL)
            self._local.conn = conn
        return conn

    def digest(self, path: Path, hash_file: Callable[[Path], tuple[str, int]]) -> tuple[str, int]:
        """(sha256, size) of a file: remembered when its stat matches, else hashed (and
        remembered unless it was modified just before)."""
        return self.digest_many([path], lambda paths: [hash_file(p) for p in paths])[0]

    def digest_many(
        self,
        paths: list[Path],
        hash_files: Callable[[list[Path]], list[tuple[str, int]]],
    ) -> list[tuple[str, int]]:
        """:meth:`digest` for many files: one read of the index for all of them,
        ``hash_files`` for those not remembered, and one write for what it hashed."""
        try:
            conn = self._conn()
        except (sqlite3.Error, OSError):
            return hash_files(paths)
        # Each directory is resolved once; a file is known by its own name in it (its stat
        # is what must match, and os.stat follows a symlinked file to its target).
        parents: dict[Path, Path] = {}
        reals = []
        for p in map(Path, paths):
            parent = parents.get(p.parent)
            if parent is None:
                parent = parents[p.parent] = p.parent.resolve()
            reals.append(str(parent / p.name))
        known: dict[str, tuple[object, ...]] = {}
        with contextlib.suppress(sqlite3.Error):
            select = (
                "SELECT path, dev, ino, size, mtime_ns, ctime_ns, sha256 FROM digests WHERE path IN"
            )
            rows = rows_in(conn, select, dict.fromkeys(reals))
            known.update((row[0], tuple(row[1:])) for row in rows)
        out: list[tuple[str, int] | None] = []
        before: list[os.stat_result] = []
        todo: list[int] = []
        for i, (path, real) in enumerate(zip(paths, reals, strict=True)):
            st = os.stat(path)
            before.append(st)
            row = known.get(real)
            if row is not None and row[:5] == stat_key(st):
                out.append((str(row[5]), st.st_size))
            else:
                out.append(None)
                todo.append(i)
        hashed_at = time.time()
        remember = []
        racy = []
        for i, result in zip(todo, hash_files([paths[i] for i in todo]), strict=True):
            out[i] = result
            st, after = before[i], os.stat(paths[i])
            if stat_key(after) != stat_key(st):
                continue  # changed while hashed
            if after.st_mtime_ns / 1e9 < hashed_at - RACY_SECONDS:
                remember.append((reals[i], *stat_key(st), result[0]))
            else:
                racy.append((reals[i], *stat_key(st)))
        if remember or racy:
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?, ?, ?)", remember
                )
                conn.executemany("INSERT OR REPLACE INTO seen VALUES (?, ?, ?, ?, ?, ?)", racy)
                conn.execute("COMMIT")
            except sqlite3.Error:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
        return [r for r in out if r is not None]

    def _real(self, path: Path) -> str:
        return str(path.parent.resolve() / path.name)

    def seen(self, path: Path, st: os.stat_result) -> bool:
        """Whether this file, with this very stat, was hashed before (racy entries included):
        then it has most likely been sent before, too."""
        with contextlib.suppress(sqlite3.Error, OSError):
            rows = self._conn().execute(
                "SELECT dev, ino, size, mtime_ns, ctime_ns FROM digests WHERE path = ?1"
                " UNION ALL SELECT dev, ino, size, mtime_ns, ctime_ns FROM seen WHERE path = ?1",
                (self._real(path),),
            )
            return any(tuple(row) == stat_key(st) for row in rows)
        return False

    def provisional_upload(self, server: str, path: Path, st: os.stat_result) -> str | None:
        """The provisional upload session open on ``server`` for this file, if its stat has
        not changed since the session was opened."""
        with contextlib.suppress(sqlite3.Error, OSError):
            row = (
                self._conn()
                .execute(
                    "SELECT dev, ino, size, mtime_ns, ctime_ns, upload_id FROM provisional"
                    " WHERE server = ? AND path = ?",
                    (server, self._real(path)),
                )
                .fetchone()
            )
            if row is not None and tuple(row[:5]) == stat_key(st):
                return str(row[5])
        return None

    def remember_upload(
        self, server: str, path: Path, st: os.stat_result, upload_id: str | None
    ) -> None:
        """Remember (or, with None, forget) the provisional session sending this file."""
        with contextlib.suppress(sqlite3.Error, OSError):
            conn = self._conn()
            if upload_id is None:
                conn.execute(
                    "DELETE FROM provisional WHERE server = ? AND path = ?",
                    (server, self._real(path)),
                )
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO provisional VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (server, self._real(path), *stat_key(st), upload_id),
                )


def default_index() -> DigestIndex:
    """The index beside the download cache (``$MODELBAY_CACHE_DIR/digests.db``)."""
    from modelbay.settings import cache_root

    return DigestIndex(cache_root() / "digests.db")
