"""uvicorn's httptools protocol, sending each response's head and body in one write, and
handing an upload's body straight to the code that stores it.

uvicorn writes a response's status line and headers when the app sends
``http.response.start``, and its body in a second write. Each write is a send on the
socket; on loopback, and behind a balancer on the same host, every send also costs the
receiver a wake-up and a read. The transport given to the protocol here holds what is
written during one turn of the event loop and sends it at the turn's end, so a small
answer leaves in one segment. Large writes go at once (after what is held), and closing
sends what is held first; flow control sees the real transport.

The body sink (see server/body_sink.py) is for the cold 1 GiB upload of
``bench/artifacts.py`` (``COLD_UPLOAD_VS_BASELINE``): it overrides the parser callbacks of
uvicorn's ``HttpToolsProtocol`` and reads its ``RequestResponseCycle``, so uvicorn is
bounded to the versions this was checked against (pyproject).

Passed to uvicorn as its ``http`` protocol class (``uvicorn.Config(http=...)``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from modelbay.server.body_sink import EXTENSION, Sink

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


class BodySinkHttpTools(HeldWritesHttpTools):
    """:class:`HeldWritesHttpTools` whose requests carry a sink installer in their scope's
    ``extensions`` (see server/body_sink.py)."""

    _sink: Sink | None = None
    _sink_cycle: RequestResponseCycle | None = None

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # not an upgrade
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions[EXTENSION] = lambda write: self._install(cycle, write)

    def _install(
        self, cycle: RequestResponseCycle, write: Callable[[bytes], object]
    ) -> Sink | None:
        """Give the body received so far to a new sink, and the rest as it is parsed; None
        when it must go through ``receive()`` (the client waits for ``100 Continue``)."""
        if cycle.waiting_for_100_continue or cycle.response_complete or cycle.disconnected:
            return None
        sink = Sink(write)
        if cycle.body:
            held = bytes(cycle.body)
            cycle.body = bytearray()
            sink(held)
        if cycle.more_body and cycle is self.cycle:
            self._sink, self._sink_cycle = sink, cycle
        return sink

    def on_body(self, body: bytes) -> None:
        sink = self._sink
        if sink is None or self._sink_cycle is not self.cycle or self.cycle.response_complete:
            super().on_body(body)
            return
        sink(body)

    def on_message_complete(self) -> None:
        if self._sink_cycle is self.cycle:
            self._sink, self._sink_cycle = None, None
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._sink, self._sink_cycle = None, None
        super().connection_lost(exc)
