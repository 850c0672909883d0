"""Moving bytes: hash in parallel, send only what the server lacks (large files in parallel
parts, resumable), fetch only what the cache lacks (in parallel, verified).

Nothing is staged by copying a whole file first: parts are read from the file at their
offsets while they are sent, and downloads are written to a temporary name next to their
destination and renamed once verified.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modelbay.blobs.bundle import MAX_BUNDLED_BLOB
from modelbay.blobs.local import sha256_file
from modelbay.errors import (
    DigestMismatchError,
    InvalidInputError,
    ModelbayError,
    NotFoundError,
    TransportError,
    from_payload,
)
from modelbay.sdk.digests import DigestIndex
from modelbay.sdk.streams import locked_temp, open_new, remove_dead_temps
from modelbay.sdk.transport import Info, LocalTransport, Transport

WORKERS = min(16, (os.cpu_count() or 2) * 4)
#: Parts sent to the server itself (not to an object store) go at most this many at a time:
#: the server writes them in one event loop and hashes them in order as they land, so more
#: streams only contend for the CPU (1 GiB on 2 cores: 1.3 s with 2 streams, 1.7 s with 8).
SERVER_PART_STREAMS = 2
#: Small blobs go up and come down in bundles of at most this many bytes and blobs.
BUNDLE_BYTES = 4 << 20
BUNDLE_BLOBS = 500
#: Transfers shorter than this many seconds show no progress bar, whatever their size.
PROGRESS_DELAY = 0.5


class _Stopped(Exception):
    """Raised in a transfer's threads once it is stopped (Ctrl-C, or another file failed).
    It never leaves this module (:func:`_run_all` raises the reason instead), so it is not
    part of the modelbay error tree, and nothing catches it but the pool."""


class _Meter:
    """Counts bytes from many threads and drives a Rich progress bar on stderr when it is a
    terminal, started only once a transfer has lasted PROGRESS_DELAY seconds.

    It is also how a transfer is stopped: every thread reports each chunk here, so once
    :attr:`stopped` is set, the next chunk of every file raises :class:`_Stopped`.
    """

    def __init__(self, label: str, total: int, enabled: bool) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._enabled = enabled and sys.stderr.isatty()
        self._start = time.monotonic()
        self._progress: Any = None
        self._task: Any = None

    def check(self) -> None:
        """Raise :class:`_Stopped` if the transfer was stopped."""
        if self.stopped.is_set():
            raise _Stopped("the transfer was stopped")

    def __call__(self, n: int) -> None:
        self.check()
        with self._lock:
            self.done += n
            if not self._enabled:
                return
            if self._progress is None and time.monotonic() - self._start >= PROGRESS_DELAY:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    DownloadColumn,
                    Progress,
                    TextColumn,
                    TimeRemainingColumn,
                    TransferSpeedColumn,
                )

                self._progress = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    DownloadColumn(),
                    TransferSpeedColumn(),
                    TimeRemainingColumn(),
                    # stderr: stdout carries the command's result (a directory, JSON).
                    console=Console(stderr=True),
                    transient=True,
                )
                self._progress.start()
                self._task = self._progress.add_task(self.label, total=self.total)
            if self._progress is not None:
                self._progress.update(self._task, completed=self.done)

    def close(self) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None


@contextmanager
def meter(label: str, total: int, enabled: bool = True) -> Iterator[_Meter]:
    m = _Meter(label, total, enabled)
    try:
        yield m
    finally:
        m.close()


def removed_after_add(path: Path | str) -> InvalidInputError:
    """The error for a file of an artifact that was removed after it was added."""
    return InvalidInputError(
        f"{path} was removed after it was added to the artifact", {"path": str(path)}
    )


@contextmanager
def files_still_there(paths: Iterable[Path]) -> Iterator[None]:
    """Turn a FileNotFoundError (or NotADirectoryError: a folder on the way replaced by a
    file) about one of ``paths`` into :func:`removed_after_add`'s error (one about any other
    file, e.g. the server's own in embedded mode, goes on as it is)."""
    try:
        yield
    except (FileNotFoundError, NotADirectoryError) as exc:
        if exc.filename is None or os.fspath(exc.filename) not in {os.fspath(p) for p in paths}:
            raise
        raise removed_after_add(os.fspath(exc.filename)) from exc


