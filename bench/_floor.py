"""The floor of a cold upload on this machine: the fewest seconds in which any program could
move a file from one process to another over loopback TCP and have it written and fsynced by
the receiver, with no HTTP, no database and no framework; optionally with both sides hashing
the bytes (sha256), as a verified upload must.

Each side keeps a ring of reused 1 MiB buffers and runs its steps in threads that overlap:
the sender says the size, then reads, hashes and sends; the receiver allocates the file's
blocks ahead (``posix_fallocate``), then receives, writes and hashes. The sender
prints nothing and exits 0 once the receiver has answered with its digest (which it checks
when hashing), so timing the sender's process from spawn to exit gives the floor.

    python bench/_floor.py receive PORT OUT [--hash]    # prints "ready" once listening
    python bench/_floor.py send PORT PATH [--hash]

The same two make the cold *download*'s floor, where only the receiver (the client) hashes
and nothing is fsynced (a download cache need not be durable; modelbay's is not):

    python bench/_floor.py receive PORT OUT --hash --no-fsync
    python bench/_floor.py send PORT PATH --receiver-hashes

``disk`` gives the floor under that one: what the disk alone needs to read the (cold) file
while it durably writes as many bytes to a new file OUT, both with O_DIRECT so that the page
cache's costs (copies, reclaim, write-back) do not count: no network, no hashing. Reads and
writes are independent streams that overlap completely (a real upload can only write what it
has read), so it bounds any upload that reads the file and writes it durably to this disk
(buffered writes and fsync, the page cache's way, were slower than O_DIRECT when measured here).
It prints one JSON line: ``seconds`` (from opening the files to the end of the fsync, timed
inside the process so that the interpreter's start does not count), when each side was done,
or ``seconds`` null and ``why`` when the filesystem refuses O_DIRECT (tmpfs did before Linux
6.6).

    python bench/_floor.py disk PATH OUT
"""

from __future__ import annotations

import errno
import hashlib
import json
import mmap
import os
import queue
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable

BUF = 1 << 20
SIZE = struct.Struct(">Q")  # what the sender sends first: the file's size
RING = 8
# The disk floor: 4 threads per side, each moving 4 MiB per call (the virtual disk's largest
# request here), as measured by hand on this 2-core VM. ext4 runs O_DIRECT writes that allocate
# blocks (all of a new file's) one at a time, so more writers only keep the next one ready.
DIRECT_CHUNK = 4 << 20
DIRECT_THREADS = 4
DIRECT_ALIGN = 4096  # O_DIRECT offsets and lengths: a multiple of the logical block size


class _Ring:
    """Reused buffers, each handed to ``consumers`` threads in order; a buffer is reused once
    every consumer is done with it."""

    def __init__(self, consumers: list[Callable[[memoryview], None]]) -> None:
        self.free: queue.Queue[int] = queue.Queue()
        self.bufs = [bytearray(BUF) for _ in range(RING)]
        for i in range(RING):
            self.free.put(i)
        self.pending = [0] * RING
        self.lock = threading.Lock()
        self.queues: list[queue.Queue[tuple[int, int] | None]] = []
        self.threads = []
        for consume in consumers:
            q: queue.Queue[tuple[int, int] | None] = queue.Queue()
            t = threading.Thread(target=self._run, args=(q, consume), daemon=True)
            t.start()
            self.queues.append(q)
            self.threads.append(t)

    def _run(
        self, q: queue.Queue[tuple[int, int] | None], consume: Callable[[memoryview], None]
    ) -> None:
        while (item := q.get()) is not None:
            i, n = item
            consume(memoryview(self.bufs[i])[:n])
            with self.lock:
                self.pending[i] -= 1
                if self.pending[i] == 0:
                    self.free.put(i)

    def take(self) -> tuple[int, bytearray]:
        i = self.free.get()
        return i, self.bufs[i]

    def give(self, i: int, n: int) -> None:
        self.pending[i] = len(self.queues)
        for q in self.queues:
            q.put((i, n))

    def close(self) -> None:
        for q in self.queues:
            q.put(None)
        for t in self.threads:
            t.join()


def receive(port: int, out: str, hashed: bool, durable: bool = True) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1)
    print("ready", flush=True)
    conn, _ = listener.accept()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # The sender says the size first: its blocks are allocated ahead, the cheaper way to
    # write a new file here (as modelbay's disk store reserves an upload's room).
    head = b""
    while len(head) < SIZE.size:
        more = conn.recv(SIZE.size - len(head))
        if not more:
            sys.exit("the sender left before saying the size")
        head += more
    (size,) = SIZE.unpack(head)
    if size:
        os.posix_fallocate(fd, 0, size)
    h = hashlib.sha256()

    def write(view: memoryview) -> None:
        while view:
            view = view[os.write(fd, view) :]

    ring = _Ring([write, h.update] if hashed else [write])
    done = False
    while not done:
        i, buf = ring.take()
        view = memoryview(buf)
        got = 0
        while got < BUF:
            n = conn.recv_into(view[got:])
            if n == 0:
                done = True
                break
            got += n
        if got:
            ring.give(i, got)
        else:
            ring.free.put(i)
    ring.close()
    if durable:
        os.fsync(fd)
    os.close(fd)
    conn.sendall(h.hexdigest().encode() if hashed else b"ok")
    conn.close()


