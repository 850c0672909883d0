"""The SDK's JSON calls (sdk/small_calls.py) on kept-alive ``http.client`` connections,
against real servers on loopback: what reaches the server is what httpx would have sent,
connections are kept and reused, one the server closed is not, failures are httpx's
exception classes; and the httpx client's stream sends a request's head and small body in
one write."""

from __future__ import annotations

import contextvars
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
from support.processes import ServerProcess

from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.errors import NotFoundError, TransportError
from modelbay.sdk.large_reads import HELD_BYTES, _Stream
from modelbay.sdk.small_calls import SmallCalls
from modelbay.sdk.transport import HttpTransport, send_once


class _Echo(http.server.BaseHTTPRequestHandler):
    """Answers every request with what it received, as JSON."""

    protocol_version = "HTTP/1.1"
    #: The client address of each request answered.
    peers: list[tuple[str, int]] = []

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path.endswith("/slow"):
            threading.Event().wait(2)
        _Echo.peers.append(self.client_address)
        answer = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode(),
            }
        ).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "3")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        if self.path.endswith("/hang-up"):
            self.close_connection = True  # without saying so: the client finds out later

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _echo  # noqa: N815 - http.server's names

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _calls(base: str, timeout: float = 10.0) -> SmallCalls:
    return SmallCalls(base, {"Authorization": "Bearer k"}, httpx.Timeout(timeout))


def test_what_the_server_receives(echo_url: str) -> None:
    calls = _calls(echo_url + "/api/v1/")
    answer = calls.send(
        "POST",
        "/projects/caf%C3%A9/ünï code",
        content=b'{"a":1}',
        content_type="application/json",
        query={"flag": True, "off": False, "n": 3, "q": "a b&c=d/é"},
    )
    assert answer.status_code == 201 and answer.is_success
    assert answer.headers["retry-after"] == "3"
    got: dict[str, Any] = json.loads(answer.content)
    assert got["method"] == "POST"
    path, _, query = got["path"].partition("?")
    # Escapes already made stay; what is not ASCII is escaped; the base path is kept.
    assert path == "/api/v1/projects/caf%C3%A9/%C3%BCn%C3%AF%20code"
    assert httpx.QueryParams(query) == httpx.QueryParams(
        {"flag": "true", "off": "false", "n": "3", "q": "a b&c=d/é"}
    )
    assert got["headers"]["authorization"] == "Bearer k"
    assert got["headers"]["content-type"] == "application/json"
    assert got["headers"]["host"] == echo_url.removeprefix("http://")
    assert got["body"] == '{"a":1}'
    # A call without a body, and a bodiless POST, on the same kept-alive connection.
    assert json.loads(calls.send("GET", "/x").content)["body"] == ""
    empty = json.loads(calls.send("POST", "/y").content)
    assert empty["headers"]["content-length"] == "0"


def test_connections_are_kept_and_a_closed_one_is_not_used(echo_url: str) -> None:
    calls = _calls(echo_url)
    _Echo.peers.clear()
    for _ in range(3):
        assert calls.send("GET", "/a").status_code == 201
    assert len(set(_Echo.peers)) == 1  # one kept-alive connection
    # The server closes the connection after answering, without a "Connection: close".
    assert calls.send("POST", "/hang-up", content=b"{}").status_code == 201
    time.sleep(0.2)  # the close reaches the client
    assert json.loads(calls.send("POST", "/b", content=b"{}").content)["body"] == "{}"
    assert _Echo.peers[-1] != _Echo.peers[-2]  # sent on a new connection, not the closed one
    # Calls from threads at once each have a connection; they are kept for later calls.
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda i: calls.send("GET", f"/t{i}").status_code, range(40)))
    assert answers == [201] * 40
    assert 1 <= len(calls._idle) <= 4
    calls.close()
    assert calls._idle == []
    assert calls.send("GET", "/again").status_code == 201  # usable after close


def test_failures_are_httpx_errors(echo_url: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(httpx.ConnectError):
            _calls(f"http://127.0.0.1:{port}").send("GET", "/")
    with pytest.raises(httpx.ReadTimeout):
        _calls(echo_url, timeout=0.3).send("GET", "/slow")
    with pytest.raises(ValueError, match="not an http"):
        _calls("ftp://127.0.0.1/")


class _Recording(httpcore.NetworkStream):
    """A real network stream that notes the size of each write it is given."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner
        self.writes: list[int] = []

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.writes.append(len(buffer))
        self.inner.write(buffer, timeout)

    def close(self) -> None:
        self.inner.close()


def test_a_small_request_leaves_in_one_write(echo_url: str) -> None:
    host, port = echo_url.removeprefix("http://").split(":")
    recording = _Recording(httpcore.SyncBackend().connect_tcp(host, int(port)))
    held = _Stream(recording)  # the stream sdk/large_reads.py gives the client's pool
    origin = httpcore.Origin(b"http", host.encode(), int(port))
    with httpcore.HTTP11Connection(origin, held) as conn:
        headers = [(b"Host", f"{host}:{port}".encode()), (b"Content-Length", b"1000")]
        resp = conn.request("POST", f"{echo_url}/small", headers=headers, content=b"x" * 1000)
        assert json.loads(resp.content)["body"] == "x" * 1000
        assert len(recording.writes) == 1  # head and body together
        recording.writes.clear()
        big = b"y" * (HELD_BYTES * 2)
        headers = [
            (b"Host", f"{host}:{port}".encode()),
            (b"Content-Length", str(len(big)).encode()),
        ]
        resp = conn.request("PUT", f"{echo_url}/big", headers=headers, content=big)
        assert len(json.loads(resp.content)["body"]) == len(big)
        # A large body is not held: the head goes, then the body as it came.
        assert recording.writes[0] < HELD_BYTES and sum(recording.writes) > len(big)


def test_the_transport_maps_answers_and_failures(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data") as srv:
        transport = HttpTransport(srv.url, srv.admin_key)
        try:
            assert transport.call(ops.REGISTRIES, rq.NoArgs()).registries
            with pytest.raises(NotFoundError):
                transport.request("GET", "/registries/no-such-registry")
        finally:
            transport.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        gone = HttpTransport(f"http://127.0.0.1:{s.getsockname()[1]}", "k")

        def once() -> None:
            send_once()  # in this copied context only: no waiting out the retries
            gone.request("GET", "/registries")

        try:
            with pytest.raises(TransportError, match="cannot reach"):
                contextvars.copy_context().run(once)
        finally:
            gone.close()