def hash_files(
    paths: list[Path], transport: Transport | None = None, *, progress: bool = True
) -> list[tuple[str, int]]:
    """(sha256, size) of each file, hashed in parallel (hashlib releases the GIL); a file
    whose stat is unchanged since it was last hashed is not read again (see sdk/digests.py).

    With a ``transport``, large new files are sent while they are hashed (see
    :func:`hash_and_send`).

    Raises:
        InvalidInputError: a file is gone (removed after it was added to the artifact).
    """
    return hash_and_send(paths, transport, progress=progress)[0]


def hash_and_send(
    paths: list[Path], transport: Transport | None, *, progress: bool = True
) -> tuple[list[tuple[str, int]], int]:
    """(sha256, size) of each file, and the bytes sent on the way.

    Hashing a file first and sending it after reads it twice, one pass after the other. A
    large file this machine has not seen before (no entry in the digest index for its
    current stat: a checkpoint just written) is instead sent to a server that writes blobs
    itself while it is hashed, in a *provisional* upload session that is completed with
    the digest once known, and verified by the server against it. If the digest turns out
    to be stored already (the same bytes under another name), sending stops there; only
    the bytes sent until the hash was done were spent. A killed upload is resumed the next
    time the file is logged (the session is remembered by the file's stat). Files seen
    before, small files, and object-store servers (which need the digest up front) go the
    usual way: hashed here, then sent by :func:`upload` only if missing.

    Raises:
        InvalidInputError: a file is gone (removed after it was added to the artifact).
    """
    from modelbay.sdk.digests import default_index

    index = default_index()
    sent = 0
    sent_lock = threading.Lock()

    def hash_all(todo: list[Path]) -> list[tuple[str, int]]:
        stats = [os.stat(p) for p in todo]
        # A file named twice (or hard-linked) is read once.
        first: dict[tuple[int, int], int] = {}
        unique = [first.setdefault((st.st_dev, st.st_ino), i) == i for i, st in enumerate(stats)]
        streamed = [
            transport is not None
            and transport.hashes_while_sending
            and st.st_size >= STREAM_MIN_BYTES
            and not index.seen(p, st)
            for p, st in zip(todo, stats, strict=True)
        ]

        def one(i: int) -> tuple[str, int]:
            nonlocal sent
            if not streamed[i]:
                return sha256_file(todo[i])
            assert transport is not None
            with _streaming:
                hashed, n = _send_while_hashing(transport, index, todo[i], stats[i], progress)
            with sent_lock:
                sent += n
            return hashed

        work = [i for i in range(len(todo)) if unique[i]]
        if len(work) <= 1:
            done = dict(zip(work, map(one, work), strict=True))
        else:
            with ThreadPoolExecutor(WORKERS) as pool:
                done = dict(zip(work, pool.map(one, work), strict=True))
        return [done[first[(st.st_dev, st.st_ino)]] for st in stats]

    with files_still_there(paths):
        return index.digest_many(paths, hash_all), sent


#: Files at least this large, not seen before, are sent while they are hashed (see
#: hash_and_send); a smaller one costs little to hash first (32 MiB: ~20 ms).
STREAM_MIN_BYTES = 32 << 20
#: One file is sent while hashed at a time (each takes SERVER_PART_STREAMS, and shows one
#: progress bar); two copies of new bytes so go one after the other, and the second stops
#: as soon as its hash shows the first one stored.
_streaming = threading.Lock()


