"""The HTTP protocol uvicorn runs: TCP_NODELAY on every connection, and files sent by the
kernel (``sendfile``).

With one worker, asyncio sets TCP_NODELAY on accepted sockets itself; with several,
uvicorn hands the workers a socket asyncio does not recognise as TCP, Nagle's algorithm
stays on, and every response whose body follows its headers in a second small write waits
~40 ms for a delayed ACK (measured: 0.5 ms becomes 44 ms per call). Setting the option
here makes both shapes answer alike.

uvicorn implements neither ASGI's ``http.response.pathsend`` extension nor sendfile (and
uvloop's transports cannot sendfile), so a :class:`~starlette.responses.FileResponse`
reads every byte into the process and writes it out again: for a cold 1 GiB blob that was
most of the server's CPU, half of it in the kernel copying the file to user space. This
protocol offers the extension to clients on other hosts (see ``sendfile_loopback``) and
serves it with ``os.sendfile`` on a duplicate of the connection's socket, from worker
threads, once the headers have left; see :func:`_sendfile`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import socket
from typing import Any, Literal

try:  # httptools parses faster; uvicorn's h11 protocol is the fallback
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle as _Cycle

    _PATHSEND = True
except ImportError:  # pragma: no cover - depends on the installed extras
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base  # type: ignore[assignment]

    _Cycle = object  # type: ignore[assignment,misc]
    _PATHSEND = False

PATHSEND = "http.response.pathsend"
#: The most one worker thread's turn sends. A thread never waits for room in the socket
#: (the event loop does), and a client that reads fast gets its file in turns, so that no
#: download holds one of the loop's few worker threads for long.
TURN_MOST = 8 << 20
#: How a sendfile of a body ended (see _sendfile).
Ended = Literal["sent", "stopped", "short", "refused"]


class NoDelayHTTPProtocol(_Base):
    #: Whether a client on this host (over loopback) gets files by sendfile too. There it
    #: saves no work: the client copies the file out of the page cache where the server
    #: would have, and that first read of pages just filled from the disk is the costly copy.
    #: Read here instead, on the server's thread, it runs beside the client's own work: an
    #: interleaved A/B of a cold 1 GiB download on this project's 2-core machine took 1.41-1.71
    #: s read here against 1.84-1.99 s by sendfile. To a client on another host, sendfile
    #: leaves the bytes to the network card, and the server's CPU out of it.
    sendfile_loopback = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock: Any = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        self.sendfile = (
            _PATHSEND
            and self.scheme == "http"  # sendfile would put plain bytes in a TLS stream
            and (self.sendfile_loopback or not _on_this_host(self.client))
        )

    if _PATHSEND:

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self.sendfile:
                extensions: Any = self.scope.setdefault("extensions", {})
                extensions[PATHSEND] = {}

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            cycle: Any = self.cycle
            if self.sendfile and type(cycle) is _Cycle:
                # The ASGI task looks up ``cycle.send`` when it starts, after this returns.
                # A class, not a closure on the instance: that would make every request's
                # cycle (scope, transport) wait for the cycle collector to be freed.
                cycle.__class__ = _PathsendCycle


def _on_this_host(client: tuple[str, int] | None) -> bool:
    """Whether the peer is this host: a loopback address, or no address (a Unix socket)."""
    if client is None:
        return True
    try:
        address = ipaddress.ip_address(client[0].split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class _PathsendCycle(_Cycle):
    async def send(self, message: Any) -> None:
        if message["type"] == PATHSEND:
            await _pathsend(self, super().send, message["path"])
        else:
            await super().send(message)


async def _pathsend(cycle: Any, plain: Any, path: str) -> None:
    """Send the file at ``path`` as the body whose headers ``cycle`` has sent, then end the
    response through uvicorn's own path (``plain``), which checks the length and keeps the
    connection alive or closes it."""
    if cycle.disconnected:  # uvicorn drops the messages of a client that went away
        return
    if not cycle.response_started or cycle.response_complete:
        raise RuntimeError(f"'{PATHSEND}' sent before 'http.response.start' or after the body")
    if cycle.scope["method"] == "HEAD":  # no body, as uvicorn sends none
        await plain({"type": "http.response.body", "body": b"", "more_body": False})
        return
    if cycle.chunked_encoding:
        # No length was promised: uvicorn frames the chunks (Starlette always sets one).
        with open(path, "rb") as f:
            while chunk := await asyncio.to_thread(f.read, 1 << 20):
                await plain({"type": "http.response.body", "body": chunk, "more_body": True})
        await plain({"type": "http.response.body", "body": b"", "more_body": False})
        return
    promised = cycle.expected_content_length
    file_fd = os.open(path, os.O_RDONLY)
    try:
        sent, ended = await _sendfile(cycle.transport, os.dup(file_fd), promised)
        if ended == "refused":
            # The file's filesystem cannot sendfile (some FUSE and network filesystems): the
            # body goes as uvicorn sends any, read here from the file already open.
            await _read_and_send(cycle, plain, file_fd, promised)
            return
    finally:
        os.close(file_fd)
    short = ended == "short"
    # Each byte counts against the promise as uvicorn counts those it writes itself. A file
    # shorter than promised (it changed after the headers were sent) fails as uvicorn fails
    # such a body, and its connection is closed: the client cannot tell where a next
    # response would begin.
    cycle.expected_content_length -= sent
    if short:
        cycle.transport.close()
        raise RuntimeError(f"{path} ended after {sent} of the {promised} bytes promised")
    if sent < promised:  # the client went away, or the server is stopping
        cycle.disconnected = True
        cycle.transport.close()
    elif not cycle.disconnected:
        await plain({"type": "http.response.body", "body": b"", "more_body": False})


async def _sendfile(transport: Any, file_fd: int, count: int) -> tuple[int, Ended]:
    """Send the first ``count`` bytes of ``file_fd`` on ``transport``'s connection; the bytes
    sent, and how it ended: ``"short"`` if the file ended first, ``"refused"`` if sendfile
    refused the file before any byte went (nothing was sent: the caller sends it otherwise),
    ``"stopped"`` if the transport closed before anything was sent, else ``"sent"`` (all of
    it, or what went before the client left). Closes ``file_fd``.

    The kernel copies the file from the page cache to the socket. The calls go to worker
    threads, as a cold file's reads block on the disk; a client that is not reading waits
    in the event loop, holding no thread.
    """
    loop = asyncio.get_running_loop()
    fd: int | None = None
    call: asyncio.Future[int] | None = None

    def close(_: object = None) -> None:
        os.close(file_fd)
        if fd is not None:
            os.close(fd)

    sent = 0
    try:
        # The headers must be on the wire before the file's bytes go after them. (Polled: a
        # client not reading an earlier pipelined response may keep them long.)
        delay = 0.001
        while transport.get_write_buffer_size() and not transport.is_closing():
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        sock = transport.get_extra_info("socket")
        if sock is None or transport.is_closing():
            return 0, "stopped"
        # A duplicate: the transport closes its own descriptor when the client goes away or
        # the server stops, and the number may then be reused by another socket or file.
        fd = os.dup(sock.fileno())
        while sent < count and not transport.is_closing():
            call = loop.run_in_executor(None, _send_some, fd, file_fd, sent, count - sent)
            n = await asyncio.shield(call)
            if n == _FULL:
                while not await _writable(loop, fd) and not transport.is_closing():
                    pass
            elif n == _GONE:
                break
            elif n == _REFUSED:
                return 0, "refused"
            elif n == 0:
                return sent, "short"
            else:
                sent += n
    finally:
        # Both descriptors are closed once no worker thread uses them, never before: a
        # cancelled request's thread may still be in sendfile, and a number closed under it
        # could be reused by another file, whose bytes it would then send.
        if call is not None and not call.done():
            call.add_done_callback(close)
        else:
            close()
    return sent, "sent"


_FULL = -1  # the socket has no room
_GONE = -2  # the client went away
_REFUSED = -3  # sendfile refused the file, before any byte of it went
#: errnos of a sendfile refused for what the file or socket is, not for what happened.
_CANNOT = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP})


async def _read_and_send(cycle: Any, plain: Any, file_fd: int, count: int) -> None:
    """Send the first ``count`` bytes of ``file_fd`` as uvicorn sends a body, until the
    client goes away."""
    offset = 0
    while offset < count and not cycle.disconnected:
        chunk = await asyncio.to_thread(os.pread, file_fd, min(count - offset, 1 << 20), offset)
        if not chunk:
            break  # shorter than promised: uvicorn fails the response as for any body
        offset += len(chunk)
        await plain({"type": "http.response.body", "body": chunk, "more_body": True})
    await plain({"type": "http.response.body", "body": b"", "more_body": False})


def _send_some(fd: int, file_fd: int, offset: int, count: int) -> int:
    """sendfile until ``count`` bytes (at most TURN_MOST) are sent or the socket is full:
    the bytes sent (0 if the file has no more), or _FULL, _GONE, or _REFUSED (sendfile
    cannot send this file: refused at its first byte)."""
    sent = 0
    count = min(count, TURN_MOST)
    while sent < count:
        try:
            n = os.sendfile(fd, file_fd, offset + sent, count - sent)
        except BlockingIOError:
            return sent or _FULL
        except (BrokenPipeError, ConnectionResetError):
            return sent or _GONE
        except OSError as exc:
            if exc.errno == errno.ENOTCONN:
                return sent or _GONE
            if exc.errno in _CANNOT and offset + sent == 0:
                return _REFUSED
            raise
        if n == 0:
            break
        sent += n
    return sent


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> bool:
    """Until ``fd`` has room (or an error to report), or a second has passed: whether it
    has."""
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await asyncio.wait({ready}, timeout=1.0)
    finally:
        loop.remove_writer(fd)
    return ready.done()
