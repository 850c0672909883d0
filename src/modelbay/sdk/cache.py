"""The client's download cache: content-addressed, bounded in size, shared by processes.

Layout under the cache root (``$MODELBAY_CACHE_DIR``, default ``~/.cache/modelbay``)::

    blobs/ab/abcdef...   one read-only (0o444) file per sha256, named by it
    tmp/                 files being filled; renamed into ``blobs/`` when complete
    index.db             SQLite (WAL): entries(digest, size, mtime_ns, inode, last_used)

A download asks :meth:`Cache.materialize` for each file first: a cached blob is hard-linked
to its destination (copied when the destination is on another filesystem), which takes
microseconds whatever its size. Missing blobs are fetched with :meth:`Cache.insert`, which
hands ``fill`` a temporary file inside the cache and renames it into place only once
``fill`` returns, so a blob name never holds partial bytes.

**Read-only hard links.** A hard-linked download *is* the cache entry (one inode). The blob
is made read-only so that a program writing to the downloaded file gets ``PermissionError``
instead of silently changing the cached bytes (and every other download linked to them).
Editors that save by writing a new file and renaming it only break the link, which is
harmless. A user who ``chmod``\\ s the file and edits it anyway changes its size or
``mtime_ns``; the index remembers both (and the inode) from insertion, so the next
:meth:`Cache.lookup` sees the change and evicts the entry rather than hand the edited bytes
out again. (An edit that keeps the size and restores the mtime goes unnoticed; so does one
made as root, which ignores the read-only bit.) Copies made across filesystems are private
and writable.

**Bound.** ``max_bytes`` bounds the sum of the entries' sizes; :meth:`Cache.enforce` (cheap
when under the bound) and :meth:`Cache.prune` evict least-recently-used entries. Eviction
unlinks the cache's name only: files already hard-linked out keep their bytes, and readers
holding the file open keep reading.

**Several processes.** Every change to ``blobs/`` (a rename into place, an eviction) happens
while holding SQLite's write lock (``BEGIN IMMEDIATE``, waiting up to
:data:`BUSY_TIMEOUT` seconds), so the index and the directory agree whenever the lock is
free. Filling runs outside the lock: two processes may fetch the same blob at once, and the
second to finish keeps the first one's entry and drops its own copy. A crash between the
rename and the commit leaves an unindexed blob, which :meth:`Cache.prune` removes. The
cache root must be on a local filesystem (SQLite's WAL does not work over NFS).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from modelbay.blobs.local import check_digest
from modelbay.errors import DigestMismatchError, InvalidInputError
from modelbay.sqlite_files import enable_wal, rows_in

#: The bound when ``MODELBAY_CACHE_MAX_SIZE`` is not set: 20 GB.
DEFAULT_MAX_BYTES = 20 * 10**9
#: Seconds a process waits for another one's write lock on the index.
BUSY_TIMEOUT = 60.0
#: Entries evicted per write transaction, so that the lock is never held for long.
PRUNE_BATCH = 256
#: A temporary file untouched this long belongs to a process that died; prune removes it.
STALE_TMP_SECONDS = 24 * 3600
READ_ONLY = 0o444

# Errors of os.link after which a copy still works: another filesystem, one without hard
# links, or an inode at its link limit.
_LINK_FALLBACK_ERRNOS = frozenset(
    {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}
)

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "pb": 10**15,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "pib": 2**50,
}
_DIGEST_NAME = re.compile(r"[0-9a-f]{64}")
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*", re.IGNORECASE)

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


def parse_size(text: str) -> int:
    """Parse a size such as ``10GB``, ``1.5 GB``, ``500MiB`` or ``1048576`` into bytes.

    ``KB``, ``MB``, ``GB``, ``TB`` and ``PB`` are powers of 1000; ``KiB`` ... ``PiB`` powers
    of 1024; a plain number is bytes. Units are case-insensitive.

    Raises:
        InvalidInputError: ``text`` is not a non-negative number with one of those units.

    Examples:
        >>> parse_size("10GB"), parse_size("500MiB"), parse_size("42")
        (10000000000, 524288000, 42)
    """
    match = _SIZE.fullmatch(text) if isinstance(text, str) else None
    unit = _UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise InvalidInputError(
            f"invalid size {str(text)[:40]!r}: give bytes or a number with a unit such as "
            "10GB, 1.5GB or 500MiB",
            {"value": str(text)[:80]},
        )
    return int(Decimal(match.group(1)) * unit)


def format_size(size: int) -> str:
    """``size`` bytes in the decimal units :func:`parse_size` reads (``1.5 GB``)."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def default_root(environ: Mapping[str, str] | None = None) -> Path:
    """``$MODELBAY_CACHE_DIR``, else ``$XDG_CACHE_HOME/modelbay``, else ``~/.cache/modelbay``."""
    env = os.environ if environ is None else environ
    if env.get("MODELBAY_CACHE_DIR"):
        return Path(env["MODELBAY_CACHE_DIR"]).expanduser()
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base.expanduser() / "modelbay"