def _send_while_hashing(
    transport: Transport, index: DigestIndex, path: Path, st: os.stat_result, progress: bool
) -> tuple[tuple[str, int], int]:
    """Send ``path`` in a provisional session while hashing it; returns ((sha256, size), the
    bytes sent). If the session is lost (collected, or completed by nobody), the digest is
    still returned, and :func:`upload` sends what the server lacks as usual.

    Raises:
        DigestMismatchError: the file changed while it was sent.
        InvalidInputError: the file changed size while it was hashed.
        TransportError: parts could not be sent after ATTEMPTS rounds (the session is
            remembered: logging again resumes it).
    """
    server = transport.identity
    resume = index.provisional_upload(server, path, st)
    entry: Info = {"size": st.st_size} if resume is None else {"size": st.st_size, "id": resume}
    try:
        session = transport.call("begin_uploads", files=[entry])["provisional"][0]
    except InvalidInputError:
        # An object store (which needs digests up front), or a server from before
        # provisional sessions: hash first, then send what it lacks.
        transport.hashes_while_sending = False
        return sha256_file(path), 0
    if session["id"] != resume:
        index.remember_upload(server, path, st, session["id"])
    stored_already = threading.Event()

    def hash_then_ask() -> tuple[str, int]:
        digest, size = sha256_file(path)
        with contextlib.suppress(TransportError):  # then sending just goes on
            if not transport.call("missing_blobs", digests=[digest]):
                stored_already.set()  # stop sending: the server has these bytes
        return digest, size

    with ThreadPoolExecutor(1) as hashing:
        hashed = hashing.submit(hash_then_ask)
        sent, error = _send_parts(transport, session, path, stored_already, progress)
        digest, size = hashed.result()
    if size != st.st_size:
        raise InvalidInputError(f"{path} changed while it was being uploaded")
    for _ in range(ATTEMPTS - 1):
        if not isinstance(error, TransportError):
            break
        # Parts lost on the way: ask which are stored, send the rest.
        again = transport.call("begin_uploads", files=[{"size": size, "id": session["id"]}])
        if again["provisional"][0]["id"] != session["id"]:
            error = NotFoundError(f"upload {session['id']} is not open")
            break
        session = again["provisional"][0]
        more, error = _send_parts(transport, session, path, stored_already, progress)
        sent += more
    if isinstance(error, TransportError):
        raise error
    if error is None:
        result = transport.call(
            "complete_uploads", ids=[session["id"]], sha256={session["id"]: digest}
        )[0]
        if result.get("error"):
            failure = from_payload({"error": result["error"]}, 400)
            if isinstance(failure, DigestMismatchError):
                index.remember_upload(server, path, st, None)
                raise failure  # the file changed while it was sent
            # Otherwise (gone, or being collected): upload() sends what the server lacks.
    index.remember_upload(server, path, st, None)
    return (digest, size), sent


def _send_parts(
    transport: Transport, session: Info, path: Path, stop: threading.Event, progress: bool
) -> tuple[int, ModelbayError | None]:
    """Send the parts of ``session`` not stored yet, in order, a few at a time (the server
    hashes them in order as they land), until ``stop`` is set; returns the bytes sent and
    the first error (NotFoundError: the session is gone; TransportError: parts were lost)."""
    todo = [p for p in session["parts"] if not p["done"]]
    errors: list[ModelbayError] = []

    with meter("uploading", sum(p["size"] for p in todo), progress) as m:

        def send(part: Info) -> int:
            if stop.is_set() or errors:
                return 0
            try:
                transport.upload_part(session["id"], part, path, m)
            except (NotFoundError, TransportError) as exc:
                errors.append(exc)
                return 0
            return int(part["size"])

        with ThreadPoolExecutor(SERVER_PART_STREAMS) as pool:
            sent = sum(pool.map(send, todo))
    return sent, (errors[0] if errors else None)


def _run_all(
    fn: Callable[[Any], None], items: list[Any], stop: threading.Event | None = None
) -> None:
    """``fn`` on every item, a few at a time; the first error (or a KeyboardInterrupt in
    the calling thread) is raised once the threads are done. On it, items not started are
    cancelled, and ``stop`` is set so that running ones can stop early (a transfer's
    :class:`_Meter` stops them at their next chunk)."""
    if not items:
        return
    if len(items) == 1:
        fn(items[0])
        return
    pool = ThreadPoolExecutor(min(WORKERS, len(items)))
    try:
        futures = [pool.submit(fn, item) for item in items]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:  # the first error, in the items' order
            if future in done:
                future.result()
    except BaseException:
        if stop is not None:
            stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()


