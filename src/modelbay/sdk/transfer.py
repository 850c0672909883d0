"""Sending bytes: hash in parallel, send only what the server lacks (large files in parallel
parts, resumable); and what uploads and downloads (sdk/downloads.py) share: the progress
meter, the pool that runs a transfer's work and stops it, and bundling small blobs.

Nothing is staged by copying a whole file first: parts are read from the file at their
offsets while they are sent (a new large file sent while hashed is read once for both: see
sdk/shared_reads.py).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modelbay.blobs.bundle import MAX_BUNDLED_BLOB
from modelbay.blobs.digest import sha256_file
from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.errors import (
    DigestMismatchError,
    InvalidInputError,
    ModelbayError,
    NotFoundError,
    StorageFullError,
    TransportError,
    from_payload,
)
from modelbay.jsontext import Info
from modelbay.sdk.digests import DigestIndex, stat_key
from modelbay.sdk.shared_reads import SharedReads, chunk_for
from modelbay.sdk.transport import Transport

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
    It never leaves :func:`run_all` (which raises the reason instead), so it is not
    part of the modelbay error tree, and nothing catches it but the pool."""


class Meter:
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
def meter(label: str, total: int, enabled: bool = True) -> Iterator[Meter]:
    m = Meter(label, total, enabled)
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
    the bytes sent until the hash was done were spent. (Parts to an object store are hashed
    behind their sending, so there the whole file goes, and is dropped at completion: see
    _SentPrefix for why.) A killed upload is resumed the next
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
        session = _plan(transport, [entry])["provisional"][0]
    except InvalidInputError:
        # An object store (which needs digests up front), or a server from before
        # provisional sessions: hash first, then send what it lacks.
        transport.hashes_while_sending = False
        return sha256_file(path), 0
    except StorageFullError:
        # No room to receive the file whole: it may be stored already (the same bytes under
        # another name), which only its hash can tell. Hashed first, it is then sent only if
        # missing, and refused then if it is.
        return sha256_file(path), 0
    if session["id"] != resume:
        index.remember_upload(server, path, st, session["id"])
    stored_already = threading.Event()
    # Parts to an object store: the hash follows the parts sent, through the pages their
    # sending read (see _SentPrefix). To the server itself, the file is read once for both
    # (see sdk/shared_reads.py): the hash runs ahead, and may stop the sending early when
    # it finds the bytes stored already.
    followed = _SentPrefix(session["parts"]) if _to_object_store(session["parts"]) else None
    to_server = not any(p.get("url") for p in session["parts"])
    chunk = chunk_for(session["parts"]) if to_server else None
    shared = None
    if chunk is not None:
        sends = [(int(p["offset"]), int(p["size"])) for p in session["parts"] if not p["done"]]
        shared = SharedReads(path, chunk, sends)

    def hash_then_ask() -> tuple[str, int]:
        if shared is not None:
            digest, size = shared.hash()
        else:
            digest, size = sha256_file(path, followed.wait_after if followed else None)
        with contextlib.suppress(TransportError):  # then sending just goes on
            if not transport.call(ops.MISSING_BLOBS, rq.Digests(digests=[digest])).missing:
                stored_already.set()  # stop sending: the server has these bytes
        return digest, size

    try:
        with ThreadPoolExecutor(1) as hashing:
            hashed = hashing.submit(hash_then_ask)
            try:
                sent, error = _send_parts(
                    transport, session, path, stored_already, progress, followed, shared
                )
            finally:
                if followed is not None:
                    followed.close()  # whatever was not sent, the hash reads on its own
                if shared is not None:
                    shared.done_sending()  # nor does it keep chunks for senders
            digest, size = hashed.result()
    finally:
        if shared is not None:
            shared.close()
    if size != st.st_size:
        raise InvalidInputError(f"{path} changed while it was being uploaded")
    for _ in range(ATTEMPTS - 1):
        if not isinstance(error, TransportError):
            break
        # Parts lost on the way: ask which are stored, send the rest.
        again = _plan(transport, [{"size": size, "id": session["id"]}])
        if again["provisional"][0]["id"] != session["id"]:
            error = NotFoundError(f"upload {session['id']} is not open")
            break
        session = again["provisional"][0]
        more, error = _send_parts(transport, session, path, stored_already, progress)
        sent += more
    if isinstance(error, TransportError):
        raise error
    # Bytes sent from what the hash read match its digest whatever the file became: the
    # server cannot tell, so the file's stat does (the session is completed all the same,
    # so that it holds no room; what it stores, nothing refers to).
    changed = stat_key(os.stat(path)) != stat_key(st)
    if error is None:
        result = _complete(transport, [session["id"]], {session["id"]: digest})[0]
        if result.get("error"):
            failure = from_payload({"error": result["error"]}, 400)
            if isinstance(failure, DigestMismatchError):
                index.remember_upload(server, path, st, None)
                raise failure  # the file changed while it was sent
            # Otherwise (gone, or being collected): upload() sends what the server lacks.
    index.remember_upload(server, path, st, None)
    if changed:
        raise DigestMismatchError(
            f"{path} changed while it was being uploaded", {"path": os.fspath(path)}
        )
    return (digest, size), sent


