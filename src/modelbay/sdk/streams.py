"""Bytes between files and the wire: files read in ranges, downloads written atomically and
verified against their sha256 (hashed on a helper thread once they prove large).

**Temporary files.** A download is written to a temporary file beside its destination and
renamed over it once verified. The temporary name is :func:`temp_name`: ``.<name>.<12 hex
digits>.part`` (:data:`TEMP_NAME` matches it), and :func:`locked_temp` holds an exclusive
``flock`` on the file for as long as its writer lives. A killed writer (SIGKILL, power loss)
leaves the file behind, but not the lock: :func:`remove_dead_temps` removes temporary files
whose lock it can take, and never a live writer's.

Taking the lock does not prove the writer dead on its own: a writer creates the file and
then locks it, and a cleaner may lock it in between. So the cleaner unlinks only while it
holds the lock, and a writer that gets its lock checks that its file is still the one under
the name (else it starts again under a new name); a writer renames its file away before it
lets go of the lock, so a name it held never reaches a cleaner with live bytes behind it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import re
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from modelbay.errors import DigestMismatchError, InvalidInputError
from modelbay.preallocation import reserve

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: temporary files are never judged dead
    fcntl = None  # type: ignore[assignment]

Progress = Callable[[int], None] | None
CHUNK = 1 << 20
#: Downloads at least this large have their room reserved before they are written.
RESERVE_FROM = 1 << 20
#: The name of a temporary file for ``<name>``: ``.<name>.<12 lowercase hex digits>.part``.
TEMP_NAME = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{12}\.part", re.ASCII | re.DOTALL)

# The temporary files this process holds open and locked (see locked_temp): a download
# asked to write to one of them writes into it rather than beside it.
_held: set[str] = set()
_held_lock = threading.Lock()


def read_range(path: Path, offset: int, length: int, progress: Progress = None) -> Iterator[bytes]:
    """The bytes ``[offset, offset+length)`` of a file, a chunk at a time (nothing staged).

    Raises:
        InvalidInputError: the file is shorter than that (it changed since it was hashed).
    """
    with open(path, "rb") as f:
        f.seek(offset)
        remaining = length
        while remaining > 0:
            chunk = f.read(min(CHUNK, remaining))
            if not chunk:
                raise InvalidInputError(f"{path} changed while it was being uploaded")
            remaining -= len(chunk)
            if progress:
                progress(len(chunk))
            yield chunk


def read_whole(path: Path, size: int) -> bytes:
    """All ``size`` bytes of a (small) file.

    Raises:
        InvalidInputError: the file has another size now (it changed since it was hashed).
    """
    with open(path, "rb") as f:
        data = f.read(size + 1)
    if len(data) != size:
        raise InvalidInputError(f"{path} changed while it was being uploaded")
    return data


def counted(chunks: Iterable[bytes], progress: Progress) -> Iterator[bytes]:
    for chunk in chunks:
        if progress:
            progress(len(chunk))
        yield chunk


class StreamHash:
    """The sha256 of a stream, computed on a helper thread once the stream has proved long:
    hashlib releases the GIL, so a large download is hashed while it is received and
    written rather than in turn. Chunks must not change after :meth:`update`."""

    INLINE = 8 << 20  # the first bytes are hashed inline: a thread costs more than they do
    BATCH = 1 << 20

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._seen = 0
        self._batch: list[bytes] = []
        self._held = 0
        self._queue: queue.Queue[list[bytes] | None] | None = None
        self._thread: threading.Thread | None = None

    def update(self, chunk: bytes) -> None:
        self._seen += len(chunk)
        if self._queue is None:
            if self._seen <= self.INLINE:
                self._hash.update(chunk)
                return
            self._queue = queue.Queue(maxsize=16)  # at most 16 MiB waiting
            self._thread = threading.Thread(target=self._run, name="modelbay-hash", daemon=True)
            self._thread.start()
        self._batch.append(chunk)
        self._held += len(chunk)
        if self._held >= self.BATCH:
            self._queue.put(self._batch)
            self._batch, self._held = [], 0

    def _run(self) -> None:
        assert self._queue is not None
        while (batch := self._queue.get()) is not None:
            for chunk in batch:
                self._hash.update(chunk)

    def hexdigest(self) -> str:
        """The digest of everything given; stops the helper thread."""
        if self._queue is not None:
            self._queue.put(self._batch)
            self._batch = []
        self.close()
        return self._hash.hexdigest()

    def close(self) -> None:
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        self._queue = self._thread = None


def temp_name(name: str) -> str:
    """A fresh temporary name for a file that will be renamed to ``name`` (see
    :data:`TEMP_NAME`)."""
    return f".{name}.{uuid.uuid4().hex[:12]}.part"


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary name of :func:`temp_name`'s pattern (a file being
    written, or left by a killed writer: not content to keep or upload)."""
    return TEMP_NAME.fullmatch(name) is not None


