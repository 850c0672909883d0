"""Moving bytes: hash in parallel, send only what the server lacks (large files in parallel
parts, resumable), fetch only what the cache lacks (in parallel, verified).

Nothing is staged by copying a whole file first: parts are read from the file at their
offsets while they are sent, and downloads are written to a temporary name next to their
destination and renamed once verified.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modelbay.blobs.local import sha256_file
from modelbay.errors import (
    DigestMismatchError,
    ModelbayError,
    NotFoundError,
    TransportError,
    from_payload,
)
from modelbay.sdk.transport import Info, LocalTransport, Transport

WORKERS = min(16, (os.cpu_count() or 2) * 4)
#: Transfers smaller than this, or shorter than PROGRESS_DELAY seconds, show no progress bar.
PROGRESS_MIN_BYTES = 32 << 20
PROGRESS_DELAY = 0.5


class _Meter:
    """Counts bytes from many threads and drives a Rich progress bar on a terminal, started
    only once a transfer has lasted a moment; silent when stderr is not a terminal."""

    def __init__(self, label: str, total: int, enabled: bool) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._lock = threading.Lock()
        self._enabled = enabled and total >= PROGRESS_MIN_BYTES and sys.stderr.isatty()
        self._start = time.monotonic()
        self._progress: Any = None
        self._task: Any = None

    def __call__(self, n: int) -> None:
        with self._lock:
            self.done += n
            if not self._enabled:
                return
            if self._progress is None and time.monotonic() - self._start >= PROGRESS_DELAY:
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


def hash_files(paths: list[Path]) -> list[tuple[str, int]]:
    """(sha256, size) of each file, hashed in parallel (hashlib releases the GIL); a file
    whose stat is unchanged since it was last hashed is not read again (see sdk/digests.py)."""
    from modelbay.sdk.digests import default_index

    index = default_index()
    if len(paths) <= 1:
        return [index.digest(p, sha256_file) for p in paths]
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(lambda p: index.digest(p, sha256_file), paths))


def _run_all(fn: Callable[[Any], None], items: list[Any]) -> None:
    if not items:
        return
    if len(items) == 1:
        fn(items[0])
        return
    with ThreadPoolExecutor(min(WORKERS, len(items))) as pool:
        for _ in pool.map(fn, items):
            pass


def upload(
    transport: Transport, sizes: dict[str, int], sources: dict[str, Path], *, progress: bool = True
) -> int:
    """Send every blob in ``sizes`` that the server lacks; returns the bytes sent.

    A session a killed client left open is resumed: only the parts it lacks are sent.

    Raises:
        DigestMismatchError: a file changed between hashing and sending.
        TransportError: the server or the object store could not be reached.
    """
    if isinstance(transport, LocalTransport) and transport.services.backend.kind == "disk":
        missing = transport.call("missing_blobs", digests=list(sizes))
        total = sum(sizes[d] for d in missing)
        with meter("uploading", total, progress) as m:
            _run_all(lambda d: transport.upload_blob(d, sources[d], sizes[d], m), missing)
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
    with meter("uploading", total, progress) as m:
        work: list[tuple[str, Any]] = [("whole", d) for d in whole] + [("part", p) for p in parts]

        def send(item: tuple[str, Any]) -> None:
            kind, what = item
            if kind == "whole":
                transport.upload_blob(what, sources[what], sizes[what], m)
                return
            upload_id, part, digest = what
            try:
                transport.upload_part(upload_id, part, sources[digest], m)
            except (NotFoundError, TransportError) as exc:
                # Another client may have completed this session; complete() will say.
                failures.setdefault(upload_id, exc)

        # Large parts first, so that the long transfers start early and overlap the small ones.
        work.sort(key=lambda item: -(item[1][1]["size"] if item[0] == "part" else sizes[item[1]]))
        _run_all(send, work)
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
    """Place every file of a manifest under ``root``; returns the bytes fetched from the server.

    Files already under ``root`` with the right size and digest are kept; files in ``cache``
    are linked or copied from it; the rest are fetched in parallel, verified, and put in the
    cache on the way. Nothing partial is ever left under a file's name.

    Raises:
        DigestMismatchError: bytes arrived corrupt (or the stored blob is corrupt).
        TransportError: the server or the object store could not be reached.
    """
    real_root = root.resolve()
    todo: list[tuple[Info, Path]] = []
    for f in files:
        dest = root / f["path"]
        if not dest.resolve().is_relative_to(real_root):
            from modelbay.errors import InvalidPathError

            raise InvalidPathError(f"file {f['path']!r} would land outside {root}")
        if f.get("ref"):
            todo.append((f, dest))
            continue
        if cache is not None and cache.materialize(f["sha256"], f["size"], dest, touch=False):
            continue
        if (
            dest.is_file()
            and dest.stat().st_size == f["size"]
            and sha256_file(dest)[0] == f["sha256"]
        ):
            continue
        todo.append((f, dest))
    stored = [f for f, _ in todo if not f.get("ref")]
    urls: dict[str, Any] = {}
    if stored and not isinstance(transport, LocalTransport):
        urls = transport.call("locations", digests=sorted({f["sha256"] for f in stored}))
    total = sum(f["size"] for f, _ in todo)
    with meter("downloading", total, progress) as m:

        def fetch(item: tuple[Info, Path]) -> None:
            f, dest = item
            dest.parent.mkdir(parents=True, exist_ok=True)
            if f.get("ref"):
                from modelbay.sdk.references import fetch_reference

                fetch_reference(f, dest, m)
                return
            url = (urls.get(f["sha256"]) or {}).get("url")
            if cache is None:
                transport.download_blob(f["sha256"], dest, url, m)
                return
            # Another process may evict the entry between insert and materialize: try again.
            for _ in range(5):
                cache.insert(
                    f["sha256"],
                    f["size"],
                    lambda tmp: transport.download_blob(f["sha256"], tmp, url, m),
                )
                if cache.materialize(f["sha256"], f["size"], dest, touch=False):
                    return
            transport.download_blob(f["sha256"], dest, url, m)

        _run_all(fetch, todo)
    if cache is not None:
        # Marked used last, so that what was just downloaded is the last to be evicted.
        cache.touch_many(f["sha256"] for f in files if not f.get("ref"))
        cache.enforce()
    return int(total)