def _send_parts(
    transport: Transport,
    session: Info,
    path: Path,
    stop: threading.Event,
    progress: bool,
    followed: _SentPrefix | None = None,
    shared: SharedReads | None = None,
) -> tuple[int, ModelbayError | None]:
    """Send the parts of ``session`` not stored yet, in order, a few at a time (a server
    that receives them hashes them in order as they land), until ``stop`` is set; returns
    the bytes sent and the first error (NotFoundError: the session is gone; TransportError:
    parts were lost). Each part sent is told to ``followed``; with ``shared``, parts are
    sent from its chunks."""
    todo = [p for p in session["parts"] if not p["done"]]
    errors: list[ModelbayError] = []

    with meter("uploading", sum(p["size"] for p in todo), progress) as m:

        def send(part: Info) -> int:
            if stop.is_set() or errors:
                return 0
            try:
                if shared is None:
                    transport.upload_part(session["id"], part, path, m)
                else:
                    with contextlib.closing(shared.part(part["offset"], part["size"])) as chunks:
                        transport.upload_part_chunks(session["id"], part, chunks, m)
            except (NotFoundError, TransportError) as exc:
                errors.append(exc)
                return 0
            if followed is not None:
                followed.sent(part)
            return int(part["size"])

        # Parts to an object store's URLs go as many at a time as other transfers do.
        streams = WORKERS if _to_object_store(todo) else SERVER_PART_STREAMS
        with ThreadPoolExecutor(streams) as pool:
            sent = sum(pool.map(send, todo))
    return sent, (errors[0] if errors else None)


def _to_object_store(parts: list[Info]) -> bool:
    """Whether parts go to an object store's presigned URLs (not the server)."""
    return all(p.get("url") for p in parts)


class _SentPrefix:
    """How much of a file, from its start, has been sent in parts: a hash that waits on it
    reads each page after the part holding it was sent, from the page cache, where that
    sending just put it. A hash that runs ahead of the parts instead reads a cold file from
    the disk at the same time as the parts do; the upload to an object store then takes
    longer by more than the hash itself takes (measured in the commit that made this).
    Parts stored before (a resumed session) count as sent; once :meth:`close` is called
    (the sending is over, however it ended), nothing waits.
    """

    def __init__(self, parts: list[Info]) -> None:
        self._ends = {int(p["offset"]): int(p["offset"]) + int(p["size"]) for p in parts}
        self._sent = {int(p["offset"]) for p in parts if p["done"]}
        self._upto = 0
        self._open = True
        self._read = 0
        self._changed = threading.Condition()
        self._advance()

    def _advance(self) -> None:
        while self._upto in self._sent:
            self._sent.discard(self._upto)
            self._upto = self._ends[self._upto]

    def sent(self, part: Info) -> None:
        with self._changed:
            self._sent.add(int(part["offset"]))
            self._advance()
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._open = False
            self._changed.notify_all()

    def wait_after(self, n: int) -> None:
        """Called by the hash after each ``n`` bytes it read: wait until the next byte has
        been sent (or the sending is over)."""
        self._read += n
        with self._changed:
            self._changed.wait_for(lambda: self._upto > self._read or not self._open)


