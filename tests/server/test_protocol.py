"""The server's HTTP protocol (server/protocol.py): what is written in one turn of the event
loop leaves in one write, in order; large writes are not held; closing sends what is held;
and a real server's answer arrives with its head and body together."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from support.processes import ServerProcess

from modelbay.server.protocol import HELD_BYTES, HeldWrites


class _Recording:
    """A real transport that notes the size of each write it is given."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[int] = []

    def write(self, data: bytes) -> None:
        self.writes.append(len(data))
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def _exercise() -> tuple[list[int], bytes]:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
    recording = _Recording(transport)  # type: ignore[arg-type]
    held = HeldWrites(recording, loop)  # type: ignore[arg-type]
    held.write(b"head;")
    held.write(b"body;")
    assert recording.writes == []  # held until the turn ends
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert recording.writes == [10]
    held.write(b"small;")
    held.write(b"L" * HELD_BYTES)  # large: what is held goes first, then it, at once
    assert recording.writes == [10, 6, HELD_BYTES]
    held.write(b"last")
    held.close()  # sends what is held before closing
    theirs.setblocking(True)

    def read_all() -> bytes:
        data = b""
        while chunk := theirs.recv(1 << 20):
            data += chunk
        return data

    # Read in a thread: the loop must keep running to send and close.
    received = await loop.run_in_executor(None, read_all)
    theirs.close()
    return recording.writes, received


def test_held_writes_leave_together_in_order() -> None:
    writes, received = asyncio.run(_exercise())
    assert writes == [10, 6, HELD_BYTES, 4]
    assert received == b"head;body;small;" + b"L" * HELD_BYTES + b"last"


def test_a_servers_answer_arrives_whole(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data") as srv:
        host, port = srv.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as s:
            for _ in range(3):  # on one kept-alive connection
                s.sendall(f"GET /api/v1/health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                first = s.recv(1 << 16)  # one read: the head and the body came in one write
                head, _, body = first.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                assert head.startswith(b"HTTP/1.1 200") and len(body) == length > 0
