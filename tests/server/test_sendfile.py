"""Files sent by the kernel: modelbay's HTTP protocol offers ASGI's ``http.response.pathsend``
and serves it with sendfile (server/protocol.py). Against a real server over loopback: the
bytes and the framing of kept-alive and pipelined connections, ranges and HEAD (which do not
use it), clients that go away mid-file, and promises a file cannot keep."""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import h11
import httpx
import pytest
from support.downloads import stored
from support.processes import ServerProcess

from modelbay.sdk.transport import HttpTransport
from modelbay.server.protocol import PATHSEND, _on_this_host

APP = Path(__file__).with_name("pathsend_app.py")
SIZES = {"empty": 0, "one": 1, "odd": 1_234_567, "big": (24 << 20) + 7}


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    data = tmp_path_factory.mktemp("files")
    for name, size in SIZES.items():
        (data / name).write_bytes(os.urandom(size))
    server = ServerProcess(
        data,
        command=[sys.executable, str(APP)],
        args=["--sendfile-loopback"],  # the tests' client is on this host
        health_path="/health",
    )
    try:
        yield server, data
    finally:
        server.stop()


def _exchange(port: int, requests: list[h11.Request]) -> list[tuple[h11.Response, bytes]]:
    """Send ``requests`` at once (pipelined) on one connection; each response and its body."""
    wire = b""
    for request in requests:  # h11 sends one request at a time: each its own to write it
        writer = h11.Connection(h11.CLIENT)
        wire += writer.send(request) + writer.send(h11.EndOfMessage())
    conn = h11.Connection(h11.CLIENT)  # reads the answers, told each request as it comes
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(wire)
        answers: list[tuple[h11.Response, bytes]] = []
        for i, request in enumerate(requests):
            if i:
                conn.start_next_cycle()
            conn.send(request)
            conn.send(h11.EndOfMessage())
            head: h11.Response | None = None
            body = bytearray()
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(sock.recv(1 << 20))
                elif isinstance(event, h11.Response):
                    head = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
            assert head is not None
            answers.append((head, bytes(body)))
        return answers


def _get(path: str, method: str = "GET", **headers: str) -> h11.Request:
    return h11.Request(method=method, target=path, headers=[("Host", "t"), *headers.items()])


def _header(response: h11.Response, name: bytes) -> bytes | None:
    return next((v for k, v in response.headers if k == name), None)


def test_files_of_every_size_arrive_whole_on_one_kept_alive_pipelined_connection(
    standin: tuple[ServerProcess, Path],
) -> None:
    server, data = standin
    names = list(SIZES) * 2
    answers = _exchange(server.port, [_get(f"/file/{n}") for n in names])
    for name, (head, body) in zip(names, answers, strict=True):
        assert head.status_code == 200
        assert _header(head, b"content-length") == str(SIZES[name]).encode()
        assert body == (data / name).read_bytes()
    seen = httpx.get(f"{server.url}/seen").json()
    assert PATHSEND in seen["extensions"]
    assert seen["types"] == ["http.response.start", PATHSEND]  # the kernel sent the last one


def test_a_client_on_this_host_is_sent_files_by_the_server_itself(tmp_path: Path) -> None:
    """Over loopback sendfile saves no copy, only moves it to the client (the protocol's
    ``sendfile_loopback``): modelbay's protocol offers it to clients on other hosts only."""
    (tmp_path / "f").write_bytes(os.urandom(SIZES["odd"]))
    server = ServerProcess(tmp_path, command=[sys.executable, str(APP)], health_path="/health")
    try:
        ((head, body),) = _exchange(server.port, [_get("/file/f")])
        assert body == (tmp_path / "f").read_bytes()
        seen = httpx.get(f"{server.url}/seen").json()
        assert PATHSEND not in seen["extensions"]
        assert seen["types"][0] == "http.response.start" and PATHSEND not in seen["types"]
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("client", "local"),
    [
        (("127.0.0.1", 1), True),
        (("127.8.9.10", 1), True),
        (("::1", 1), True),
        (("::ffff:127.0.0.1", 1), True),
        (None, True),  # a Unix socket
        (("10.1.2.3", 1), False),
        (("192.168.0.7", 1), False),
        (("2001:db8::1", 1), False),
        (("::ffff:10.1.2.3", 1), False),
        (("fe80::1%eth0", 1), False),
    ],
)
def test_which_peers_are_on_this_host(client: tuple[str, int] | None, local: bool) -> None:
    assert _on_this_host(client) is local


def test_ranges_and_head_are_answered_as_before_and_keep_the_connection(
    standin: tuple[ServerProcess, Path],
) -> None:
    server, data = standin
    whole = (data / "odd").read_bytes()
    ranged, head, after = _exchange(
        server.port,
        [
            _get("/file/odd", Range="bytes=1000-1999"),
            _get("/file/odd", method="HEAD"),
            _get("/file/odd"),
        ],
    )
    assert ranged[0].status_code == 206 and ranged[1] == whole[1000:2000]
    assert head[0].status_code == 200 and head[1] == b""
    assert _header(head[0], b"content-length") == str(len(whole)).encode()
    assert after[1] == whole