def run_all(
    fn: Callable[[Any], None], items: list[Any], stop: threading.Event | None = None
) -> None:
    """``fn`` on every item, a few at a time; the first error (or a KeyboardInterrupt in
    the calling thread) is raised once the threads are done. On it, items not started are
    cancelled, and ``stop`` is set so that running ones can stop early (a transfer's
    :class:`Meter` stops them at their next chunk)."""
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


def bundles(
    digests: list[str], sizes: dict[str, int], most: int = BUNDLE_BLOBS
) -> tuple[list[list[str]], list[str]]:
    """The blobs that travel in bundles (small ones, grouped, at most ``most`` a group) and
    the ones that travel alone."""
    groups: list[list[str]] = []
    alone: list[str] = []
    current: list[str] = []
    held = 0
    for digest in digests:
        size = sizes[digest]
        if size > MAX_BUNDLED_BLOB:
            alone.append(digest)
            continue
        if current and (len(current) >= most or held + size > BUNDLE_BYTES):
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
        StorageFullError: the server's disk store has no room for the bytes (a large blob is
            refused before it is sent: its room is reserved when its session begins).
        TransportError: the server or the object store could not be reached.
    """
    with files_still_there(sources.values()):
        return _upload(transport, sizes, sources, progress)


def _upload(
    transport: Transport, sizes: dict[str, int], sources: dict[str, Path], progress: bool
) -> int:
    if transport.writes_local_disk:
        missing = transport.call(ops.MISSING_BLOBS, rq.Digests(digests=list(sizes))).missing
        total = sum(sizes[d] for d in missing)
        groups, alone = bundles(missing, sizes)
        items = [("bundle", g) for g in groups] + [("whole", d) for d in alone]
        with meter("uploading", total, progress) as m:
            run_all(lambda item: _send_whole(transport, item, sizes, sources, m), items)
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


def _plan(transport: Transport, files: list[Info]) -> Info:
    """How to send these blobs (see BlobService.begin_uploads), as JSON."""
    request = rq.UploadFiles(files=[rq.BlobEntry(**f) for f in files])
    return transport.call(ops.BEGIN_UPLOADS, request).model_dump()


def _complete(
    transport: Transport, ids: list[str], sha256: dict[str, str] | None = None
) -> list[Info]:
    """Complete upload sessions; each result as JSON (with ``error`` where it failed)."""
    request = rq.UploadIds(ids=ids) if sha256 is None else rq.UploadIds(ids=ids, sha256=sha256)
    results = transport.call(ops.COMPLETE_UPLOADS, request).results
    return [r.model_dump(exclude_none=True) for r in results]


def _upload_round(
    transport: Transport, sizes: dict[str, int], sources: dict[str, Path], progress: bool
) -> tuple[int, dict[str, ModelbayError]]:
    """One plan-send-complete round; returns the bytes sent and the errors by digest."""
    plan = _plan(transport, [{"sha256": d, "size": s} for d, s in sizes.items()])
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
                run_all(send, rest)
                for future in sent:
                    future.result()
            except BaseException:
                for future in sent:
                    future.cancel()  # no point sending the parts still waiting
                raise
    failed: dict[str, ModelbayError] = {}
    if sessions:
        for r in _complete(transport, list(sessions)):
            if r.get("error"):
                error = from_payload({"error": r["error"]}, 400)
                if isinstance(error, DigestMismatchError):
                    raise error  # the file changed while it was sent: no retry can help
                failed[sessions[r["id"]]] = failures.get(r["id"]) or error
    return int(total), failed
