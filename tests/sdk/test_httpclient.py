"""httpx is imported without its command-line client, which still works when called; and
modelbay's httpx clients read responses in large pieces, over plain HTTP and TLS alike."""

from __future__ import annotations

import http.server
import os
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.tls import self_signed

from modelbay.sdk import httpclient


def test_httpx_comes_without_its_cli_until_the_cli_is_called() -> None:
    code = textwrap.dedent(
        """
        import sys
        from modelbay.sdk.httpclient import httpx_module
        httpx = httpx_module()
        assert httpx.Client is not None
        heavy = [m for m in ("click", "pygments.lexers", "rich.console") if m in sys.modules]
        assert heavy == [], heavy
        try:
            httpx.main(["--help"])
        except SystemExit as exc:
            assert exc.code == 0
        assert "click" in sys.modules
        assert hasattr(sys.modules["httpx._main"], "print_help")  # the real module now
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


@pytest.fixture(params=["http", "https"])
def body_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, bytes, Any]]:
    """A threaded HTTP/1.1 server on loopback (over TLS with a self-signed certificate for
    ``https``) answering every GET with the same 5 MiB body on kept-alive connections; yields
    (base URL, body, the ``verify`` a client needs)."""
    body = os.urandom(5 << 20)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    verify: Any = True
    if request.param == "https":
        key, cert = self_signed(tmp_path)
        server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_side.load_cert_chain(cert, key)
        httpd.socket = server_side.wrap_socket(httpd.socket, server_side=True)
        verify = ssl.create_default_context(cafile=str(cert))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{request.param}://127.0.0.1:{httpd.server_address[1]}", body, verify
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_modelbays_clients_read_responses_a_megabyte_at_a_time(
    body_server: tuple[str, bytes, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bodies come whole and right, on one kept-alive connection, over TLS too; plain reads
    return more than httpcore's 64 KiB (TLS reads are left as httpcore makes them); httpx
    clients made elsewhere in the process keep their own reads."""
    url, body, verify = body_server
    asked: list[int] = []
    real_read = httpclient._LargeReads.read

    def read(self: Any, max_bytes: int, timeout: float | None = None) -> bytes:
        data = real_read(self, max_bytes, timeout)
        asked.append(len(data))
        return data

    monkeypatch.setattr(httpclient._LargeReads, "read", read)
    with httpclient.client(verify=verify) as c:
        for _ in range(3):
            with c.stream("GET", url + "/blob") as resp:
                assert resp.status_code == 200
                got = b"".join(resp.iter_raw())
            assert got == body
        assert len(c._transport._pool.connections) == 1  # kept alive and reused
    if url.startswith("http:"):
        assert max(asked) > 64 * 1024
    else:  # a read of TLS returns one record (16 KiB) at most: asking for more only costs
        assert asked == []

    asked.clear()
    with httpclient.httpx_module().Client(verify=verify) as other:
        assert other.get(url + "/blob").content == body
    assert asked == []  # another client of the process reads as httpx does
