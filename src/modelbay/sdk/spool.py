"""The run journal and the background sender: how ``run.log`` never waits on the network
and never loses what it accepted.

Every record of a run is appended to a local journal (``run.jsonl`` in the run's directory,
one JSON object per line) and fsync'd once per flush interval, before anything is sent::

    {"run": {"project", "id", "name", "config", ..., "offline"}}  created or resumed
    {"points": [[step, time, {key: value}], ...]}                  metric points
    {"update": {"config", "summary", "metric_defs"}}               each replaced wholesale
    {"finish": {"state", "exit_code", "time"}}                     the end
    {"artifact": {...}}, {"link": {...}}     an offline run's artifacts (sdk/offline.py)

A second file, ``run.sent``, holds the byte offset up to which the server has confirmed
every record. The :class:`Uploader` sends from there; when the server is away the records
simply wait in the journal, and a later flush (or ``modelbay sync``) sends them. Resending
is harmless: the server replaces a point with the same (run, key, step).

A SIGKILL of the training process therefore loses at most the points of the last flush
interval, and a torn last line (a write cut in half) is dropped when the journal is opened
again. One process at a time may write a journal: it holds an exclusive ``flock`` on it,
which also tells ``modelbay sync`` whether the run's process is still alive.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import json
import math
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    ModelbayError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from modelbay.jsontext import Info
from modelbay.sdk.offline import BLOBS, CLIENT_SCHEME, RESOLVED, Resolver
from modelbay.sdk.transport import HttpTransport, Transport, send_once

JOURNAL = "run.jsonl"
KINDS = ("run", "points", "update", "finish", "artifact", "link")
#: What an "update" record may change on the run.
UPDATE_FIELDS = ("config", "summary", "metric_defs")
SENT = "run.sent"
#: Values in one journal line and in one request (the server takes at most 100,000).
RECORD_VALUES = 20_000
SEND_VALUES = 50_000
#: Unsent values kept in memory as well as in the journal; past this they are re-read.
MEMORY_VALUES = 500_000
READ_BYTES = 4 << 20
#: Requests of points in flight at once.
DEPTH = 2

#: Errors after which a send is tried again later: nothing is wrong with the records.
RETRYABLE = (
    TransportError,
    ServerError,
    RateLimitedError,
    AuthenticationError,
    PermissionDeniedError,
)

Point = tuple[int, float, dict[str, Any]]


def _say(message: str) -> None:
    print(f"modelbay: {message}", file=sys.stderr, flush=True)


@dataclass
class Record:
    """One journal line: its byte range, its kind ("run", "points", "update", "finish"),
    its payload, and how many metric values it holds."""

    start: int
    end: int
    kind: str
    payload: Any
    values: int = 0
    raw: bytes | None = None  # the line itself, for a points record


def _encode(kind: str, payload: Any) -> bytes:
    return json.dumps({kind: payload}, separators=(",", ":")).encode() + b"\n"


def _count(points: list[Any]) -> int:
    return sum(len(p[2]) for p in points)


class Journal:
    """A run's append-only journal file, locked by the one process that writes it.

    Raises:
        ConflictError: another live process holds the journal (the run is being logged).
    """

    def __init__(self, run_dir: Path | str) -> None:
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / JOURNAL
        self._sent_path = self.dir / SENT
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise ConflictError(
                f"run journal {self.path} is in use by another process (the run is still "
                "being logged); try again when it has finished",
                {"path": str(self.path)},
            ) from None
        self.size = self._repair()
        self._dirty = False

    def _repair(self) -> int:
        """Drop a torn last line (a write cut short by a crash); return the size."""
        size = os.fstat(self._fd).st_size
        if size == 0 or os.pread(self._fd, 1, size - 1) == b"\n":
            return size
        keep = self._last_newline(size) + 1
        os.ftruncate(self._fd, keep)
        return keep

    def _last_newline(self, size: int) -> int:
        pos = size
        while pos > 0:
            start = max(0, pos - (1 << 20))
            cut = os.pread(self._fd, pos - start, start).rfind(b"\n")
            if cut >= 0:
                return start + cut
            pos = start
        return -1

    # -- writing ----------------------------------------------------------------------------

    def append(self, lines: list[bytes]) -> int:
        """Append encoded lines in one write; returns the offset where they start."""
        data = b"".join(lines)
        start = self.size
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.size = start + len(data)
        self._dirty = True
        return start

    def sync(self) -> None:
        """Make everything appended so far survive a crash of this process or the machine."""
        if self._dirty:
            os.fsync(self._fd)
            self._dirty = False

    # -- the sent cursor --------------------------------------------------------------------

    @property
    def sent(self) -> int:
        """Offset up to which the server has confirmed every record (0 if unknown)."""
        try:
            value = int(self._sent_path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0
        return value if 0 <= value <= self.size else 0

    def set_sent(self, offset: int) -> None:
        # Not fsync'd: a lost update only means a harmless resend.
        tmp = self._sent_path.with_name(f".{SENT}.tmp")
        tmp.write_text(str(offset))
        os.replace(tmp, self._sent_path)

    # -- reading ----------------------------------------------------------------------------

    def read(self, offset: int, max_bytes: int = READ_BYTES) -> list[Record]:
        """Whole records from ``offset`` on (at least one if any is there)."""
        size = self.size
        if offset >= size:
            return []
        want = max(max_bytes, 1 << 16)
        data = os.pread(self._fd, min(want, size - offset), offset)
        while b"\n" not in data and offset + len(data) < size:
            want *= 4  # one line longer than the window: widen it
            data = os.pread(self._fd, min(want, size - offset), offset)
        out: list[Record] = []
        pos = offset
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            out.append(_decode(line, pos))
            pos += len(line)
        return out

    def kinds(self, offset: int = 0) -> Iterator[tuple[int, str]]:
        """``(offset, kind)`` of every line from ``offset`` on, without parsing the points."""
        with open(self.path, "rb") as f:
            f.seek(offset)
            pos = offset
            for line in f:
                if pos >= self.size or not line.endswith(b"\n"):
                    return
                head = line[:12]
                kind = next((k for k in KINDS if head.startswith(b'{"' + k.encode() + b'"')), "bad")
                yield pos, kind
                pos += len(line)

    def records(self, offset: int = 0) -> Iterator[Record]:
        """Every record from ``offset`` to the end."""
        while offset < self.size:
            chunk = self.read(offset)
            if not chunk:
                return
            yield from chunk
            offset = chunk[-1].end

    def first(self) -> Record | None:
        chunk = self.read(0, 1 << 16)
        return chunk[0] if chunk else None

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                self.sync()
            os.close(self._fd)  # releases the lock
            self._fd = -1

    def remove(self) -> None:
        """Delete the journal (everything in it is on the server) and its directory if empty."""
        for path in (self.path, self._sent_path, self.dir / RESOLVED):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.dir / BLOBS, ignore_errors=True)  # staged artifacts, all sent
        self.close()
        with contextlib.suppress(OSError):
            self.dir.rmdir()
            self.dir.parent.rmdir()  # the project's folder, when this was its last run


def _decode(line: bytes, start: int) -> Record:
    end = start + len(line)
    try:
        obj = json.loads(line)
        (kind, payload), *rest = obj.items()
    except (ValueError, AttributeError, TypeError):
        return Record(start, end, "bad", line[:200])
    if rest or kind not in KINDS:
        return Record(start, end, "bad", line[:200])
    if kind == "points":
        return Record(start, end, kind, payload, _count(payload), line)
    return Record(start, end, kind, payload)


def _clean_points(points: list[Any]) -> list[Any]:
    """The points the server can take (a last resort after it refused a batch): numbers
    that fit a float, keys of 1 to 256 printable characters."""
    out = []
    for p in points:
        try:
            step, t, values = p
        except (TypeError, ValueError):
            continue
        if type(step) is not int or step < 0 or type(values) is not dict:
            continue
        kept = {}
        for k, v in values.items():
            if not isinstance(k, str) or not k or len(k) > 256 or not k.isprintable():
                continue
            if isinstance(v, int | float) and not isinstance(v, bool):
                try:
                    float(v)
                except OverflowError:
                    continue
            elif not isinstance(v, bool) and not (isinstance(v, dict) and "_type" in v):
                continue
            kept[k] = v
        if kept:
            out.append([step, t if isinstance(t, int | float) and math.isfinite(t) else None, kept])
    return out


_HEAD = b'{"points":['
_TAIL = b"]}\n"


def _raw_body(group: list[Record]) -> bytes | None:
    """``{"points": [...]}`` of several journal lines, joined without decoding them."""
    parts = []
    for r in group:
        raw = r.raw
        if raw is None or not raw.startswith(_HEAD) or not raw.endswith(_TAIL):
            return None
        inner = raw[len(_HEAD) : -len(_TAIL)]
        if inner:
            parts.append(inner)
    return _HEAD + b",".join(parts) + b"]}"


class _Call:
    """One send on a daemon thread of its own (never holding up interpreter exit)."""

    def __init__(self, fn: Callable[[list[Record]], None], group: list[Record]) -> None:
        self._fn = fn
        self._group = group
        self._error: BaseException | None = None
        self._done = threading.Event()
        threading.Thread(target=self._run, name="modelbay-send", daemon=True).start()

    def _run(self) -> None:
        send_once()
        try:
            self._fn(self._group)
        except BaseException as exc:
            self._error = exc
        finally:
            self._done.set()

    def wait(self) -> None:
        self._done.wait()

    def result(self) -> None:
        self._done.wait()
        if self._error is not None:
            raise self._error


class Uploader:
    """Sends a journal's unsent records to the server, in order, and moves the cursor."""

    def __init__(self, journal: Journal, transport: Transport, project: str, run_id: str) -> None:
        self.journal = journal
        self.transport = transport
        self.project = project
        self.run_id = run_id
        self.sent = journal.sent
        self.memory: collections.deque[Record] = collections.deque()
        self.memory_values = 0
        self.values_sent = 0
        self.skipped: list[str] = []
        self._lock = threading.Lock()
        #: When the server last confirmed anything (monotonic seconds): every send is a
        #: heartbeat, so a quiet run only needs :meth:`beat` when nothing else went out.
        self.contact = time.monotonic()
        self._resolver: Resolver | None = None

    @property
    def resolver(self) -> Resolver:
        if self._resolver is None:
            self._resolver = Resolver(self.journal.dir)
        return self._resolver

    def beat(self) -> None:
        """Tell the server the run is alive: an empty batch of points, which stores
        nothing and moves the run's heartbeat."""
        self._call_points([])
        self.contact = time.monotonic()

    def remember(self, records: list[Record]) -> None:
        """Keep just-journaled records in memory too, so that sending them needs no read."""
        with self._lock:
            for r in records:
                if self.memory_values + r.values > MEMORY_VALUES:
                    return  # the rest is read back from the journal when its turn comes
                self.memory.append(r)
                self.memory_values += r.values

    @property
    def pending(self) -> bool:
        return self.sent < self.journal.size

    def _next_group(self, start: int) -> list[Record]:
        """The records to send in one call from ``start`` on: consecutive points records up
        to :data:`SEND_VALUES` values, or one other record; [] at the end."""
        with self._lock:
            while self.memory and self.memory[0].start < self.sent:
                self.memory_values -= self.memory.popleft().values
            records: list[Record] = []
            for r in self.memory:
                if r.start == start or (records and r.start == records[-1].end):
                    records.append(r)
                elif records:
                    break
        if not records:
            records = self.journal.read(start)
        group: list[Record] = []
        values = 0
        for r in records:
            if group and (
                r.kind != "points" or group[0].kind != "points" or values + r.values > SEND_VALUES
            ):
                break
            group.append(r)
            values += r.values
        return group

    def pump(self, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Send until everything is confirmed (True) or ``should_stop`` says so (False).

        Points go out :data:`DEPTH` requests at a time, so that the server never idles
        between two; the cursor only moves over a confirmed prefix. Other records wait for
        everything before them. A refusal that no resend mends is reported and skipped.

        Raises:
            TransportError, ServerError, RateLimitedError, AuthenticationError,
            PermissionDeniedError: the server cannot take the records now; the cursor stays
                at the first unconfirmed record.
        """
        inflight: collections.deque[tuple[_Call, list[Record]]] = collections.deque()
        cursor = self.sent
        try:
            while not should_stop():
                while len(inflight) < DEPTH and cursor < self.journal.size:
                    group = self._next_group(cursor)
                    # Only points travel side by side; any other record goes alone.
                    if not group or (
                        inflight and {group[0].kind, inflight[-1][1][0].kind} != {"points"}
                    ):
                        break
                    inflight.append((_Call(self._send, group), group))
                    cursor = group[-1].end
                if not inflight:
                    break
                call, group = inflight.popleft()
                call.result()
                self._advance(group[-1].end, sum(r.values for r in group))
        finally:
            for call, _ in inflight:  # let them land before anyone moves the cursor again
                call.wait()
        return not self.pending

    def _advance(self, offset: int, values: int) -> None:
        with self._lock:
            self.sent = offset
            self.values_sent += values
            self.contact = time.monotonic()
        self.journal.set_sent(offset)

    def _send(self, group: list[Record]) -> None:
        first = group[0]
        try:
            if first.kind == "points":
                points = [p for r in group for p in r.payload]
                try:
                    self._call_points(points, group)
                except InvalidInputError as exc:
                    cleaned = _clean_points(points)
                    self._skip(f"some values were refused by the server ({exc.message})")
                    if cleaned:
                        self._call_points(cleaned)
            elif first.kind == "update":
                fields = {k: v for k, v in first.payload.items() if k in UPDATE_FIELDS}
                if "summary" in fields and (self.journal.dir / RESOLVED).exists():
                    fields["summary"] = self.resolver.summary(fields["summary"])  # offline
                if fields:
                    request = rq.RunUpdate(project=self.project, run_id=self.run_id, **fields)
                    self.transport.call(ops.UPDATE_RUN, request)
            elif first.kind == "finish":
                payload = first.payload
                request = rq.RunUpdate(
                    project=self.project,
                    run_id=self.run_id,
                    state=payload.get("state", "finished"),
                    exit_code=payload.get("exit_code"),
                )
                self.transport.call(ops.UPDATE_RUN, request)
            elif first.kind == "artifact":
                self.resolver.commit(self.transport, self.project, self.run_id, first.payload)
            elif first.kind == "link":
                self.resolver.link(self.transport, first.payload)
            elif first.kind == "bad":
                self._skip(f"an unreadable line at byte {first.start} of {self.journal.path}")
        except RETRYABLE:
            raise
        except ModelbayError as exc:
            # Not something a resend mends (e.g. the run was deleted): keep going with the
            # rest; the records stay in the journal for a look.
            self._skip(f"{first.kind} at byte {first.start}: {exc.message} [{exc.code}]")

    def _call_points(self, points: list[Any], group: list[Record] | None = None) -> None:
        body = None
        if any(r.raw is not None and CLIENT_SCHEME.encode() in r.raw for r in group or ()):
            points, group = self.resolver.points(points), None  # name staged artifacts
            if isinstance(self.transport, HttpTransport):
                body = _encode("points", points)[:-1]
        elif group and isinstance(self.transport, HttpTransport):
            body = _raw_body(group)
        if body is not None:
            # The journal lines are request bodies already: join them, encode nothing twice.
            self.transport.log_history_raw(self.project, self.run_id, body)
        else:
            # The points are checked by the service, one by one, as it stores them: a model
            # of each here would cost more than storing it.
            request = rq.HistoryPost.model_construct(
                project=self.project, run_id=self.run_id, points=points
            )
            self.transport.call(ops.LOG_HISTORY, request)

    def _skip(self, what: str) -> None:
        if len(self.skipped) < 20:
            _say(f"run {self.project}/{self.run_id}: skipped {what}")
        self.skipped.append(what)


class Sender:
    """The background threads of a run. Each flush interval the journal thread writes what
    ``run.log`` queued to the journal and fsyncs it; the send thread sends the unsent part
    of the journal. Two threads, so that a server that hangs never delays the journal.

    ``queue`` is the deque ``run.log`` appends ``(step, time, values)`` to; ``collect`` is
    called on each flush for a pending ``update`` record (or None).
    """

    def __init__(
        self,
        journal: Journal,
        uploader: Uploader | None,
        queue: collections.deque[Point],
        collect: Callable[[], Info | None],
        interval: float,
        label: str,
        heartbeat: float | None = None,
    ) -> None:
        self.journal = journal
        self.uploader = uploader
        self.queue = queue
        self.collect = collect
        self.interval = interval
        self.label = label
        #: Seconds of quiet after which the send thread beats (None: never, offline).
        self.heartbeat = heartbeat
        self.wake = threading.Event()
        self._send_wake = threading.Event()
        self._journal_lock = threading.Lock()
        self._stop = False
        self._abandon = False
        self._done = threading.Event()
        self._release_lock = threading.Lock()
        self._release_request: bool | None = None
        self._released = False
        self._away_since: float | None = None
        self._error: str | None = None
        self._last_update = time.monotonic()
        self._journal_error = False
        self.thread = threading.Thread(
            target=self._journal_loop, name=f"modelbay-journal-{label}", daemon=True
        )
        self.thread.start()
        self.send_thread: threading.Thread | None = None
        if uploader is not None:
            self.send_thread = threading.Thread(
                target=self._send_loop, name=f"modelbay-sender-{label}", daemon=True
            )
            self.send_thread.start()

    # -- journal ----------------------------------------------------------------------------

    def spool(self, final: Info | None = None) -> None:
        """Journal everything queued (and the ``finish`` record), then fsync."""
        with self._journal_lock:
            if self._released:
                return
            lines: list[bytes] = []
            kinds: list[tuple[str, Any, int]] = []
            queue = self.queue
            batch: list[Point] = []
            values = 0
            while queue:
                point = queue.popleft()
                batch.append(point)
                values += len(point[2])
                if values >= RECORD_VALUES:
                    kinds.append(("points", batch, values))
                    batch, values = [], 0
            if batch:
                kinds.append(("points", batch, values))
            # Config and summary at most once per interval: an early flush (a fast logger
            # filled the queue) only carries points, which travel without waiting.
            now = time.monotonic()
            if final is not None or now - self._last_update >= self.interval:
                self._last_update = now
                update = self.collect()
                if update:
                    kinds.append(("update", update, 0))
            if final is not None:
                kinds.append(("finish", final, 0))
            if not kinds:
                self.journal.sync()
                return
            for kind, payload, _ in kinds:
                lines.append(_encode(kind, payload))
            offset = self.journal.append(lines)
            self.journal.sync()
            if self.uploader is not None:
                records = []
                for line, (kind, payload, n) in zip(lines, kinds, strict=True):
                    raw = line if kind == "points" else None
                    records.append(Record(offset, offset + len(line), kind, payload, n, raw))
                    offset += len(line)
                self.uploader.remember(records)

    def record(self, kind: str, payload: Any) -> None:
        """Journal one record (an offline run's artifact or link) after the points queued
        before it, so that sync sends them in the order they were logged."""
        self.spool()
        with self._journal_lock:
            self.journal.append([_encode(kind, payload)])
            self.journal.sync()

    # -- the thread -------------------------------------------------------------------------

    def _journal_loop(self) -> None:
        while not self._stop:
            self.wake.wait(self.interval)
            self.wake.clear()
            if self._stop:
                break
            try:
                self.spool()
            except Exception as exc:  # a full disk, say: keep trying, never die
                if not self._journal_error:
                    _say(f"run {self.label}: cannot write {self.journal.path}: {exc}")
                self._journal_error = True
            else:
                self._journal_error = False
            self._send_wake.set()
        if self.uploader is None:
            self._finish_thread()

    def _send_loop(self) -> None:
        send_once()
        while not self._abandon:
            self._send_wake.wait(min(self.interval, 0.5) if self._stop else self.interval)
            self._send_wake.clear()
            # Read after the wait: close() sets the flag and then wakes this thread, and a
            # flag read before the wait would cost every finish() one more interval.
            stopping = self._stop
            try:
                self._send(stopping)
            except Exception as exc:  # never let the thread die: the journal keeps it all
                self._report_failure(exc)
            if stopping and self.uploader is not None and not self.uploader.pending:
                break
        self._finish_thread()

    def _finish_thread(self) -> None:
        with self._release_lock:
            self._done.set()
            if self._release_request is not None:
                self._let_go(self._release_request)

    def _send(self, stopping: bool) -> None:
        uploader = self.uploader
        if uploader is None:
            return
        if not uploader.pending:
            if (
                self.heartbeat is not None
                and not stopping
                and time.monotonic() - uploader.contact >= self.heartbeat
            ):
                try:
                    uploader.beat()
                except RETRYABLE as exc:
                    self._report_failure(exc)
                except ModelbayError as exc:  # e.g. the run was deleted: nothing to keep alive
                    self._error = exc.message
            return
        try:
            uploader.pump(lambda: self._abandon)
        except RETRYABLE as exc:
            self._report_failure(exc)
            return
        if self._away_since is not None:
            _say(
                f"run {self.label}: reached the server again; the spooled records are sent"
                if not uploader.pending
                else f"run {self.label}: reached the server again"
            )
            self._away_since = None
            self._error = None

    def _report_failure(self, exc: Exception) -> None:
        text = exc.message if isinstance(exc, ModelbayError) else f"{type(exc).__name__}: {exc}"
        if self._away_since is None:
            self._away_since = time.time()
            _say(
                f"run {self.label}: cannot send ({text}); logging goes on, records are kept in "
                f"{self.journal.path} and sent when the server is back"
            )
        self._error = text

    # -- stopping ---------------------------------------------------------------------------

    def close(self, final: Info | None, timeout: float) -> bool:
        """Journal the rest and the ``finish`` record, then wait up to ``timeout`` seconds
        for the server to confirm everything; returns whether it did."""
        self.spool(final)
        self._stop = True
        self.wake.set()
        self._send_wake.set()
        return self.wait(timeout)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds more; returns whether everything is sent."""
        if self.uploader is None:
            self._done.wait(5)
            return True
        self._done.wait(timeout)
        return not self.uploader.pending

    def release(self, remove: bool) -> None:
        """Stop the thread and let go of the journal (deleting it when ``remove``). A thread
        still inside a request lets go when that returns, never under its feet."""
        self._abandon = True
        self._stop = True
        self.wake.set()
        self._send_wake.set()
        with self._release_lock:
            if self._done.is_set():
                self._let_go(remove)
            else:
                self._release_request = remove

    def _let_go(self, remove: bool) -> None:
        with self._journal_lock:  # never under a journal write of the other thread
            if self._released:
                return
            self._released = True
            if remove:
                self.journal.remove()
            else:
                self.journal.close()

    @property
    def progress(self) -> int:
        """The journal offset the server has confirmed so far."""
        return self.uploader.sent if self.uploader is not None else self.journal.size

    @property
    def error(self) -> str | None:
        """The last reason sending failed while the server is away, else None."""
        return self._error