def bundles(digests: list[str], sizes: dict[str, int]) -> tuple[list[list[str]], list[str]]:
    """The blobs that travel in bundles (small ones, grouped) and the ones that travel alone."""
    groups: list[list[str]] = []
    alone: list[str] = []
    current: list[str] = []
    held = 0
    for digest in digests:
        size = sizes[digest]
        if size > MAX_BUNDLED_BLOB:
            alone.append(digest)
            continue
        if current and (len(current) >= BUNDLE_BLOBS or held + size > BUNDLE_BYTES):
            groups.append(current)
            current, held = [], 0
        current.append(digest)
        held += size
    if current:
        groups.append(current)
    return groups, alone


def _send_whole(
    transport: Transport,
    item: tuple[str, Any],
    sizes: dict[str, int],
    sources: dict[str, Path],
    progress: Callable[[int], None],
) -> None:
    """Send a ``("whole", digest)`` or a ``("bundle", [digests])`` work item."""
    kind, what = item
    if kind == "whole":
        transport.upload_blob(what, sources[what], sizes[what], progress)
    else:
        transport.upload_bundle([(d, sources[d], sizes[d]) for d in what], progress)


def _weight(item: tuple[str, Any], sizes: dict[str, int]) -> int:
    kind, what = item
    if kind == "part":
        return int(what[1]["size"])
    if kind == "bundle":
        return sum(sizes[d] for d in what)
    return sizes[what]


def upload(
    transport: Transport, sizes: dict[str, int], sources: dict[str, Path], *, progress: bool = True
) -> int:
    """Send every blob in ``sizes`` that the server lacks; returns the bytes sent.

    A session a killed client left open is resumed: only the parts it lacks are sent.

    Raises:
        DigestMismatchError: a file changed between hashing and sending.
        InvalidInputError: a file is gone (removed after it was added to the artifact).
        TransportError: the server or the object store could not be reached.
    """
    with files_still_there(sources.values()):
        return _upload(transport, sizes, sources, progress)


def _upload(
    transport: Transport, sizes: dict[str, int], sources: dict[str, Path], progress: bool
) -> int:
    if isinstance(transport, LocalTransport) and transport.services.backend.kind == "disk":
        missing = transport.call("missing_blobs", digests=list(sizes))
        total = sum(sizes[d] for d in missing)
        groups, alone = bundles(missing, sizes)
        items = [("bundle", g) for g in groups] + [("whole", d) for d in alone]
        with meter("uploading", total, progress) as m:
            _run_all(lambda item: _send_whole(transport, item, sizes, sources, m), items)
        return int(total)
    sent = 0
    pending = dict(sizes)
    for attempt in range(ATTEMPTS):
        sent_now, failed = _upload_round(transport, pending, sources, progress)
        sent += sent_now
        if not failed:
            return sent
        # Another client may have completed or aborted a shared session under this one, or
        # a part may have been lost: plan again for the blobs still missing.
        if attempt == ATTEMPTS - 1:
            raise next(iter(failed.values()))
        pending = {d: pending[d] for d in failed}
    return sent


ATTEMPTS = 3