@dataclass(frozen=True)
class _Entry:
    digest: str
    size: int
    mtime_ns: int
    inode: int


class Cache:
    """A content-addressed, size-bounded download cache (see the module docstring).

    One instance may be shared by the threads of a process; several processes may open the
    same root at once.

    Args:
        root: the cache directory; created on first use.
        max_bytes: the bound on the entries' total size; None means unbounded, 0 keeps
            nothing once :meth:`enforce` runs.

    Raises:
        InvalidInputError: ``max_bytes`` is negative.
    """

    def __init__(self, root: Path, max_bytes: int | None = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root)
        self.max_bytes = _check_bound(max_bytes)
        self.blobs = self.root / "blobs"
        self.tmp = self.root / "tmp"
        self.index_path = self.root / "index.db"
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Cache:
        """The cache configured by ``MODELBAY_CACHE_DIR`` and ``MODELBAY_CACHE_MAX_SIZE``.

        The size is read by :func:`parse_size` (``10GB``, ``500MiB``, bytes) and defaults to
        :data:`DEFAULT_MAX_BYTES`; the directory defaults as in :func:`default_root`.

        Raises:
            InvalidInputError: ``MODELBAY_CACHE_MAX_SIZE`` is not a size.
        """
        env = os.environ if environ is None else environ
        raw = env.get("MODELBAY_CACHE_MAX_SIZE", "").strip()
        return cls(default_root(env), parse_size(raw) if raw else DEFAULT_MAX_BYTES)

    def path(self, digest: str) -> Path:
        """Where the blob ``digest`` lives in the cache (whether or not it is there).

        Raises:
            InvalidInputError: ``digest`` is not a lowercase hex sha256.
        """
        check_digest(digest)
        return self.blobs / digest[:2] / digest

    # -- reading -----------------------------------------------------------------------

    def lookup(self, digest: str, size: int) -> Path | None:
        """The cached blob of ``digest`` and ``size``, or None.

        An entry whose file is missing, or whose size, mtime or inode changed since it was
        inserted (someone edited it), is evicted and None returned. Does not mark the entry
        used.

        Raises:
            InvalidInputError: ``digest`` is not a sha256.
            OSError: the cache cannot be read.
        """
        path = self.path(digest)
        with self._read() as conn:
            entry = _entry(conn, digest)
        if entry is None:
            return None
        if _intact(entry, path, size):
            return path
        with self._write() as conn:
            # Re-read under the lock: another process may have replaced the entry meanwhile.
            entry = _entry(conn, digest)
            if entry is not None and _intact(entry, path, size):
                return path
            if entry is not None:
                self._evict(conn, [digest])
        return None

    def materialize(self, digest: str, size: int, dest: Path, *, touch: bool = True) -> bool:
        """Place the cached blob of ``digest`` at ``dest``; False (and no change) if not cached.

        ``dest`` becomes a hard link to the read-only cache entry when it is on the cache's
        filesystem, else a private writable copy. It appears atomically (a temporary name
        in its directory, then ``os.replace``) and replaces what was there; if it already
        is a link to the entry nothing is written. Missing parent directories are created.

        Args:
            touch: mark the entry used now; pass False and call :meth:`touch_many` once
                for a batch.

        Raises:
            InvalidInputError: ``digest`` is not a sha256.
            OSError: ``dest`` cannot be written, or the cache cannot be read.
        """
        src = self.lookup(digest, size)
        if src is None:
            return False
        dest = Path(dest)
        try:
            blob = os.stat(src)
        except FileNotFoundError:  # evicted by another process since the lookup
            return False
        if not _same_file(dest, blob) and not self._place(src, blob, dest):
            return False
        if touch:
            self.touch_many([digest])
        return True

    def materialize_many(self, items: Sequence[tuple[str, int, Path]]) -> list[bool]:
        """:meth:`materialize` for many ``(digest, size, dest)`` at once, without marking
        the entries used: one read of the index for all of them, then a link each. Returns,
        for each item, whether it was placed.

        Raises:
            InvalidInputError: a digest is not a sha256.
            OSError: a destination cannot be written, or the cache cannot be read.
        """
        digests = list(dict.fromkeys(check_digest(d) for d, _, _ in items))
        entries: dict[str, _Entry] = {}
        with self._read() as conn:
            select = "SELECT digest, size, mtime_ns, inode FROM entries WHERE digest IN"
            entries.update((row[0], _Entry(*row)) for row in rows_in(conn, select, digests))
        stats: dict[str, tuple[Path, os.stat_result | None]] = {}
        out: list[bool] = []
        for digest, size, dest in items:
            entry = entries.get(digest)
            if entry is None:
                out.append(False)
                continue
            if digest not in stats:
                path = self.blobs / digest[:2] / digest
                try:
                    stats[digest] = (path, os.stat(path))
                except FileNotFoundError:
                    stats[digest] = (path, None)
            path, blob = stats[digest]
            if blob is None or not _matches(entry, blob, size):
                # Lost or edited: the one-at-a-time path evicts it under the write lock.
                out.append(self.materialize(digest, size, dest, touch=False))
                continue
            dest = Path(dest)
            out.append(_same_file(dest, blob) or self._place(path, blob, dest))
        return out

    def touch_many(self, digests: Iterable[str]) -> None:
        """Mark entries used now, in one write; digests not in the cache are ignored.

        Raises:
            OSError: the index cannot be written.
        """
        unique = list(dict.fromkeys(digests))
        if not unique:
            return
        with self._write() as conn:
            now = _clock(conn)
            conn.executemany(
                "UPDATE entries SET last_used = ? WHERE digest = ?",
                [(now + i, d) for i, d in enumerate(unique)],
            )

    def info(self) -> dict[str, Any]:
        """``{"root", "entries", "bytes", "max_bytes"}`` of the cache as the index sees it.

        Raises:
            OSError: the cache cannot be read.
        """
        with self._read() as conn:
            entries, total = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM entries"
            ).fetchone()
        return {
            "root": str(self.root),
            "entries": entries,
            "bytes": total,
            "max_bytes": self.max_bytes,
        }

    # -- writing -----------------------------------------------------------------------

    def insert(self, digest: str, size: int, fill: Callable[[Path], None]) -> Path:
        """Add the blob ``digest`` by having ``fill`` write it; returns the entry's path.

        ``fill(tmp)`` must create the file ``tmp`` (inside the cache, not yet existing)
        with the blob's bytes and check that they hash to ``digest``; the cache checks only
        the size. The entry appears atomically once ``fill`` returns. If the blob is
        already cached, ``fill`` is not called; if another process inserts it while
        ``fill`` runs, the first entry is kept and this copy dropped. The entry is marked
        used. Does not enforce the bound: call :meth:`enforce` after a batch.

        Raises:
            InvalidInputError: ``digest`` is not a sha256, or ``size`` is negative.
            DigestMismatchError: ``fill`` wrote a different number of bytes than ``size``.
            OSError: the cache cannot be written.
            Exception: whatever ``fill`` raises (nothing is left behind).
        """
        path = self.path(digest)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidInputError(f"invalid size {size!r} for blob {digest[:12]}")
        if self.lookup(digest, size) is not None:
            self.touch_many([digest])
            return path
        self.tmp.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp / f"{digest}.{uuid.uuid4().hex}"
        try:
            fill(tmp)
            written = tmp.stat().st_size if tmp.is_file() else None
            if written != size:
                raise DigestMismatchError(
                    f"blob {digest[:12]}: expected {size} bytes, the download wrote "
                    f"{'nothing' if written is None else written}",
                    {"sha256": digest, "expected_size": size, "size": written},
                )
            os.chmod(tmp, READ_ONLY)
            with self._write() as conn:
                entry = _entry(conn, digest)
                if entry is not None and _intact(entry, path, size):
                    _set_used(conn, digest)
                    return path
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, path)
                st = os.stat(path)
                conn.execute(
                    "INSERT OR REPLACE INTO entries (digest, size, mtime_ns, inode, last_used)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (digest, st.st_size, st.st_mtime_ns, st.st_ino, _clock(conn)),
                )
            return path
        finally:
            tmp.unlink(missing_ok=True)

    def insert_many(self, blobs: Sequence[tuple[str, bytes]]) -> None:
        """Add small blobs whose bytes are in memory, already checked by the caller against
        their digests, with one write of the index; a blob already cached is kept. The
        entries are marked used. Does not enforce the bound.

        Raises:
            InvalidInputError: a digest is not a sha256.
            OSError: the cache cannot be written.
        """
        for digest, _ in blobs:
            check_digest(digest)
        self.tmp.mkdir(parents=True, exist_ok=True)
        staged: list[Path] = []
        try:
            for digest, data in blobs:  # written outside the lock, renamed under it
                staged.append(self.tmp / f"{digest}.{uuid.uuid4().hex}")
                with open(staged[-1], "xb") as f:
                    f.write(data)
                os.chmod(staged[-1], READ_ONLY)
            shards: set[Path] = set()
            with self._write() as conn:
                now = _clock(conn)
                for i, ((digest, data), tmp) in enumerate(zip(blobs, staged, strict=True)):
                    path = self.blobs / digest[:2] / digest
                    entry = _entry(conn, digest)
                    if entry is not None and _intact(entry, path, len(data)):
                        conn.execute(
                            "UPDATE entries SET last_used = ? WHERE digest = ?", (now + i, digest)
                        )
                        continue
                    if path.parent not in shards:
                        path.parent.mkdir(parents=True, exist_ok=True)
                        shards.add(path.parent)
                    os.replace(tmp, path)
                    st = os.stat(path)
                    conn.execute(
                        "INSERT OR REPLACE INTO entries (digest, size, mtime_ns, inode, last_used)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (digest, st.st_size, st.st_mtime_ns, st.st_ino, now + i),
                    )
        finally:
            for tmp in staged:
                tmp.unlink(missing_ok=True)

    def enforce(self) -> None:
        """Evict least-recently-used entries if the cache is over ``max_bytes``.

        One read of the index when under the bound (or none when unbounded).

        Raises:
            OSError: the cache cannot be read or changed.
        """
        if self.max_bytes is not None and self.info()["bytes"] > self.max_bytes:
            self._evict_to(self.max_bytes)

    def prune(self, max_bytes: int | None = None) -> dict[str, int]:
        """Clean the cache and evict least-recently-used entries until under the bound.

        Also evicts entries that were edited or lost, and removes blobs the index does not
        know (left by a crash) and temporary files untouched for a day.

        Args:
            max_bytes: the bound to prune to; None means this cache's ``max_bytes`` (and
                no eviction for size if that is None too).

        Returns:
            ``{"removed": files removed, "freed": bytes freed, "bytes": bytes left}``.

        Raises:
            InvalidInputError: ``max_bytes`` is negative.
            OSError: the cache cannot be read or changed.
        """
        bound = self.max_bytes if max_bytes is None else _check_bound(max_bytes)
        removed, freed = self._sweep()
        if bound is not None:
            more, more_freed = self._evict_to(bound)
            removed, freed = removed + more, freed + more_freed
        return {"removed": removed, "freed": freed, "bytes": self.info()["bytes"]}

    def close(self) -> None:
        """Close this process's connection to the index (reopened on next use)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r}, max_bytes={self.max_bytes!r})"

    # -- internals ---------------------------------------------------------------------

    def _place(self, src: Path, blob: os.stat_result, dest: Path) -> bool:
        """Link (else copy) ``src`` to ``dest`` atomically; False if ``src`` vanished."""
        if blob.st_mode & 0o222:  # someone made it writable: protect what we link
            with contextlib.suppress(PermissionError, FileNotFoundError):  # not ours, or gone
                os.chmod(src, READ_ONLY)
        with contextlib.suppress(OSError):
            os.link(src, dest)  # the common case, nothing there yet: it appears whole
            return True
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        try:
            try:
                os.link(src, tmp)
            except FileNotFoundError:
                return False
            except OSError as exc:
                if exc.errno not in _LINK_FALLBACK_ERRNOS:
                    raise
                try:
                    shutil.copyfile(src, tmp)
                except FileNotFoundError:
                    if src.exists():
                        raise
                    return False
            os.replace(tmp, dest)
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def _sweep(self) -> tuple[int, int]:
        """Evict damaged entries, remove unindexed blobs and stale temporary files."""
        removed = freed = 0
        with self._read() as conn:
            rows = conn.execute("SELECT digest, size, mtime_ns, inode FROM entries").fetchall()
        damaged = [r[0] for r in rows if not _intact(_Entry(*r), self.path(r[0]), r[1])]
        indexed = {r[0] for r in rows}
        orphans = [p for p in self._blob_files() if p.name not in indexed]
        if damaged or orphans:
            with self._write() as conn:
                still = [
                    d
                    for d in damaged
                    if (e := _entry(conn, d)) is not None and not _intact(e, self.path(d), e.size)
                ]
                removed, freed = self._evict(conn, still)
                for path in orphans:
                    # Under the lock an unindexed blob is not an insert in flight: remove it.
                    if _entry(conn, path.name) is None:
                        gone = _unlink(path)
                        removed, freed = removed + (gone is not None), freed + (gone or 0)
        cutoff = time.time() - STALE_TMP_SECONDS
        for path in self.tmp.glob("*") if self.tmp.is_dir() else ():
            with contextlib.suppress(OSError):
                if path.is_file() and path.stat().st_mtime < cutoff:
                    gone = _unlink(path)
                    removed, freed = removed + (gone is not None), freed + (gone or 0)
        return removed, freed

    def _blob_files(self) -> Iterator[Path]:
        if not self.blobs.is_dir():
            return
        for shard in self.blobs.iterdir():
            if shard.is_dir():
                for path in shard.iterdir():
                    if _DIGEST_NAME.fullmatch(path.name) and path.name.startswith(shard.name):
                        yield path

    def _evict_to(self, bound: int) -> tuple[int, int]:
        removed = freed = 0
        while True:
            with self._write() as conn:
                (total,) = conn.execute("SELECT COALESCE(SUM(size), 0) FROM entries").fetchone()
                if total <= bound:
                    return removed, freed
                victims: list[str] = []
                for digest, size in conn.execute(
                    "SELECT digest, size FROM entries ORDER BY last_used LIMIT ?", (PRUNE_BATCH,)
                ):
                    if total <= bound:
                        break
                    victims.append(digest)
                    total -= size
                n, f = self._evict(conn, victims)
                removed, freed = removed + n, freed + f

    def _evict(self, conn: sqlite3.Connection, digests: list[str]) -> tuple[int, int]:
        """Drop entries and unlink their blobs; the caller holds the write lock."""
        freed = 0
        for digest in digests:
            conn.execute("DELETE FROM entries WHERE digest = ?", (digest,))
            freed += _unlink(self.path(digest)) or 0
        return len(digests), freed

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _index_errors(self.index_path):
            yield self._db()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding SQLite's lock, across processes."""
        with self._lock, _index_errors(self.index_path):
            conn = self._db()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _db(self) -> sqlite3.Connection:
        # A connection must not cross fork(): a child opens its own.
        if self._conn is None or self._pid != os.getpid():
            self.root.mkdir(parents=True, exist_ok=True)
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
            self._conn, self._pid = conn, os.getpid()
        return self._conn


