"""httpx, imported without its command-line client; and its clients, reading large.

httpx 0.28 imports its CLI module (``httpx._main``: click, pygments, rich) whenever those
are installed, and beside modelbay they are (Typer and Rich). That is about half of httpx's
import time, paid by every script at ``modelbay.init()`` (40-80 ms here). Upstream now
imports it lazily (pydantic/httpx2#947). Until the httpx we install does, a stand-in module
takes its place, and loads the real one the first time ``httpx.main`` is called.

httpcore reads a response 64 KiB at a time (a constant, with no setting per client): a 1 GiB
blob is 16,384 rounds of Python through httpcore and h11, each one more hand-off to the
thread that hashes it. :func:`client` gives its connections a network backend that asks
the socket for up to :data:`READ_BYTES` instead, over plain HTTP (TLS hands out a record at
a time, whatever is asked); only modelbay's clients read so, not the process's other httpx
clients.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

#: Bytes a read of a response asks the socket for. A 1 GiB download from a server with the
#: blob in its page cache took 1.33-1.38 s of the client's CPU with 1 MiB reads against
#: 1.63-1.66 s with httpcore's 64 KiB, and 0.88-0.94 s against 0.99-1.05 s (five runs each,
#: interleaved, on this project's 2-core machine).
READ_BYTES = 1 << 20

_CLI = "httpx._main"


def _cli_main(*args: Any, **kwargs: Any) -> Any:
    """``httpx.main``: loads the real CLI module, then runs it."""
    stand_in = sys.modules.get(_CLI)
    if stand_in is not None and getattr(stand_in, "main", None) is _cli_main:
        del sys.modules[_CLI]
    return importlib.import_module(_CLI).main(*args, **kwargs)


def httpx_module() -> types.ModuleType:
    """The ``httpx`` module (imported on first call, without its CLI)."""
    if "httpx" not in sys.modules and _CLI not in sys.modules:
        stand_in = types.ModuleType(_CLI)
        stand_in.main = _cli_main  # type: ignore[attr-defined]
        sys.modules[_CLI] = stand_in
    import httpx

    return httpx


def client(**kwargs: Any) -> httpx.Client:
    """An ``httpx.Client(**kwargs)`` whose connections read up to :data:`READ_BYTES` at once.

    httpx has no setting for it: the network backend of the client's own connection pool is
    wrapped. Should another httpx or httpcore lay its pool out otherwise, the client is
    returned as httpx made it (reads of 64 KiB: slower, never wrong).
    """
    made: httpx.Client = httpx_module().Client(**kwargs)
    pool: Any = getattr(getattr(made, "_transport", None), "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if backend is not None and hasattr(backend, "connect_tcp"):
        pool._network_backend = _Backend(backend)
    return made


class _Backend:
    """An httpcore network backend (the interface, duck-typed) whose streams read large."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def connect_tcp(self, *args: Any, **kwargs: Any) -> _LargeReads:
        return _LargeReads(self.inner.connect_tcp(*args, **kwargs))

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> _LargeReads:
        return _LargeReads(self.inner.connect_unix_socket(*args, **kwargs))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class _LargeReads:
    """An httpcore network stream asking the socket for at least :data:`READ_BYTES` a read.

    It may so return more than the ``max_bytes`` httpcore asked for: httpcore hands whatever
    it reads to h11, which takes any amount and keeps what follows the response for the next.
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data: bytes = self.stream.read(max(max_bytes, READ_BYTES), timeout)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, timeout)

    def close(self) -> None:
        self.stream.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> Any:
        # A read of TLS returns one record (16 KiB) at most: asking for more only makes every
        # read allocate (and give back) a megabyte. (Measured: 3 x 64 MiB over loopback TLS
        # took 0.46 s of CPU read large, 0.20 s as httpcore reads.)
        return self.stream.start_tls(*args, **kwargs)

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info)