def _upload_round(
    transport: Transport, sizes: dict[str, int], sources: dict[str, Path], progress: bool
) -> tuple[int, dict[str, ModelbayError]]:
    """One plan-send-complete round; returns the bytes sent and the errors by digest."""
    plan = transport.call(
        "begin_uploads", files=[{"sha256": d, "size": s} for d, s in sizes.items()]
    )
    whole: list[str] = []
    parts: list[tuple[str, Info, str]] = []
    sessions: dict[str, str] = {}
    for up in plan["uploads"]:
        if up["id"] is None:
            whole.append(up["sha256"])
            continue
        sessions[up["id"]] = up["sha256"]
        parts.extend((up["id"], p, up["sha256"]) for p in up["parts"] if not p["done"])
    total = sum(sizes[d] for d in whole) + sum(p["size"] for _, p, _ in parts)
    failures: dict[str, ModelbayError] = {}
    groups, alone = bundles(whole, sizes)
    with meter("uploading", total, progress) as m:
        work: list[tuple[str, Any]] = [("bundle", g) for g in groups]
        work += [("whole", d) for d in alone] + [("part", p) for p in parts]

        def send(item: tuple[str, Any]) -> None:
            kind, what = item
            if kind != "part":
                _send_whole(transport, item, sizes, sources, m)
                return
            upload_id, part, digest = what
            try:
                transport.upload_part(upload_id, part, sources[digest], m)
            except (NotFoundError, TransportError) as exc:
                # Another client may have completed this session; complete() will say.
                failures.setdefault(upload_id, exc)

        # Parts for the server go in order, a few at a time, beside everything else; of the
        # rest, large items first, so that the long transfers start early.
        to_server = [w for w in work if w[0] == "part" and w[1][1].get("url") is None]
        rest = [w for w in work if not (w[0] == "part" and w[1][1].get("url") is None)]
        rest.sort(key=lambda item: -_weight(item, sizes))
        with ThreadPoolExecutor(SERVER_PART_STREAMS) as in_order:
            sent = [in_order.submit(send, w) for w in to_server]
            try:
                _run_all(send, rest)
                for future in sent:
                    future.result()
            except BaseException:
                for future in sent:
                    future.cancel()  # no point sending the parts still waiting
                raise
    failed: dict[str, ModelbayError] = {}
    if sessions:
        for r in transport.call("complete_uploads", ids=list(sessions)):
            if r.get("error"):
                error = from_payload({"error": r["error"]}, 400)
                if isinstance(error, DigestMismatchError):
                    raise error  # the file changed while it was sent: no retry can help
                failed[sessions[r["id"]]] = failures.get(r["id"]) or error
    return int(total), failed


def download(
    transport: Transport,
    files: list[Info],
    root: Path,
    *,
    cache: Any = None,
    progress: bool = True,
) -> int:
    """Place every file of a manifest under ``root``; returns the size of the files fetched
    (a blob fetched once for several names counts at each, as it always has).

    Files already under ``root`` with the right size and digest are kept (a file's digest is
    remembered against its stat in the digest index, sdk/digests.py, so an unchanged file
    is not read again at every download); files in ``cache`` are linked or copied from it;
    the rest are fetched in parallel (small ones in bundles), each distinct blob once,
    verified, and put in the cache on the way. Nothing partial is ever left under a file's
    name, and partial files a killed download of these files left beside them are removed
    (never a live download's: see sdk/streams.py).

    A ``cache`` that cannot be used (see :meth:`Cache.open`), or that fails during the
    download (an OSError of its own: a full disk, a damaged index), is left out with one
    warning, and the download goes on without it. Ctrl-C stops the transfer: files not
    started are not, the ones being fetched or verified stop at their next chunk (partial
    files removed), and the KeyboardInterrupt goes on.

    Raises:
        InvalidPathError: a file would land outside ``root``.
        DigestMismatchError: bytes arrived corrupt (the stored blob, or the transfer, is
            damaged); the message names the file.
        TransportError: the server or the object store could not be reached.
    """
    guarded = _usable(cache)
    dests = _destinations(root, files)
    _remove_dead_partials(files, dests)
    fetched: dict[Path, int] = {}  # by destination: a retry without the cache counts once
    try:
        todo = _missing(files, dests, guarded)
        fetched.update((dest, int(f["size"])) for f, dest in todo)
        _fetch_all(transport, todo, guarded, progress)
    except _CacheFailedError as exc:
        _warn_unusable(exc.error)
        guarded = None
        # What the cache placed before it failed is whole (placed by rename) and kept if
        # right; the rest is fetched again, straight to its destination.
        todo = _missing(files, dests, None)
        fetched.update((dest, int(f["size"])) for f, dest in todo)
        _fetch_all(transport, todo, None, progress)
    if guarded is not None:
        try:
            # Marked used last, so that what was just downloaded is the last to be evicted.
            guarded.touch_many(f["sha256"] for f in files if not f.get("ref"))
            guarded.enforce()
        except _CacheFailedError as exc:
            _warn_unusable(exc.error)
    return sum(fetched.values())


