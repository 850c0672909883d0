"""The HTTP transport sends a call again when no server could answer it: always when the
connection could not be made (the call never left), and for operations declared safe to
repeat also when a balancer answered 502/503/504. Others fail at once, since their first
try may have taken effect."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.processes import ServerProcess

from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.errors import ModelbayError, TransportError
from modelbay.sdk.transport import HttpTransport


def test_a_call_waits_out_a_restarting_server(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data") as srv:
        transport = HttpTransport(srv.url, srv.admin_key)
        assert transport.call(ops.REGISTRIES, rq.NoArgs()).registries
        srv.kill()
        restarted = threading.Timer(1.0, srv.restart)
        restarted.start()
        try:
            # Made while nothing listens: refused connections are tried again.
            assert transport.call(ops.REGISTRIES, rq.NoArgs()).registries
        finally:
            restarted.join()
            transport.close()


class _Balancer(http.server.BaseHTTPRequestHandler):
    """Stands in for a load balancer with no replica left: 502 to the first ``failures``
    requests, then an answer of its own."""

    protocol_version = "HTTP/1.1"
    failures = 2
    seen: list[str] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.seen.append(self.path)
        if len(self.seen) <= self.failures:
            status, body = 502, b"<html>502 Bad Gateway</html>"
        else:
            status, body = 200, json.dumps({"missing": []}).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815 - http.server's names

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def balancer() -> Iterator[str]:
    _Balancer.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Balancer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_repeatable_call_is_sent_again_after_a_502(balancer: str) -> None:
    assert ops.MISSING_BLOBS.retry_safe
    transport = HttpTransport(balancer, "key")
    started = time.monotonic()
    assert transport.call(ops.MISSING_BLOBS, rq.Digests(digests=["a" * 64])).missing == []
    assert len(_Balancer.seen) == 3
    assert time.monotonic() - started >= 0.7  # waited between tries (0.25 s, then 0.5 s)


def test_another_call_fails_at_the_first_502(balancer: str) -> None:
    assert not ops.CREATE_USER.retry_safe
    transport = HttpTransport(balancer, "key")
    with pytest.raises(ModelbayError, match="HTTP 502"):
        transport.call(ops.CREATE_USER, rq.UserCreate(name="someone"))
    assert len(_Balancer.seen) == 1


def test_nothing_listening_fails_after_the_retries(tmp_path: Path) -> None:
    transport = HttpTransport("http://127.0.0.1:9", "key")  # the discard port: refused
    with pytest.raises(TransportError, match="cannot reach"):
        transport.call(ops.REGISTRIES, rq.NoArgs())
