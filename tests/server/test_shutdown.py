"""Stopping a server: a client that stopped reading mid-download does not hold it up."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest
from support.downloads import stored
from support.processes import ServerProcess

from modelbay.sdk.transport import HttpTransport


@pytest.fixture(autouse=True)
def _source_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "src").mkdir()
    monkeypatch.setenv("MODELBAY_TEST_SRC", str(tmp_path / "src"))


def test_sigterm_closes_a_download_whose_client_stopped_reading(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", args=["--shutdown-timeout", "1"])
    try:
        transport = HttpTransport(server.url, server.admin_key)
        (blob,) = stored(transport, {"big.bin": os.urandom(64 << 20)})
        transport.close()
        stalled = socket.create_connection(("127.0.0.1", server.port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(
            f"GET /api/v1/blobs/{blob['sha256']} HTTP/1.1\r\nHost: test\r\n"
            f"Authorization: Bearer {server.admin_key}\r\n\r\n".encode()
        )
        assert stalled.recv(100).startswith(b"HTTP/1.1 200")  # and then reads no more
        # A generous stop: the server must end by itself, well before the SIGKILL fallback.
        code = server.stop(timeout=30)
        assert code is not None and code != -signal.SIGKILL
        stalled.close()
    finally:
        server.stop()