def _fetch_all(
    transport: Transport, todo: list[tuple[Info, Path]], cache: Any, progress: bool
) -> None:
    """Fetch the files of ``todo`` in parallel: each distinct blob once (small ones in
    bundles, large ones first), then references."""
    refs = [(f, dest) for f, dest in todo if f.get("ref")]
    copies: dict[str, list[tuple[Info, Path]]] = {}  # the destinations of each blob
    for f, dest in todo:
        if not f.get("ref"):
            copies.setdefault(f["sha256"], []).append((f, dest))
    urls: dict[str, Any] = {}
    if copies and not isinstance(transport, LocalTransport):
        urls = transport.call("locations", digests=sorted(copies))
    sizes = {digest: int(where[0][0]["size"]) for digest, where in copies.items()}
    # Small blobs the server sends itself come in bundles; the rest one request each.
    signed = [d for d in copies if (urls.get(d) or {}).get("url")]
    is_signed = set(signed)
    groups, alone = bundles([d for d in copies if d not in is_signed], sizes)
    total = sum(sizes.values()) + sum(f["size"] for f, _ in refs)
    with meter("downloading", total, progress) as m:
        fetcher = _Fetcher(transport, cache, copies, sizes, urls, m)
        work: list[tuple[Callable[[Any], None], Any]] = [(fetcher.bundle, g) for g in groups]
        # Large blobs first, so that the long transfers start early.
        work += [(fetcher.blob, d) for d in sorted(alone + signed, key=lambda d: -sizes[d])]
        work += [(fetcher.reference, item) for item in refs]
        _run_all(lambda w: w[0](w[1]), work, m.stopped)


class _Fetcher:
    """The work items of one download, run on a pool's threads: a blob alone, a bundle of
    small blobs, a reference. Each places every destination of what it fetched."""

    def __init__(
        self,
        transport: Transport,
        cache: Any,
        copies: dict[str, list[tuple[Info, Path]]],
        sizes: dict[str, int],
        urls: dict[str, Any],
        m: _Meter,
    ) -> None:
        self.transport = transport
        self.cache = cache
        self.copies = copies
        self.sizes = sizes
        self.urls = urls
        self.m = m

    def blob(self, digest: str) -> None:
        size, where = self.sizes[digest], self.copies[digest]
        first = where[0][1]
        first.parent.mkdir(parents=True, exist_ok=True)
        url = (self.urls.get(digest) or {}).get("url")
        try:
            _place(
                self.cache,
                digest,
                size,
                first,
                lambda tmp: self.transport.download_blob(digest, tmp, url, self.m),
            )
        except DigestMismatchError as exc:
            raise _corrupt(exc, digest, size, where[0][0]["path"]) from exc
        for _, dest in where[1:]:  # the same bytes again: placed from the first copy
            self.m.check()
            dest.parent.mkdir(parents=True, exist_ok=True)
            if self.cache is None or not self.cache.materialize(digest, size, dest, touch=False):
                _copy(first, dest)

    def bundle(self, group: list[str]) -> None:
        blobs: list[tuple[str, bytes]] = []
        for digest, data in self.transport.download_bundle(group):
            self.m.check()
            blobs.append((digest, data))
        if {d for d, _ in blobs} != set(group):
            raise TransportError("the server sent another set of blobs than asked for")
        for digest, data in blobs:
            _check_bytes(digest, self.sizes[digest], data, self.copies[digest][0][0]["path"])
        wanted = [(d, self.sizes[d], dest) for d in group for _, dest in self.copies[d]]
        for dest in {dest.parent for _, _, dest in wanted}:
            dest.mkdir(parents=True, exist_ok=True)
        placed = [False] * len(wanted)
        if self.cache is not None:
            self.cache.insert_many(blobs)
            placed = self.cache.materialize_many(wanted)
        held = dict(blobs)
        for (digest, _, dest), done in zip(wanted, placed, strict=True):
            if not done:  # no cache, or evicted by another process meanwhile
                _write(held[digest], dest)
        self.m(sum(self.sizes[d] for d in group))

    def reference(self, item: tuple[Info, Path]) -> None:
        from modelbay.sdk.references import fetch_reference

        f, dest = item
        dest.parent.mkdir(parents=True, exist_ok=True)
        fetch_reference(f, dest, self.m)


