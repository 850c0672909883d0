"""The floor of a cold upload on this machine: the fewest seconds in which any program could
move a file from one process to another over loopback TCP and have it written and fsynced by
the receiver, with no HTTP, no database and no framework; optionally with both sides hashing
the bytes (sha256), as a verified upload must.

Each side keeps a ring of reused 1 MiB buffers and runs its steps in threads that overlap:
the sender reads, hashes and sends; the receiver receives, writes and hashes. The sender
prints nothing and exits 0 once the receiver has answered with its digest (which it checks
when hashing), so timing the sender's process from spawn to exit gives the floor.

    python bench/_floor.py receive PORT OUT [--hash]    # prints "ready" once listening
    python bench/_floor.py send PORT PATH [--hash]
"""

from __future__ import annotations

import hashlib
import os
import queue
import socket
import sys
import threading
from collections.abc import Callable

BUF = 1 << 20
RING = 8


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


def receive(port: int, out: str, hashed: bool) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1)
    print("ready", flush=True)
    conn, _ = listener.accept()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
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
    os.fsync(fd)
    os.close(fd)
    conn.sendall(h.hexdigest().encode() if hashed else b"ok")
    conn.close()


def send(port: int, path: str, hashed: bool) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    h = hashlib.sha256()
    ring = _Ring([sock.sendall, h.update] if hashed else [sock.sendall])
    with open(path, "rb", buffering=0) as f:
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
    if answer != expected:
        sys.exit(f"the receiver answered {answer!r}, not {expected!r}")


if __name__ == "__main__":
    role, port, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    {"receive": receive, "send": send}[role](port, target, "--hash" in sys.argv[4:])