@contextlib.contextmanager
def locked_temp(dest: Path, create: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """A new temporary file beside ``dest`` (named by :func:`temp_name`), locked.

    ``create(path)`` makes the file (a hard link, say); by default it is created empty, for
    the caller to open and write. The caller renames it into place before leaving the
    block; whatever is still under its name on leaving is removed. The lock is held until
    the block ends, so that :func:`remove_dead_temps` leaves the file alone.

    Raises:
        OSError: the directory cannot be written, or whatever ``create`` raises.
    """
    while True:
        path = dest.with_name(temp_name(dest.name))
        if create is None:
            open(path, "xb").close()
        else:
            create(path)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            continue  # a cleaner took it before it was locked: start again
        try:
            _lock(fd, blocking=True)
            if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            raise
        os.close(fd)
    key = str(path)
    with _held_lock:
        _held.add(key)
    try:
        yield path
    finally:
        with _held_lock:
            _held.discard(key)
        try:
            # Nobody else makes a file under this fresh name: whatever is there is ours.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        finally:
            os.close(fd)


def remove_dead_temps(directory: Path, names: Collection[str] | None = None) -> tuple[int, int]:
    """Remove the temporary files in ``directory`` whose writer is gone.

    Only files named by :func:`temp_name` count, and of those, with ``names``, only the
    ones for those names. A file whose lock is held (a live writer, in any process) is kept.

    Returns:
        ``(files removed, bytes freed)``.
    """
    removed = freed = 0
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return 0, 0
    for entry in entries:
        match = TEMP_NAME.fullmatch(entry.name)
        if match is None or (names is not None and match["name"] not in names):
            continue
        gone = _remove_if_dead(Path(entry.path))
        if gone is not None:
            removed, freed = removed + 1, freed + gone
    return removed, freed


def temp_files(directory: Path) -> list[tuple[Path, int, bool]]:
    """``(path, size, live)`` of each temporary file in ``directory`` (any name); ``live``
    says whether its writer holds its lock (files of other naming schemes, whose writers
    take no lock, count as live)."""
    out: list[tuple[Path, int, bool]] = []
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return out
    for entry in entries:
        with contextlib.suppress(OSError):
            if not entry.is_file(follow_symlinks=False):
                continue
            size = entry.stat(follow_symlinks=False).st_size
            live = not is_temp_name(entry.name) or _is_locked(Path(entry.path))
            out.append((Path(entry.path), size, live))
    return out


def _remove_if_dead(path: Path) -> int | None:
    """Unlink the temporary file ``path`` if no one holds its lock; its size, or None."""
    if fcntl is None:  # pragma: no cover
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not _lock(fd, blocking=False):
            return None
        st = os.fstat(fd)
        # Still the file under that name (not renamed into place by its writer meanwhile).
        if os.stat(path, follow_symlinks=False).st_ino != st.st_ino:
            return None
        os.unlink(path)
        return st.st_size
    except OSError:
        return None
    finally:
        os.close(fd)


def _is_locked(path: Path) -> bool:
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return not _lock(fd, blocking=False)
    finally:
        os.close(fd)


def _lock(fd: int, *, blocking: bool) -> bool:
    """Take ``fd``'s exclusive flock; False if ``blocking`` is off and someone holds it."""
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _holds(path: Path) -> bool:
    with _held_lock:
        return str(path) in _held


def atomic_verified_write(dest: Path, digest: str, chunks: Any, size: int | None = None) -> None:
    """Write ``chunks`` to ``dest``, verified against ``digest``; nothing partial is ever
    left under ``dest``. The room for ``size`` bytes, when given and at least
    :data:`RESERVE_FROM`, is reserved before the first chunk (see modelbay/preallocation.py).

    The bytes go to a locked temporary file beside ``dest`` (see :func:`locked_temp`),
    renamed over ``dest`` once they hash to ``digest``. When ``dest`` is itself a temporary
    file this process holds (the download cache fills its own), they go straight into it:
    its owner renames it into place.

    Raises:
        DigestMismatchError: the bytes do not hash to ``digest``, or (``size`` given) are
            not ``size`` bytes.
        OSError: the file cannot be written (ENOSPC before any chunk is taken, when the disk
            has no room for ``size`` bytes).
    """
    if _holds(dest):
        with open_new(dest) as f:
            _reserve(f, size)
            _write_verified(f, digest, chunks, None, size)
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    with locked_temp(dest) as tmp:
        with open_new(tmp) as f:
            _reserve(f, size)
            _write_verified(f, digest, chunks, dest, size)
        os.replace(tmp, dest)


def _reserve(f: IO[bytes], size: int | None) -> None:
    if size is not None and size >= RESERVE_FROM:
        reserve(f.fileno(), size)


def open_new(path: Path) -> IO[bytes]:
    """Open the new, empty file :func:`locked_temp` made, for writing.

    Not with ``"wb"``: truncating an existing file, even an empty one, makes ext4 start
    writing it back when it is closed (its ``auto_da_alloc`` guard for programs that rewrite
    a file in place), and closing a 1 GiB download then waited a third of a second for the
    disk, with the download's own reads slowed by that writeback meanwhile.
    """
    return open(path, "r+b")


def _write_verified(
    f: IO[bytes], digest: str, chunks: Any, dest: Path | None, size: int | None = None
) -> None:
    h = StreamHash()
    written = 0
    try:
        for chunk in chunks:
            f.write(chunk)
            h.update(chunk)
            written += len(chunk)
        actual = h.hexdigest()
    finally:
        h.close()
    # The file ends where the bytes did, whatever room was reserved for it: a blob that came
    # shorter than its manifest says is not left padded with zeros to that length.
    f.truncate(written)
    _check_fill(digest, size, written, actual, dest)


#: Writes ``bytes`` at an offset of the file being filled (see :func:`atomic_verified_ranges`).
RangeWriter = Callable[[int, "bytes | memoryview"], None]


class _Cancelled(Exception):
    """Stops the other ranges of a fill that failed; never leaves this module."""


def atomic_verified_ranges(
    dest: Path,
    digest: str,
    size: int,
    fetch: Callable[[int, int, RangeWriter], None],
    *,
    range_size: int,
    streams: int,
    progress: Progress = None,
) -> None:
    """Fill ``dest`` with the ``size`` bytes of a blob fetched by ranges, several at once,
    verified against ``digest``, as :func:`atomic_verified_write` does for one stream.

    ``fetch(start, length, write)`` gets bytes ``[start, start+length)`` and hands them to
    ``write(offset, data)``, in order, from any thread; fewer bytes mean the blob ended.
    Each range is written at its offset as it arrives (no range waits for the one before
    it, and none is held in memory), and the file is hashed in order, by this thread, from
    the page cache, as the ranges before the hash's position complete.

    Raises:
        DigestMismatchError: the bytes do not hash to ``digest``, or are not ``size``.
        OSError: the file cannot be written.
        Exception: the first error a ``fetch`` raised (the others stop at their next write).
    """
    if _holds(dest):
        with open_new(dest) as f:
            _fill_verified(f, digest, size, fetch, range_size, streams, progress, None)
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    with locked_temp(dest) as tmp:
        with open_new(tmp) as f:
            _fill_verified(f, digest, size, fetch, range_size, streams, progress, dest)
        os.replace(tmp, dest)


def _fill_verified(
    f: IO[bytes],
    digest: str,
    size: int,
    fetch: Callable[[int, int, RangeWriter], None],
    range_size: int,
    streams: int,
    progress: Progress,
    dest: Path | None,
) -> None:
    _reserve(f, size)
    fill = _RangeFill(f.fileno(), size, range_size, fetch, progress)
    h = hashlib.sha256()
    buf = memoryview(bytearray(CHUNK))
    workers = max(1, min(streams, len(fill.starts)))
    with ThreadPoolExecutor(workers) as pool:
        for _ in range(workers):
            pool.submit(fill.run)
        try:
            # The hash follows the ranges in order, reading back what they wrote.
            for i, start in enumerate(fill.starts):
                end = start + fill.wait_for(i)
                while start < end:
                    n = os.preadv(fill.fd, [buf[: min(CHUNK, end - start)]], start)
                    h.update(buf[:n])
                    start += n
        except BaseException as exc:
            fill.fail(exc)  # the ranges still running stop at their next write
            raise
    f.truncate(sum(fill.got))
    _check_fill(digest, size, sum(fill.got), h.hexdigest(), dest)


class _RangeFill:
    """The ranges of one :func:`atomic_verified_ranges`: taken in order by its threads,
    each written at its offset; the first error stops the others."""

    def __init__(
        self,
        fd: int,
        size: int,
        range_size: int,
        fetch: Callable[[int, int, RangeWriter], None],
        progress: Progress,
    ) -> None:
        self.fd = fd
        self.size = size
        self.range_size = range_size
        self.fetch = fetch
        self.progress = progress
        self.starts = list(range(0, size, range_size))
        self.got = [0] * len(self.starts)  # bytes each range brought
        self.finished = [False] * len(self.starts)
        self.errors: list[BaseException] = []
        self.changed = threading.Condition()
        self._next = iter(range(len(self.starts)))

    def run(self) -> None:
        """Fetch ranges until none is left or one failed."""
        while not self.errors:
            with self.changed:
                i = next(self._next, None)
            if i is None:
                return
            start = self.starts[i]
            try:
                self.fetch(start, min(self.range_size, self.size - start), self._writer(i))
            except BaseException as exc:
                if not isinstance(exc, _Cancelled):  # else: another error stopped it
                    self.fail(exc)
                return
            with self.changed:
                self.finished[i] = True
                self.changed.notify_all()

    def _writer(self, i: int) -> RangeWriter:
        def write(offset: int, data: bytes | memoryview) -> None:
            if self.errors:
                raise _Cancelled
            view = memoryview(data)
            while view:
                n = os.pwrite(self.fd, view, offset)
                view, offset = view[n:], offset + n
            self.got[i] += len(data)
            if self.progress:
                self.progress(len(data))

        return write

    def wait_for(self, i: int) -> int:
        """The bytes range ``i`` brought, once it is done; the first error, if one came."""
        with self.changed:
            while not self.finished[i] and not self.errors:
                self.changed.wait()
            if self.errors:
                raise self.errors[0]
            return self.got[i]

    def fail(self, exc: BaseException) -> None:
        with self.changed:
            self.errors.append(exc)
            self.changed.notify_all()


def _check_fill(
    digest: str, size: int | None, written: int, actual: str, dest: Path | None
) -> None:
    what = f"blob {digest[:12]}" if dest is None else dest.name
    where = {} if dest is None else {"path": str(dest)}
    if size is not None and written != size:
        raise DigestMismatchError(
            f"download of {what} is corrupt: expected {size} bytes, got {written}",
            {"expected_size": size, "size": written, **where},
        )
    if actual != digest:
        raise DigestMismatchError(
            f"download of {what} is corrupt: expected sha256 {digest[:12]}, got {actual[:12]}",
            {"expected": digest, "actual": actual, **where},
        )
