"""An httpx transport whose connections read up to 1 MiB per socket read.

httpcore reads a response 64 KiB at a time, with no setting for it: a 1 GiB blob is 16,384
rounds of Python through httpcore and h11, each one more hand-off to the thread that hashes
it. The cold 1 GiB download of ``bench/artifacts.py`` (its ratio to MLflow's) is the figure
that needs more. Built only from public APIs: an ``httpx.BaseTransport`` over an
``httpcore.ConnectionPool`` given a network backend whose streams ask the socket for more,
over plain HTTP only (a TLS read returns one record, whatever is asked). httpcore's
exceptions are mapped to httpx's as httpx's own transport maps them. Bounded to the httpx
and httpcore versions it was checked against (pyproject).
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

#: Bytes one read of a response asks the socket for.
READ_BYTES = 1 << 20
#: Bytes of a request held to be sent in one write (see :class:`_Stream`).
HELD_BYTES = 64 << 10

_ERRORS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    # Most specific first: the first match wins.
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for theirs, ours in _ERRORS:
            if isinstance(exc, theirs):
                raise ours(str(exc)) from exc
        raise


class _Stream(httpcore.NetworkStream):
    """A network stream that asks the socket for at least :data:`READ_BYTES` per read, and
    sends a request's head and a small body in one write.

    Reads may return more than httpcore's ``max_bytes``: h11 takes any amount and keeps what
    follows a response for the next one. httpcore writes a request's head and then each
    piece of its body; on loopback each write costs the sender the receiver's TCP work too,
    so writes are held (up to :data:`HELD_BYTES`) until the next read, which always follows
    a request, or until the next write would pass that size.
    """

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner
        self.held: list[bytes] = []
        self.held_bytes = 0
        self.write_timeout: float | None = None

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self.held:
            self._flush()
        return self.inner.read(max(max_bytes, READ_BYTES), timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self.held and self.held_bytes + len(buffer) > HELD_BYTES:
            self._flush()
        if len(buffer) >= HELD_BYTES:
            self.inner.write(buffer, timeout)
            return
        self.held.append(buffer)
        self.held_bytes += len(buffer)
        self.write_timeout = timeout

    def _flush(self) -> None:
        data = b"".join(self.held)
        self.held.clear()
        self.held_bytes = 0
        self.inner.write(data, self.write_timeout)

    def close(self) -> None:
        self.held.clear()
        self.inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # TLS: reads as httpcore makes them (asking for more only allocates more).
        return self.inner.start_tls(ssl_context, server_hostname, timeout)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self.inner = httpcore.SyncBackend()

    def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _Stream(self.inner.connect_tcp(*args, **kwargs))

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _Stream(self.inner.connect_unix_socket(*args, **kwargs))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class _Body(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes]) -> None:
        self.inner = inner

    def __iter__(self) -> Iterator[bytes]:
        with as_httpx_errors():
            yield from self.inner

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


class LargeReadsTransport(httpx.BaseTransport):
    """``httpx.HTTPTransport`` for HTTP/1.1, reading up to :data:`READ_BYTES` at once."""

    def __init__(self, *, verify: bool | ssl.SSLContext, limits: httpx.Limits) -> None:
        if verify is False:  # no CA bundle to load (plain HTTP never uses the context)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = httpx.create_ssl_context(verify=verify)
        self.pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with as_httpx_errors():
            resp = self.pool.handle_request(core)
        assert isinstance(resp.stream, Iterable)
        return httpx.Response(
            status_code=resp.status,
            headers=resp.headers,
            stream=_Body(resp.stream),
            extensions=resp.extensions,
        )

    def close(self) -> None:
        self.pool.close()
