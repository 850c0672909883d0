"""Upload bodies handed straight from the HTTP parser to their writer (server/body_sink.py),
over a real server: bytes arrive whole and in order whether they came with the head or
after it, on kept-alive and pipelined connections; a client waiting for ``100 Continue``
gets it; a writer's error is answered after the body and the connection goes on; a client
that leaves mid-body stores nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.requests import Request
from support.processes import ServerProcess, free_port

from modelbay.server.body_sink import receive_into
from modelbay.server.protocol import BodySinkHttpTools

PART = 1 << 20


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        tmp_path_factory.mktemp("sink"), extra_env={"MODELBAY_UPLOAD_PART_SIZE": str(5 * PART)}
    )
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def client(srv: ServerProcess) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {srv.admin_key}"}
    with httpx.Client(base_url=srv.url + "/api/v1", headers=headers) as c:
        yield c


def _connect(srv: ServerProcess) -> socket.socket:
    host, port = srv.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def _put_head(srv: ServerProcess, digest: str, size: int, *more: str) -> bytes:
    lines = [
        f"PUT /api/v1/blobs/{digest} HTTP/1.1",
        "Host: test",
        f"Authorization: Bearer {srv.admin_key}",
        "Content-Type: application/octet-stream",
        f"Content-Length: {size}",
        *more,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class _Answers:
    """HTTP/1.1 answers read from a socket one after the other (Content-Length bodies)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> None:
        more = self.sock.recv(1 << 16)
        assert more, "the server closed the connection"
        self.buf += more

    def next(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, body


def test_pipelined_uploads_are_each_stored_whole(srv: ServerProcess, client: httpx.Client) -> None:
    """Three uploads in one write: the first body arrives with its head, the others behind
    the previous ones; each goes to its own writer."""
    blobs = [os.urandom(n) for n in (3 * PART + 11, 17, 2 * PART)]
    digests = [hashlib.sha256(b).hexdigest() for b in blobs]
    wire = b"".join(_put_head(srv, d, len(b)) + b for d, b in zip(digests, blobs, strict=True))
    with _connect(srv) as s:
        s.sendall(wire)
        answers = _Answers(s)
        for _ in blobs:
            status, body = answers.next()
            assert status == 201, body
        # The connection is still good for another request.
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: test\r\n\r\n")
        assert answers.next()[0] == 200
    for digest, data in zip(digests, blobs, strict=True):
        assert client.get(f"/blobs/{digest}").content == data


def test_a_client_waiting_for_100_continue_gets_it(
    srv: ServerProcess, client: httpx.Client
) -> None:
    data = os.urandom(PART + 5)
    digest = hashlib.sha256(data).hexdigest()
    with _connect(srv) as s:
        s.sendall(_put_head(srv, digest, len(data), "Expect: 100-continue"))
        answers = _Answers(s)
        status, _ = answers.next()
        assert status == 100
        s.sendall(data)
        status, body = answers.next()
        assert status == 201, body
    assert client.get(f"/blobs/{digest}").content == data


def test_a_part_longer_than_its_size_is_refused_after_its_body(client: httpx.Client) -> None:
    data = os.urandom(10 * PART)
    plan = client.post("/blobs/uploads", json={"files": [{"size": len(data)}]}).json()
    session = plan["provisional"][0]
    url = f"/blobs/uploads/{session['id']}/parts/1"
    refused = client.put(url, content=data[: 5 * PART + 100])
    assert refused.status_code == 400, refused.text
    assert "longer than" in refused.json()["error"]["message"]
    # The same client (its kept-alive connection) sends the right bytes next.
    for part in session["parts"]:
        body = data[part["offset"] : part["offset"] + part["size"]]
        sent = client.put(f"/blobs/uploads/{session['id']}/parts/{part['number']}", content=body)
        assert sent.status_code == 200, sent.text
    digest = hashlib.sha256(data).hexdigest()
    done = client.post(
        "/blobs/uploads/complete", json={"ids": [session["id"]], "sha256": {session["id"]: digest}}
    )
    assert done.status_code == 200 and done.json()["results"][0]["stored"], done.text
    assert client.get(f"/blobs/{digest}").content == data


def test_bytes_that_do_not_hash_to_the_digest_are_refused(
    srv: ServerProcess, client: httpx.Client
) -> None:
    data = os.urandom(PART)
    claimed = hashlib.sha256(b"something else").hexdigest()
    with _connect(srv) as s:
        s.sendall(_put_head(srv, claimed, len(data)) + data)
        status, body = _Answers(s).next()
    assert status == 400 and b'"digest_mismatch"' in body, body
    assert client.get(f"/blobs/{claimed}").status_code == 404


def test_a_client_that_leaves_mid_body_stores_nothing(
    srv: ServerProcess, client: httpx.Client
) -> None:
    data = os.urandom(4 * PART)
    digest = hashlib.sha256(data).hexdigest()
    with _connect(srv) as s:
        s.sendall(_put_head(srv, digest, len(data)) + data[:PART])
    assert client.get(f"/blobs/{digest}").status_code == 404
    put = client.put(f"/blobs/{digest}", content=data)  # sent whole, it is stored
    assert put.status_code == 201, put.text
    assert client.get(f"/blobs/{digest}").content == data


class _Echo:
    """An ASGI app that takes each body through :func:`receive_into` and answers with the
    body's sha256 and whether any piece of it was written outside the app's own task (that
    is, from the parser, as it arrived); a body starting with ``!`` makes the writer fail."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        task = asyncio.current_task()
        h = hashlib.sha256()
        outside = []

        def write(piece: bytes) -> None:
            first = not outside  # only the body's first byte decides: random bytes may hold "!"
            outside.append(asyncio.current_task() is not task)
            if first and piece.startswith(b"!"):
                raise ValueError("refused")
            h.update(piece)

        try:
            await receive_into(Request(scope, receive), write)
            answer = f"{h.hexdigest()} {any(outside)}".encode()
            status = 200
        except ValueError:
            answer, status = b"refused", 400
        headers = [(b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        _Echo(), host="127.0.0.1", port=port, http=BodySinkHttpTools, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(1000):  # up to 10 s
        if server.started or not thread.is_alive():
            break
        thread.join(0.01)
    assert server.started, "the in-process uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_large_body_goes_from_the_parser_to_the_writer(echo: str) -> None:
    data = os.urandom(8 * PART + 3)
    with httpx.Client(base_url=echo) as c:
        for _ in range(2):  # and again on the kept-alive connection
            answer = c.put("/", content=data)
            assert answer.text == f"{hashlib.sha256(data).hexdigest()} True"


def test_a_writers_error_is_answered_after_the_body(echo: str) -> None:
    with httpx.Client(base_url=echo) as c:
        refused = c.put("/", content=b"!" + os.urandom(4 * PART))
        assert refused.status_code == 400 and refused.text == "refused"
        data = os.urandom(PART)
        assert c.put("/", content=data).text.startswith(hashlib.sha256(data).hexdigest())


def test_a_client_waiting_for_100_continue_is_served_through_receive(echo: str) -> None:
    data = os.urandom(PART)
    host, port = echo.removeprefix("http://").split(":")
    head = (
        f"PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: {len(data)}\r\nExpect: 100-continue\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(head.encode())
        answers = _Answers(s)
        assert answers.next()[0] == 100
        s.sendall(data)
        status, body = answers.next()
    assert status == 200
    assert body == f"{hashlib.sha256(data).hexdigest()} False".encode()