class _CacheFailedError(ModelbayError):
    """The download cache failed with an OSError of its own (:attr:`error`) during a
    download, which then goes on without it. Never leaves this module."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _Guarded:
    """A cache whose methods raise :class:`_CacheFailedError` for an OSError of the cache's
    own. One that names a file outside the cache (a destination that cannot be written)
    goes on as it is: downloading without the cache would meet it too."""

    def __init__(self, cache: Any) -> None:
        self._cache = cache
        self._root: str = os.path.abspath(cache.root)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._cache, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except OSError as exc:
                if any(self._outside(f) for f in (exc.filename, exc.filename2)):
                    raise
                raise _CacheFailedError(exc) from exc

        return call

    def _outside(self, filename: Any) -> bool:
        if filename is None or isinstance(filename, int):
            return False
        path: str = os.path.abspath(os.fsdecode(filename))
        return os.path.commonpath([path, self._root]) != self._root


def _usable(cache: Any) -> _Guarded | None:
    """``cache`` if it can be used now (guarded: see :class:`_Guarded`), else None, with a
    warning that says why."""
    if cache is None:
        return None
    try:
        cache.open()
    except OSError as exc:
        _warn_unusable(exc)
        return None
    return _Guarded(cache)


def _warn_unusable(exc: OSError) -> None:
    """Warn that the cache is left out, pointing at the caller's line: the first frame
    outside the modelbay package, however deep in it this runs (Artifact.download, the
    CLI, or download() called directly)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    level, frame = 1, sys._getframe(0)
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        package
    ):
        frame, level = frame.f_back, level + 1
    warnings.warn(
        f"{exc}; downloading without it (point MODELBAY_CACHE_DIR at a writable "
        "local directory to use one)",
        stacklevel=level,
    )


def _remove_dead_partials(files: list[Info], dests: list[Path]) -> None:
    """Remove the partial files a killed download left beside these destinations, the
    fetched blobs' and the references' alike (both writers lock theirs: see sdk/streams.py)."""
    names: dict[Path, set[str]] = {}
    for dest in dests:
        names.setdefault(dest.parent, set()).add(dest.name)
    for parent, wanted in names.items():
        remove_dead_temps(parent, wanted)


def _corrupt(exc: DigestMismatchError, digest: str, size: int, path: str) -> DigestMismatchError:
    """The error for the file ``path`` whose blob came down corrupt, from the lower-level
    one (which names a temporary file). This end cannot tell whether the server's copy or
    the transfer is damaged: the message says both."""
    actual = exc.details.get("actual")
    got = f"sha256 {actual[:12]}" if actual else f"{exc.details.get('size')} bytes"
    want = f"sha256 {digest[:12]}" if actual else f"{size} bytes"
    return DigestMismatchError(
        f"download of {path} arrived corrupt (expected {want}, got {got}): the stored copy "
        f"of its blob or the transfer is damaged; nothing was written under {path}",
        {"path": path, "expected": digest, **({"actual": actual} if actual else {})},
    )