def _check_bound(max_bytes: int | None) -> int | None:
    if max_bytes is not None and (
        isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0
    ):
        raise InvalidInputError(f"invalid cache size bound {max_bytes!r}: bytes, 0 or more")
    return max_bytes


@contextlib.contextmanager
def _index_errors(path: Path) -> Iterator[None]:
    # The index is local disk like the blobs: its failures surface as OSError too.
    try:
        yield
    except sqlite3.Error as exc:
        raise OSError(f"download cache index {path}: {exc}") from exc


def _entry(conn: sqlite3.Connection, digest: str) -> _Entry | None:
    row = conn.execute(
        "SELECT digest, size, mtime_ns, inode FROM entries WHERE digest = ?", (digest,)
    ).fetchone()
    return _Entry(*row) if row else None


def _intact(entry: _Entry, path: Path, size: int) -> bool:
    """The blob file is the one indexed, unchanged since insertion, of the size asked for."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    return _matches(entry, st, size)


def _matches(entry: _Entry, st: os.stat_result, size: int) -> bool:
    return (
        st.st_size == entry.size == size
        and st.st_mtime_ns == entry.mtime_ns
        and st.st_ino == entry.inode
    )


def _same_file(dest: Path, blob: os.stat_result) -> bool:
    try:
        st = os.stat(dest)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return (st.st_dev, st.st_ino) == (blob.st_dev, blob.st_ino)


def _clock(conn: sqlite3.Connection) -> int:
    """A use time later than every recorded one, so LRU order is total across processes."""
    (latest,) = conn.execute("SELECT COALESCE(MAX(last_used), 0) FROM entries").fetchone()
    return max(time.time_ns(), int(latest) + 1)


def _set_used(conn: sqlite3.Connection, digest: str) -> None:
    conn.execute("UPDATE entries SET last_used = ? WHERE digest = ?", (_clock(conn), digest))


def _unlink(path: Path) -> int | None:
    """Remove ``path``; its size, or None if it was not there."""
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return None
    return size