def send(port: int, path: str, hashed: bool, receiver_hashes: bool = False) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    h = hashlib.sha256()
    ring = _Ring([sock.sendall, h.update] if hashed else [sock.sendall])
    with open(path, "rb", buffering=0) as f:
        sock.sendall(SIZE.pack(os.fstat(f.fileno()).st_size))
        while True:
            i, buf = ring.take()
            n = f.readinto(buf)
            if not n:
                ring.free.put(i)
                break
            ring.give(i, n)
    ring.close()
    sock.shutdown(socket.SHUT_WR)
    answer = b""
    while chunk := sock.recv(128):
        answer += chunk
    expected = h.hexdigest().encode() if hashed else b"ok"
    if receiver_hashes:  # the sender did not hash: any digest will do
        if len(answer) != 64:
            sys.exit(f"the receiver answered {answer!r}, not a sha256")
    elif answer != expected:
        sys.exit(f"the receiver answered {answer!r}, not {expected!r}")


def _chunks(size: int, work: Callable[[mmap.mmap, int, int], None], bufs: list[mmap.mmap]) -> None:
    """Call ``work(buf, offset, length)`` for every DIRECT_CHUNK of ``size`` bytes, one thread
    per buffer, each taking the next chunk as soon as it is done (so a stalled request does
    not hold up the others); re-raises the first error once every thread has stopped."""
    offsets = iter(range(0, size, DIRECT_CHUNK))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def run(buf: mmap.mmap) -> None:
        try:
            while not errors:
                with lock:
                    offset = next(offsets, None)
                if offset is None:
                    return
                work(buf, offset, min(DIRECT_CHUNK, size - offset))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(buf,), daemon=True) for buf in bufs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _aligned(n: int) -> int:
    return -(-n // DIRECT_ALIGN) * DIRECT_ALIGN


def disk(path: str, out: str) -> dict[str, object]:
    """Read ``path`` and write as many other bytes to ``out`` at once, both with O_DIRECT,
    then fsync ``out``; see the module's docstring. Buffers are anonymous mmaps (page-aligned,
    as O_DIRECT needs). The written bytes are random (the virtual disk might treat zeros or
    repeated blocks specially), each thread's buffer its own, and each chunk starts with its
    offset so that no two chunks are alike."""
    direct = getattr(os, "O_DIRECT", None)
    if direct is None:
        return {"seconds": None, "why": "os.O_DIRECT does not exist on this platform"}
    size = os.stat(path).st_size
    readbufs = [mmap.mmap(-1, DIRECT_CHUNK) for _ in range(DIRECT_THREADS)]
    writebufs = []
    for _ in range(DIRECT_THREADS):
        buf = mmap.mmap(-1, DIRECT_CHUNK)
        buf[:] = os.urandom(DIRECT_CHUNK)
        writebufs.append(buf)
    done: dict[str, float] = {}
    errors: list[BaseException] = []
    t0 = time.perf_counter()
    fds: list[int] = []
    try:
        fds.append(os.open(path, os.O_RDONLY | direct))
        fds.append(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | direct, 0o600))
    except OSError as exc:
        for fd in fds:
            os.close(fd)
        if exc.errno != errno.EINVAL:
            raise
        return {"seconds": None, "why": f"O_DIRECT refused: {exc}"}
    src, dst = fds

    def read(buf: mmap.mmap, offset: int, n: int) -> None:
        # Ask for whole blocks: at the end of the file O_DIRECT just returns fewer bytes.
        view = memoryview(buf)[: _aligned(n)]
        got = 0
        while got < n:
            k = os.preadv(src, [view[got:]], offset + got)
            if k == 0:
                raise OSError(f"{path} ended at {offset + got} bytes, not {size}")
            got += k

    def write(buf: mmap.mmap, offset: int, n: int) -> None:
        struct.pack_into("<Q", buf, 0, offset)
        view = memoryview(buf)[: _aligned(n)]  # the last block padded; truncated below
        put = 0
        while put < len(view):
            put += os.pwritev(dst, [view[put:]], offset + put)

    def reads() -> None:
        try:
            _chunks(size, read, readbufs)
            done["read"] = time.perf_counter()
        except BaseException as exc:
            errors.append(exc)

    def writes() -> None:
        try:
            _chunks(size, write, writebufs)
            if size % DIRECT_ALIGN:
                os.ftruncate(dst, size)
            os.fsync(dst)
            done["write"] = time.perf_counter()
        except BaseException as exc:
            errors.append(exc)

    try:
        sides = [threading.Thread(target=f, daemon=True) for f in (reads, writes)]
        for t in sides:
            t.start()
        for t in sides:
            t.join()
        seconds = time.perf_counter() - t0
        if errors:
            if isinstance(errors[0], OSError) and errors[0].errno == errno.EINVAL:
                return {"seconds": None, "why": f"O_DIRECT I/O refused: {errors[0]}"}
            raise errors[0]
        written = os.fstat(dst).st_size
        if written != size:
            raise OSError(f"{out} has {written} bytes, not {size}")
    finally:
        os.close(src)
        os.close(dst)
    return {
        "seconds": round(seconds, 3),
        "read_done_s": round(done["read"] - t0, 3),
        "write_done_s": round(done["write"] - t0, 3),
        "bytes": size,
        "chunk_bytes": DIRECT_CHUNK,
        "threads_per_side": DIRECT_THREADS,
    }


if __name__ == "__main__":
    if sys.argv[1] == "disk":
        print(json.dumps(disk(sys.argv[2], sys.argv[3])), flush=True)
    else:
        role, port, target, flags = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
        if role == "receive":
            receive(port, target, "--hash" in flags, durable="--no-fsync" not in flags)
        else:
            send(port, target, "--hash" in flags, receiver_hashes="--receiver-hashes" in flags)
