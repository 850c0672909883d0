"""Fixtures shared by the download tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.processes import ServerProcess

from modelbay.sdk.transport import HttpTransport


@pytest.fixture
def transport(server: ServerProcess) -> Iterator[HttpTransport]:
    """An HTTP transport to the session's server, as its admin."""
    t = HttpTransport(server.url, server.admin_key)
    try:
        yield t
    finally:
        t.close()