def _missing(files: list[Info], dests: list[Path], cache: Any) -> list[tuple[Info, Path]]:
    """The files to fetch: references, and stored files neither already at their
    destination nor in ``cache`` (those are placed from it now: one read of its index and
    one stat per destination, see :meth:`Cache.place_many`).

    A file at its destination is kept if it is the cache's own entry (a hard link to it:
    its inode says so, without reading it). Any other file there is re-linked from the
    cache when it holds the blob and can hard-link it (metadata only). Only a regular file
    of the right size that the cache cannot link over (another filesystem, or not cached)
    is checked: its digest is remembered against its stat in the digest index when it has
    not changed since it was last hashed, else it is hashed (and remembered). Anything
    else there is replaced.
    """
    stored = [(f, dest) for f, dest in zip(files, dests, strict=True) if not f.get("ref")]
    keys = [(f["sha256"], f["size"], dest) for f, dest in stored]
    if cache is not None and stored:
        status = cache.place_many(keys)
    else:
        status = ["check" if _sized(dest, f["size"]) else "absent" for f, dest in stored]
    done = [s in ("linked", "placed") for s in status]
    check = [i for i, s in enumerate(status) if s == "check"]
    if check:
        for i, found in zip(check, _digests([stored[i][1] for i in check]), strict=True):
            done[i] = found == stored[i][0]["sha256"]
    wrong = [i for i in check if not done[i]]
    if cache is not None and wrong:
        for i, placed in zip(wrong, cache.materialize_many([keys[i] for i in wrong]), strict=True):
            done[i] = placed
    todo = [(f, dest) for f, dest in zip(files, dests, strict=True) if f.get("ref")]
    return todo + [item for item, ok in zip(stored, done, strict=True) if not ok]


def _sized(path: Path, size: int) -> bool:
    """``path`` is a regular file (not followed if a symlink) of ``size`` bytes."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size


def _digests(paths: list[Path]) -> list[str | None]:
    """The sha256 of each file (None if it cannot be read), from the digest index where its
    stat is unchanged, else hashed in parallel. Ctrl-C stops every file being hashed at its
    next chunk, as it stops fetches."""
    from modelbay.sdk.digests import default_index

    def hash_all(todo: list[Path]) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = [("", 0)] * len(todo)
        with meter("verifying", 0, enabled=False) as m:

            def one(i: int) -> None:
                out[i] = sha256_file(todo[i], m)  # m raises once the transfer stops

            _run_all(one, list(range(len(todo))), m.stopped)
        return out

    try:
        return [digest for digest, _ in default_index().digest_many(paths, hash_all)]
    except (OSError, InvalidInputError):  # one changed or vanished meanwhile: fetch them all
        return [None] * len(paths)


def _destinations(root: Path, files: list[Info]) -> list[Path]:
    """Where each file goes under ``root``.

    Each distinct parent directory is resolved once (symlinks followed); a file's own name
    is never followed, since files are put in place by renaming over it.

    Raises:
        InvalidPathError: a file would land outside ``root``.
    """
    from modelbay.errors import InvalidPathError

    real_root = root.resolve()
    inside: dict[Path, bool] = {}
    out: list[Path] = []
    for f in files:
        dest = root / f["path"]
        parent = dest.parent
        ok = inside.get(parent)
        if ok is None:
            ok = inside[parent] = parent.resolve().is_relative_to(real_root)
        if not ok or dest.name in ("", "..") or dest == root:
            raise InvalidPathError(f"file {f['path']!r} would land outside {root}")
        out.append(dest)
    return out


def _check_bytes(digest: str, size: int, data: bytes, path: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest or len(data) != size:
        raise DigestMismatchError(
            f"download of {path} is corrupt: the stored copy of its blob is damaged (expected "
            f"sha256 {digest[:12]}, {size} bytes; got sha256 {actual[:12]}, {len(data)} bytes)",
            {"path": path, "expected": digest, "actual": actual, "size": len(data)},
        )


def _write(data: bytes, path: Path) -> None:
    """Write verified bytes to ``path``, atomically."""
    with locked_temp(path) as tmp:
        with open_new(tmp) as f:
            f.write(data)
        os.replace(tmp, path)


def _copy(src: Path, dest: Path) -> None:
    """Copy the file ``src`` to ``dest``, atomically."""
    with locked_temp(dest) as tmp:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)


def _place(cache: Any, digest: str, size: int, dest: Path, fill: Callable[[Path], None]) -> None:
    """Put a blob at ``dest``: through the cache when there is one (``fill`` writes it into
    the cache), else by ``fill`` writing ``dest`` itself."""
    if cache is None:
        fill(dest)
        return
    # Another process may evict the entry between insert and materialize: try again.
    for _ in range(5):
        cache.insert(digest, size, fill)
        if cache.materialize(digest, size, dest, touch=False):
            return
    fill(dest)
