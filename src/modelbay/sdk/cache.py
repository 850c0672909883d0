"""The client's download cache: content-addressed, bounded in size, shared by processes.

Layout under the cache root (``$MODELBAY_CACHE_DIR``, default ``~/.cache/modelbay``)::

    blobs/ab/abcdef...   one read-only (0o444) file per sha256, named by it
    tmp/                 files being filled (``.<sha256>.<hex>.part``, locked by their
                         writer; small blobs of a bundle ``.<sha256>.<hex>.staged``,
                         unlocked); renamed into ``blobs/`` when complete
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
:data:`~modelbay.sdk.cache_index.BUSY_TIMEOUT` seconds), so the index and the directory
agree whenever the lock is free. Filling runs outside the lock: two processes may fetch the same blob at once, and the
second to finish keeps the first one's entry and drops its own copy. A crash between the
rename and the commit leaves an unindexed blob, which :meth:`Cache.prune` removes. The
cache root must be on a local filesystem (SQLite's WAL does not work over NFS).

**Partial files.** A file being filled in ``tmp/`` holds an ``flock`` for as long as its
writer lives (see sdk/streams.py); one left by a killed download holds none, and
:meth:`Cache.prune` and :meth:`Cache.enforce` remove it at once. (Files in ``tmp/`` named
otherwise, by older clients that took no lock or by :meth:`Cache.insert_many`, which takes
none, are removed once untouched for :data:`STALE_TMP_SECONDS`.) :meth:`Cache.partial_files`
reports both kinds.

**A damaged index.** An ``index.db`` that SQLite reports as not a database or as malformed
(garbage, a truncated copy, a damaged page) is repaired: when the cache is opened (which
runs ``PRAGMA quick_check(1)``, about 1 ms on a 10,000-entry index), or when a query first
meets the damage (that call then fails with an OSError saying so; the next one uses the new
index). Under a lock file (``index.lock``), so that one process repairs it, and only if
SQLite still reports damage there (a locked index, a full disk or an I/O error is not
damage, and is raised instead), the damaged file is renamed ``index.db.corrupt`` (replacing
an older one; its ``-wal`` and ``-shm`` go), a new empty index is created, and the blobs the
old one indexed are deleted: without their index, an edit made to one could not be seen, so
none is handed out again. They are fetched again when needed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sqlite3
import stat
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelbay.blobs.digest import check_digest
from modelbay.errors import DigestMismatchError, InvalidInputError
from modelbay.sdk.cache_index import CacheIndex, IndexRebuiltError, check_index, unusable
from modelbay.sdk.streams import (
    is_temp_name,
    locked_temp,
    remove_dead_temps,
    temp_files,
)
from modelbay.settings import cache_root
from modelbay.sizes import parse_size
from modelbay.sqlite_files import rows_in

#: The bound when ``MODELBAY_CACHE_MAX_SIZE`` is not set: 20 GB.
DEFAULT_MAX_BYTES = 20 * 10**9
#: Entries evicted per write transaction, so that the lock is never held for long.
PRUNE_BATCH = 256
#: A temporary file of an older client (which took no lock) untouched this long belongs to a
#: process that died; prune removes it. Locked temporary files go as soon as they are dead.
STALE_TMP_SECONDS = 24 * 3600
READ_ONLY = 0o444

# The suffix of a bundle's blob staged in tmp/ (see Cache.insert_many): not ".part", so that
# the dead-temp sweep, which takes an unlocked ".part" file for a killed writer's, skips it.
_STAGED = ".staged"
# What _repair moves blobs/ to before deleting it; one a failed rmtree left is swept later.
_DOOMED_BLOBS = re.compile(r"\.blobs-[0-9a-f]{12}", re.ASCII)

# Errors of os.link after which a copy still works: another filesystem, one without hard
# links, or an inode at its link limit.
_LINK_FALLBACK_ERRNOS = frozenset(
    {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}
)

_DIGEST_NAME = re.compile(r"[0-9a-f]{64}")


def default_root(environ: Mapping[str, str] | None = None) -> Path:
    """``$MODELBAY_CACHE_DIR``, else ``$XDG_CACHE_HOME/modelbay``, else ``~/.cache/modelbay``."""
    return cache_root(environ)


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
        origin: the setting that chose ``root`` (``MODELBAY_CACHE_DIR``), named in error
            messages so that the user knows what to change; None when the caller chose it.

    Raises:
        InvalidInputError: ``max_bytes`` is negative.
    """

    def __init__(
        self,
        root: Path,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        *,
        origin: str | None = None,
    ) -> None:
        self.root = Path(root)
        self.origin = origin
        self.max_bytes = _check_bound(max_bytes)
        self.blobs = self.root / "blobs"
        self.tmp = self.root / "tmp"
        self._index = CacheIndex(self.root, self.blobs, self.tmp, origin)
        self.index_path = self._index.index_path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Cache:
        """The cache configured by ``MODELBAY_CACHE_DIR`` and ``MODELBAY_CACHE_MAX_SIZE``.

        The size is read by :func:`parse_size` (``10GB``, ``500MiB``, bytes) and defaults to
        :data:`DEFAULT_MAX_BYTES`; the directory defaults as in :func:`default_root`.

        Raises:
            InvalidInputError: ``MODELBAY_CACHE_MAX_SIZE`` is not a size (the message names it).
        """
        env = os.environ if environ is None else environ
        raw = env.get("MODELBAY_CACHE_MAX_SIZE", "").strip()
        bound = parse_size(raw, name="MODELBAY_CACHE_MAX_SIZE") if raw else DEFAULT_MAX_BYTES
        origin = "MODELBAY_CACHE_DIR" if env.get("MODELBAY_CACHE_DIR") else None
        return cls(default_root(env), bound, origin=origin)

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
        with self._index.read() as conn:
            entry = _entry(conn, digest)
        if entry is None:
            return None
        if _intact(entry, path, size):
            return path
        with self._index.write() as conn:
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
        out: list[bool] = []
        for (digest, size, dest), (entry, path, blob) in zip(
            items, self._on_disk(items), strict=True
        ):
            if entry is None:
                out.append(False)
            elif blob is None or not _matches(entry, blob, size):
                # Lost or edited: the one-at-a-time path evicts it under the write lock.
                out.append(self.materialize(digest, size, dest, touch=False))
            else:
                dest = Path(dest)
                out.append(_same_file(dest, blob) or self._place(path, blob, dest))
        return out

    def _on_disk(
        self, items: Sequence[tuple[str, int, Path]]
    ) -> list[tuple[_Entry | None, Path, os.stat_result | None]]:
        """The index entry, blob path and blob stat (None if missing) of each item's digest,
        with one read of the index and one stat per distinct digest."""
        digests = list(dict.fromkeys(check_digest(d) for d, _, _ in items))
        entries: dict[str, _Entry] = {}
        with self._index.read() as conn:
            select = "SELECT digest, size, mtime_ns, inode FROM entries WHERE digest IN"
            entries.update((row[0], _Entry(*row)) for row in rows_in(conn, select, digests))
        stats: dict[str, os.stat_result | None] = {}
        out: list[tuple[_Entry | None, Path, os.stat_result | None]] = []
        for digest, _, _ in items:
            path = self.blobs / digest[:2] / digest
            entry = entries.get(digest)
            if entry is not None and digest not in stats:
                try:
                    stats[digest] = os.stat(path)
                except FileNotFoundError:
                    stats[digest] = None
            out.append((entry, path, stats.get(digest)))
        return out

    def touch_many(self, digests: Iterable[str]) -> None:
        """Mark entries used now, in one write; digests not in the cache are ignored.

        Raises:
            OSError: the index cannot be written.
        """
        unique = list(dict.fromkeys(digests))
        if not unique:
            return
        with self._index.write() as conn:
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
        with self._index.read() as conn:
            entries, total = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM entries"
            ).fetchone()
        return {
            "root": str(self.root),
            "entries": entries,
            "bytes": total,
            "max_bytes": self.max_bytes,
        }

    def partial_files(self) -> dict[str, int]:
        """The files in ``tmp/``: ``{"files", "bytes"}`` of all of them, and ``{"dead_files",
        "dead_bytes"}`` of those left by killed downloads (which :meth:`prune` removes).

        Raises:
            OSError: the cache cannot be read.
        """
        found = temp_files(self.tmp)
        dead = [size for _, size, live in found if not live]
        return {
            "files": len(found),
            "bytes": sum(size for _, size, _ in found),
            "dead_files": len(dead),
            "dead_bytes": sum(dead),
        }

    def open(self) -> None:
        """Make sure the cache can be used now: create its directories, open its index and
        check it (``PRAGMA quick_check(1)``; a damaged one is repaired, see the module
        docstring) and write a file in ``tmp/``.

        A download calls this first, so that a cache that cannot be used is found before
        any bytes are fetched, not after.

        Raises:
            OSError: the cache cannot be created, read or written.
        """
        try:
            with self._index.read() as conn:
                check_index(conn, "quick_check")
        except IndexRebuiltError:
            pass  # damaged, and replaced by a new index: usable now
        try:
            self.tmp.mkdir(parents=True, exist_ok=True)
            with locked_temp(self.tmp / "probe"):
                pass
        except OSError as exc:
            raise unusable(self.root, exc, self.origin) from exc

    # -- writing -----------------------------------------------------------------------

    def insert(self, digest: str, size: int, fill: Callable[[Path], None]) -> Path:
        """Add the blob ``digest`` by having ``fill`` write it; returns the entry's path.

        ``fill(tmp)`` is given ``tmp``, a file that already exists, empty, in the cache's
        ``tmp/``, and that the cache holds locked (``flock``) until the entry is in place.
        ``fill`` must write the blob's bytes into that file (open it for writing, as
        ``Path.write_bytes`` or :func:`~modelbay.sdk.streams.atomic_verified_write` do) and
        check that they hash to ``digest``; the cache checks only the size. It must not
        replace, rename or remove ``tmp``: a new file under the name holds no lock, and a
        concurrent sweep of ``tmp/`` may take it for a killed download's and delete it.

        The entry appears atomically once ``fill`` returns. If the blob is already cached,
        ``fill`` is not called; if another process inserts it while ``fill`` runs, the
        first entry is kept and this copy dropped. The entry is marked used. Does not
        enforce the bound: call :meth:`enforce` after a batch.

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
        with locked_temp(self.tmp / digest) as tmp:
            fill(tmp)
            written = tmp.stat().st_size if tmp.is_file() else None
            if written != size:
                raise DigestMismatchError(
                    f"blob {digest[:12]}: expected {size} bytes, the download wrote "
                    f"{written or 'nothing'}",
                    {"sha256": digest, "expected_size": size, "size": written},
                )
            os.chmod(tmp, READ_ONLY)
            with self._index.write() as conn:
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
            # Written outside the lock, renamed under it. Not locked while they wait (a
            # bundle holds hundreds; threads fetch many bundles at once), so not named by
            # temp_name: the dead-temp sweep that ends every download (enforce) and prune
            # would take them for a killed writer's at once. The stale sweep removes the
            # ones a killed process leaves, after STALE_TMP_SECONDS.
            for digest, data in blobs:
                staged.append(self.tmp / f".{digest}.{uuid.uuid4().hex[:12]}{_STAGED}")
                _write_read_only(staged[-1], data)
            shards: set[Path] = set()
            with self._index.write() as conn:
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
                    try:
                        os.replace(tmp, path)
                    except FileNotFoundError:
                        with locked_temp(self.tmp / digest) as again:
                            _write_read_only(again, data)
                            os.replace(again, path)
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

        Also removes the partial files left in ``tmp/`` by killed downloads. One listing of
        ``tmp/`` and one read of the index when under the bound (or none when unbounded).

        Raises:
            OSError: the cache cannot be read or changed.
        """
        remove_dead_temps(self.tmp)
        if self.max_bytes is not None and self.info()["bytes"] > self.max_bytes:
            self._evict_to(self.max_bytes)

    def prune(self, max_bytes: int | None = None) -> dict[str, int]:
        """Clean the cache and evict least-recently-used entries until under the bound.

        Also evicts entries that were edited or lost, and removes blobs the index does not
        know (left by a crash), partial files left by killed downloads, and older clients'
        temporary files untouched for :data:`STALE_TMP_SECONDS`.

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
        self._index.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r}, max_bytes={self.max_bytes!r})"

    # -- internals ---------------------------------------------------------------------

    def _place(self, src: Path, blob: os.stat_result, dest: Path, *, copy: bool = True) -> bool:
        """Link (else, with ``copy``, copy) ``src`` to ``dest`` atomically, over whatever is
        there; False if ``src`` vanished, or if it cannot be linked and not ``copy``: then
        ``dest`` is left as it is, for :meth:`place_many`'s caller to check, since it may
        hold the right bytes already (a bind mount of the same filesystem, say, whose st_dev
        is the same but whose links fail)."""
        if blob.st_mode & 0o222:  # someone made it writable: protect what we link
            with contextlib.suppress(PermissionError, FileNotFoundError):  # not ours, or gone
                os.chmod(src, READ_ONLY)
        with contextlib.suppress(OSError):
            os.link(src, dest)  # the common case, nothing there yet: it appears whole
            return True
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with locked_temp(dest, lambda tmp: os.link(src, tmp)) as tmp:
                os.replace(tmp, dest)
            return True
        except FileNotFoundError:
            if src.exists():
                raise
            return False
        except OSError as exc:
            if exc.errno not in _LINK_FALLBACK_ERRNOS:
                raise
            if not copy:
                return False
        try:
            with locked_temp(dest) as tmp:
                shutil.copyfile(src, tmp)
                os.replace(tmp, dest)
            return True
        except FileNotFoundError:
            if src.exists():
                raise
            return False

    def _sweep(self) -> tuple[int, int]:
        """Evict damaged entries, remove unindexed blobs and stale temporary files."""
        removed = freed = 0
        with self._index.read() as conn:
            rows = conn.execute("SELECT digest, size, mtime_ns, inode FROM entries").fetchall()
        damaged = [r[0] for r in rows if not _intact(_Entry(*r), self.path(r[0]), r[1])]
        indexed = {r[0] for r in rows}
        orphans = [p for p in self._blob_files() if p.name not in indexed]
        if damaged or orphans:
            with self._index.write() as conn:
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
        dead, dead_bytes = remove_dead_temps(self.tmp)
        removed, freed = removed + dead, freed + dead_bytes
        cutoff = time.time() - STALE_TMP_SECONDS
        for path in self.tmp.glob("*") if self.tmp.is_dir() else ():
            with contextlib.suppress(OSError):
                if _DOOMED_BLOBS.fullmatch(path.name) and path.is_dir():
                    # Left by a repair whose rmtree failed: nothing in it is indexed.
                    shutil.rmtree(path, ignore_errors=True)
                    removed += not path.exists()
                    continue
                if is_temp_name(path.name) or not path.is_file():
                    continue  # locked while live: removed above once dead
                if path.stat().st_mtime < cutoff:
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
            with self._index.write() as conn:
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

    def place_many(self, items: Sequence[tuple[str, int, Path]]) -> list[str]:
        """Put each ``(digest, size, dest)``'s cached blob at ``dest`` unless it is there
        already, with one read of the index, one stat per blob and one ``lstat`` per
        ``dest``; marks nothing used. A download calls this once, before fetching.

        Returns, for each item:

        - ``"linked"``: ``dest`` already is the cached blob (a hard link to it); untouched.
        - ``"placed"``: linked (or copied) to ``dest`` now, replacing what was there.
        - ``"check"``: ``dest`` is a regular file of the right size that the cache cannot
          hard-link over (another filesystem) or does not hold: it may already be right,
          and hashing it costs no more than the copy that would replace it. Untouched;
          :meth:`materialize_many` places the ones that turn out wrong.
        - ``"absent"``: not cached, and nothing of the right size at ``dest``; untouched.

        Raises:
            InvalidInputError: a digest is not a sha256.
            OSError: a destination cannot be written, or the cache cannot be read.
        """
        out: list[str] = []
        for (digest, size, dest), (entry, path, blob) in zip(
            items, self._on_disk(items), strict=True
        ):
            dest = Path(dest)
            try:
                there: os.stat_result | None = os.lstat(dest)
            except (FileNotFoundError, NotADirectoryError):
                there = None
            sized = there is not None and stat.S_ISREG(there.st_mode) and there.st_size == size
            if entry is not None and (blob is None or not _matches(entry, blob, size)):
                # Lost or edited: the one-at-a-time path evicts it under the write lock.
                if sized:
                    out.append("check")
                else:
                    placed = self.materialize(digest, size, dest, touch=False)
                    out.append("placed" if placed else "absent")
            elif entry is None or blob is None:
                out.append("check" if sized else "absent")
            elif there is not None and (there.st_dev, there.st_ino) == (blob.st_dev, blob.st_ino):
                out.append("linked")
            elif sized and there is not None and there.st_dev != blob.st_dev:
                out.append("check")
            elif sized:
                out.append("placed" if self._place(path, blob, dest, copy=False) else "check")
            else:
                out.append("placed" if self._place(path, blob, dest) else "absent")
        return out


def _write_read_only(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, READ_ONLY)


def _check_bound(max_bytes: int | None) -> int | None:
    if max_bytes is not None and (
        isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0
    ):
        raise InvalidInputError(f"invalid cache size bound {max_bytes!r}: bytes, 0 or more")
    return max_bytes


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
