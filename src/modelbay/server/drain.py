"""Stopping a server behind a load balancer without failing the balancer's next request.

uvicorn, on SIGTERM, closes its kept-alive connections that are between requests at once.
A balancer that keeps connections alive (nginx's ``keepalive``) may be writing a request
onto one of them at that moment: it gets the connection closed under it, and answers 502 to
a POST, which it may not send elsewhere (it cannot know whether the server acted on it).

:class:`DrainingServer` stops accepting first, then for up to :data:`DRAIN_SECONDS` keeps
serving what arrives on the connections it has, each response saying ``Connection: close``
(:class:`CloseWhenDraining`), so that the balancer itself retires every connection after
its next answer; only what is still open after that is closed as uvicorn does, and
requests in flight get ``--shutdown-timeout`` as before.
"""

from __future__ import annotations

import asyncio
import socket
import time

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Seconds a stopping server keeps answering on its open connections (each answer closing
#: its connection) before it closes those left idle.
DRAIN_SECONDS = 1.0


class CloseWhenDraining:
    """ASGI middleware: once :attr:`draining` is set, every response closes its connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.draining = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if self.draining and message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose shutdown lets the balancer retire its connections first."""

    def __init__(self, config: uvicorn.Config, gate: CloseWhenDraining) -> None:
        super().__init__(config)
        self.gate = gate

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        self.gate.draining = True
        limit = self.config.timeout_graceful_shutdown
        deadline = time.monotonic() + min(DRAIN_SECONDS, limit or DRAIN_SECONDS)
        while self.server_state.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await super().shutdown(sockets)
