"""In-process checks of server/protocol.py's sendfile path on a real loopback connection and
a real uvloop transport, where timing must be controlled exactly (a worker thread caught
between two sendfile calls)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import uvicorn
import uvloop
from starlette.responses import FileResponse
from support.processes import free_port
from support.tls import self_signed

from modelbay.server import protocol


class LoopbackSendfile(protocol.NoDelayHTTPProtocol):
    """Sends files by sendfile to this host too: these tests' clients are on it."""

    sendfile_loopback = True


@contextlib.contextmanager
def _serving(app: Any, **options: Any) -> Iterator[int]:
    """``app`` served by uvicorn with :class:`LoopbackSendfile` (and ``options``) in a thread;
    yields the port."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=LoopbackSendfile,
        log_level="critical",
        lifespan="off",
        **options,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


class _Sink(asyncio.Protocol):
    def __init__(self, made: asyncio.Future[asyncio.Transport]) -> None:
        self.made = made

    def connection_made(self, transport: Any) -> None:
        self.made.set_result(transport)


async def _connection() -> tuple[Any, socket.socket, Any]:
    """A server-side uvloop transport and the client's (non-blocking) socket."""
    loop = asyncio.get_running_loop()
    made: asyncio.Future[asyncio.Transport] = loop.create_future()
    server = await loop.create_server(lambda: _Sink(made), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = socket.socket()
    client.setblocking(False)
    await loop.sock_connect(client, ("127.0.0.1", port))
    transport = await made
    return server, client, transport


def _cycle(transport: Any, size: int) -> Any:
    return SimpleNamespace(
        response_started=True,
        response_complete=False,
        disconnected=False,
        chunked_encoding=False,
        expected_content_length=size,
        transport=transport,
        scope={"method": "GET"},
    )


def test_a_cancelled_send_never_sends_bytes_of_a_file_opened_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The download's task is cancelled (uvicorn's graceful-shutdown timeout, an app's own
    timeout) while its worker thread is between two sendfile calls. The file's descriptor
    must stay the thread's own: a file opened next by anyone may get the same number."""
    size = 16 << 20
    (tmp_path / "mine").write_bytes(b"A" * size)
    (tmp_path / "secret").write_bytes(b"S" * size)
    real = os.sendfile
    calls: list[int] = []
    between = threading.Event()
    release = threading.Event()

    def sendfile(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        calls.append(in_fd)
        if len(calls) == 2:  # the thread, between its first call and its second
            between.set()
            release.wait(10)
        return real(out_fd, in_fd, offset, count)

    monkeypatch.setattr(os, "sendfile", sendfile)

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        server, client, transport = await _connection()
        cycle = _cycle(transport, size)

        async def plain(message: Any) -> None:
            pass

        task = asyncio.create_task(protocol._pathsend(cycle, plain, str(tmp_path / "mine")))
        while not between.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        transport.close()  # what uvicorn's run_asgi does next
        other = open(tmp_path / "secret", "rb")  # another request opens a file  # noqa: SIM115
        release.set()
        received = bytearray()
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(loop.sock_recv(client, 1 << 20), 2)
                except (TimeoutError, ConnectionError):
                    break
                if not chunk:
                    break
                received += chunk
        finally:
            other.close()
            client.close()
            server.close()
        return bytes(received)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        received = runner.run(main())
    assert received and b"S" not in received, f"{received.count(b'S')} bytes of another file"


def test_a_turn_never_waits_for_room_and_sends_a_bounded_amount(tmp_path: Path) -> None:
    """A worker thread is the loop's (6 of them on 2 cores): one turn returns at once when
    the socket is full, and returns after TURN_MOST bytes however fast the client reads."""
    size = protocol.TURN_MOST * 3
    (tmp_path / "f").write_bytes(os.urandom(size))
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    with ours, theirs, open(tmp_path / "f", "rb") as f:
        first = protocol._send_some(ours.fileno(), f.fileno(), 0, size)
        assert 0 < first < size  # the socket filled up: nobody reads
        assert protocol._send_some(ours.fileno(), f.fileno(), first, size - first) == protocol._FULL

        received = bytearray()

        def read() -> None:
            while len(received) < size and (chunk := theirs.recv(1 << 20)):
                received.extend(chunk)

        reader = threading.Thread(target=read)
        reader.start()
        sent = first
        while sent < size:
            n = protocol._send_some(ours.fileno(), f.fileno(), sent, size - sent)
            assert n == protocol._FULL or 0 < n <= protocol.TURN_MOST
            sent += max(n, 0)
            if n == protocol._FULL:
                time.sleep(0.001)
        reader.join(10)
        assert bytes(received) == (tmp_path / "f").read_bytes()


def test_a_finished_request_is_freed_at_once_not_by_the_cycle_collector() -> None:
    import gc
    import weakref

    import uvicorn

    class Marker:
        pass

    refs: list[weakref.ref[Marker]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        scope["marker"] = marker = Marker()  # as long-lived as the request's scope
        refs.append(weakref.ref(marker))
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    async def main() -> int:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            http=LoopbackSendfile,
            log_level="warning",
            lifespan="off",
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        for _ in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            await reader.read()
            writer.close()
        await asyncio.sleep(0.2)
        alive = sum(ref() is not None for ref in refs)
        server.should_exit = True
        await task
        return alive

    gc.disable()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            assert runner.run(main()) == 0
    finally:
        gc.enable()


def test_no_pathsend_is_offered_over_tls(tmp_path: Path) -> None:
    """sendfile writes beneath the TLS layer: over TLS, Starlette must send the file itself."""
    key, cert = self_signed(tmp_path)
    body = os.urandom(300_000)
    (tmp_path / "f").write_bytes(body)
    offered: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            offered.append(protocol.PATHSEND in scope.get("extensions", {}))
            await FileResponse(tmp_path / "f")(scope, receive, send)

    with _serving(app, ssl_keyfile=str(key), ssl_certfile=str(cert)) as port:
        got = httpx.get(f"https://127.0.0.1:{port}/", verify=False, timeout=10).content
    assert offered == [False]
    assert got == body


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_file_sendfile_refuses_is_sent_by_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """Some filesystems (FUSE, some network ones) cannot sendfile: EINVAL at the first call.
    The body then goes as uvicorn sends any, read by the server, whole and right, and the
    connection stays usable. (The refusal is injected: no such filesystem is mounted here.)"""
    body = os.urandom(3_000_000)
    (tmp_path / "f").write_bytes(body)
    refused: list[int] = []

    def sendfile(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        refused.append(offset)
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))

    monkeypatch.setattr(os, "sendfile", sendfile)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await FileResponse(tmp_path / "f")(scope, receive, send)

    with _serving(app) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(2):  # the second on the same connection
            resp = client.request(method, "/")
            assert resp.status_code == 200
            assert resp.headers["content-length"] == str(len(body))
            assert resp.content == (body if method == "GET" else b"")
    assert refused == ([0, 0] if method == "GET" else [])


def test_a_sendfile_failing_part_way_closes_the_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EINVAL after bytes went is not a refusal of the file: the response cannot be finished
    by reading (the client has a part of it), so it fails and the connection is closed; the
    client sees a cut body, never a wrong one."""
    body = os.urandom(20_000_000)
    (tmp_path / "f").write_bytes(body)
    real = os.sendfile

    def sendfile(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        if offset >= 1_000_000:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return real(out_fd, in_fd, offset, min(count, 1_000_000 - offset))

    monkeypatch.setattr(os, "sendfile", sendfile)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await FileResponse(tmp_path / "f")(scope, receive, send)

    with _serving(app) as port, pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
