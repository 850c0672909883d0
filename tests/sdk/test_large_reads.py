"""The SDK's httpx client (sdk/large_reads.py) against a real HTTP/1.1 server on loopback:
bodies arrive whole and in large reads, kept-alive connections carry the next response, and
httpcore's errors reach callers as httpx's."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.tls import self_signed

from modelbay.sdk.httpclient import client

BODY = os.urandom(4 << 20)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so that two responses share a connection

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.flush()
            threading.Event().wait(2)  # longer than the client's read timeout
            return
        body = BODY if self.path == "/big" else b"small"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_large_body_arrives_whole_in_reads_over_64_kib(base_url: str) -> None:
    with client(verify=False, base_url=base_url) as c:
        sizes: list[int] = []
        digest = hashlib.sha256()
        with c.stream("GET", "/big") as resp:
            assert resp.status_code == 200
            for chunk in resp.iter_raw():
                sizes.append(len(chunk))
                digest.update(chunk)
        assert digest.digest() == hashlib.sha256(BODY).digest()
        # httpcore alone never hands out more than 64 KiB at once.
        assert max(sizes) > 64 * 1024
        # The same connection then carries the next response.
        assert c.get("/small").content == b"small"
        assert c.get("/big").content == BODY


def test_errors_are_httpx_errors(base_url: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        with client(verify=False) as c, pytest.raises(httpx.ConnectError):
            c.get(f"http://127.0.0.1:{port}/")
    with (
        client(verify=False, base_url=base_url, timeout=httpx.Timeout(0.3)) as c,
        pytest.raises(httpx.ReadTimeout),
    ):
        c.get("/slow")


def test_tls_is_verified_unless_told_otherwise(tmp_path: Path) -> None:
    key, cert = self_signed(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.server_address[1]}/big"
    try:
        with client() as c, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY"):
            c.get(url)
        trusting = ssl.create_default_context(cafile=str(cert))
        with client(verify=trusting) as c:
            assert c.get(url).content == BODY
        with client(verify=False) as c:
            assert c.get(url).content == BODY
    finally:
        server.shutdown()
        server.server_close()