def test_a_connection_close_request_is_closed_after_the_file(
    standin: tuple[ServerProcess, Path],
) -> None:
    server, data = standin
    ((head, body),) = _exchange(server.port, [_get("/file/odd", Connection="close")])
    assert body == (data / "odd").read_bytes()
    assert _header(head, b"connection") == b"close"


def test_a_file_without_a_promised_length_is_sent_in_chunks(
    standin: tuple[ServerProcess, Path],
) -> None:
    server, data = standin
    ((head, body),) = _exchange(server.port, [_get("/unsized/odd")])
    assert _header(head, b"transfer-encoding") == b"chunked"
    assert body == (data / "odd").read_bytes()


def test_a_file_shorter_than_its_promise_ends_the_connection_not_the_server(
    standin: tuple[ServerProcess, Path],
) -> None:
    server, data = standin
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /short/odd HTTP/1.1\r\nHost: t\r\n\r\n")
        received = b""
        while chunk := sock.recv(1 << 20):  # ends: the server closed the connection
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert f"content-length: {SIZES['odd'] + 1000}".encode() in head.lower()
    assert body == (data / "odd").read_bytes()  # what there was, and no more
    assert "ended after 1234567 of the 1235567 bytes promised" in server.log_text()
    assert httpx.get(f"{server.url}/file/one").content == (data / "one").read_bytes()


def test_clients_that_leave_mid_file_leave_no_descriptor_behind(
    standin: tuple[ServerProcess, Path],
) -> None:
    server, data = standin
    fds = Path(f"/proc/{server.pid}/fd")
    httpx.get(f"{server.url}/file/one")  # the worker threads exist before counting
    before = len(os.listdir(fds))
    for linger in (False, True):
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /file/big HTTP/1.1\r\nHost: t\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 200")
            if linger:  # a reset rather than a close
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            sock.close()
    deadline = time.monotonic() + 20
    while len(os.listdir(fds)) > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(os.listdir(fds)) <= before
    body = httpx.get(f"{server.url}/file/big", timeout=30).content
    assert hashlib.sha256(body).digest() == hashlib.sha256((data / "big").read_bytes()).digest()


def test_blobs_of_a_modelbay_server_arrive_whole_on_one_pipelined_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "src").mkdir()
    monkeypatch.setenv("MODELBAY_TEST_SRC", str(tmp_path / "src"))
    server = ServerProcess(tmp_path / "data")
    try:
        transport = HttpTransport(server.url, server.admin_key)
        blobs = {"a": os.urandom(3 << 20), "b": b"", "c": b"x"}
        files = stored(transport, blobs)
        transport.close()
        auth = f"Bearer {server.admin_key}"
        answers = _exchange(
            server.port,
            [_get(f"/api/v1/blobs/{f['sha256']}", Authorization=auth) for f in files],
        )
        assert [body for _, body in answers] == list(blobs.values())
    finally:
        server.stop()


def test_a_client_gone_before_the_response_starts_leaves_no_error_in_the_log(
    standin: tuple[ServerProcess, Path],
) -> None:
    # uvicorn drops the http.response.start of a client that went away; the pathsend that
    # follows must be dropped as quietly, not fail as "sent before 'http.response.start'".
    server, _ = standin
    errors = server.log_text().count("Exception in ASGI application")
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(b"GET /file/odd HTTP/1.1\r\nHost: t\r\n\r\n")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        sock.close()  # a reset, at once
    time.sleep(0.5)
    assert httpx.get(f"{server.url}/health").status_code == 200
    log = server.log_text()
    assert "sent before 'http.response.start'" not in log
    assert log.count("Exception in ASGI application") == errors


def test_a_pathsend_answering_head_sends_no_body(standin: tuple[ServerProcess, Path]) -> None:
    server, data = standin
    head, after = _exchange(server.port, [_get("/raw/odd", method="HEAD"), _get("/file/one")])
    assert _header(head[0], b"content-length") == str(SIZES["odd"]).encode()
    assert head[1] == b""
    assert after[1] == (data / "one").read_bytes()


def test_clients_that_stopped_reading_hold_no_worker_thread(
    standin: tuple[ServerProcess, Path],
) -> None:
    """Each waits in the event loop: 400 of them, against the loop's few worker threads (6
    on 2 cores), and a download still gets through. (Whether it is slowed is not asserted:
    the machines are shared; a thread's turn never waiting is tested in-process.)"""
    server, data = standin
    stalled = []
    try:
        for _ in range(400):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(b"GET /file/big HTTP/1.1\r\nHost: t\r\n\r\n")
            stalled.append(sock)
        with httpx.Client(timeout=60) as client:
            assert client.get(f"{server.url}/file/odd").content == (data / "odd").read_bytes()
    finally:
        for sock in stalled:
            sock.close()
