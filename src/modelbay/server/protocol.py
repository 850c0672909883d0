"""uvicorn's httptools protocol, sending each response's head and body in one write.

uvicorn writes a response's status line and headers when the app sends
``http.response.start``, and its body in a second write. Each write is a send on the
socket; on loopback, and behind a balancer on the same host, every send also costs the
receiver a wake-up and a read. The transport given to the protocol here holds what is
written during one turn of the event loop and sends it at the turn's end, so a small
answer leaves in one segment. Large writes go at once (after what is held), and closing
sends what is held first; flow control sees the real transport.

Passed to uvicorn as its ``http`` protocol class (``uvicorn.Config(http=...)``).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: Writes at least this large are not held.
HELD_BYTES = 64 << 10


class HeldWrites:
    """An asyncio transport's stand-in that holds small writes until the loop's turn ends."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.loop = loop
        self.held: list[bytes] = []
        self.held_bytes = 0
        self.scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if len(data) >= HELD_BYTES:
            self.flush()
            self.transport.write(data)
            return
        self.held.append(bytes(data))
        self.held_bytes += len(data)
        if self.held_bytes >= HELD_BYTES:
            self.flush()
        elif not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.flush)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.scheduled = False
        if not self.held:
            return
        data = b"".join(self.held) if len(self.held) > 1 else self.held[0]
        self.held.clear()
        self.held_bytes = 0
        if not self.transport.is_closing():
            self.transport.write(data)

    def write_eof(self) -> None:
        self.flush()
        self.transport.write_eof()

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class HeldWritesHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol over :class:`HeldWrites`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        held = HeldWrites(cast(asyncio.Transport, transport), asyncio.get_running_loop())
        super().connection_made(cast(asyncio.Transport, held))
