"""REST calls with a small JSON body and answer, on kept-alive connections of the standard
library's ``http.client``.

For such a call httpx costs more than the server's whole answer: through httpcore and h11 it
makes some 870 Python calls and spends ~0.48 ms of CPU on loopback, where ``http.client``
spends ~0.21 ms; a link's round trip takes ~1.8 ms in all. The calls here keep what matters
from the SDK's client: kept-alive connections, its timeouts, TLS verified as httpx verifies
it, and httpx's exception classes, so that callers handle both paths alike (httpx is
imported only once one is raised: it costs ~0.1 s of a script's start). The parts of a
file sent while it is hashed go here too, from the buffers the hash read (see
sdk/shared_reads.py); other uploads, downloads and streams stay on the httpx client.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from modelbay.sdk.httpclient import httpx_module, verified_context

if TYPE_CHECKING:
    import httpx

#: Characters a path keeps as they are (already percent-encoded parts stay encoded).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
#: Idle connections kept for the next calls (more are closed once answered).
KEPT_IDLE = 16


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait, as ``httpx.Timeout`` names them (which may be given instead)."""

    connect: float | None
    read: float | None
    write: float | None


@dataclass(frozen=True)
class Answer:
    """A response read whole: its status, headers (lower-case names) and body."""

    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


class SmallCalls:
    """Send calls under ``base_url`` with ``headers``; thread-safe (each call has a
    connection to itself while it runs)."""

    def __init__(
        self, base_url: str, headers: dict[str, str], timeout: Timeouts | httpx.Timeout
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.base_path = parts.path.rstrip("/")
        self.headers = {"Host": parts.netloc, "Accept": "*/*", **headers}
        self.timeout = timeout
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        content_type: str | None = None,
        query: dict[str, Any] | None = None,
    ) -> Answer:
        """One call; its answer, read whole.

        Raises:
            httpx.HTTPError: the subclass httpx raises for the same failure.
        """
        target = quote(self.base_path + path, safe=_PATH_SAFE)
        if query:
            target += "?" + urlencode([(k, _text(v)) for k, v in query.items()])
        headers = dict(self.headers)
        if content is not None:
            headers["Content-Length"] = str(len(content))
            if content_type:
                headers["Content-Type"] = content_type
        elif method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = "0"

        def request(conn: http.client.HTTPConnection) -> None:
            # Head and body leave in one write (http.client joins a bytes body).
            conn.request(method, target, body=content, headers=headers)

        return self._exchange(request)

    def send_chunks(
        self,
        method: str,
        path: str,
        chunks: Iterable[bytes | memoryview],
        length: int,
        progress: Callable[[int], None] | None = None,
    ) -> Answer:
        """A call whose body is ``chunks`` (``length`` bytes in all), each handed to the
        socket as it comes and then counted to ``progress``; its answer, read whole.

        Raises:
            httpx.HTTPError: the subclass httpx raises for the same failure.
            Exception: what the chunks' iterator or ``progress`` raised.
        """
        target = quote(self.base_path + path, safe=_PATH_SAFE)
        headers = {
            **self.headers,
            "Content-Type": "application/octet-stream",
            "Content-Length": str(length),
        }

        def request(conn: http.client.HTTPConnection) -> None:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            sock: socket.socket = conn.sock
            for chunk in chunks:
                sock.sendall(chunk)
                if progress is not None:
                    progress(len(chunk))

        return self._exchange(request)

    def _exchange(self, request: Callable[[http.client.HTTPConnection], None]) -> Answer:
        """Send a request with ``request(connection)`` and read its answer whole."""
        conn = self._connection()
        sock: socket.socket = conn.sock
        try:
            try:
                sock.settimeout(self.timeout.write)
                request(conn)
            except TimeoutError as exc:
                raise httpx_module().WriteTimeout(str(exc)) from exc
            except OSError as exc:
                raise httpx_module().WriteError(str(exc)) from exc
            try:
                sock.settimeout(self.timeout.read)
                resp = conn.getresponse()
                body = resp.read()
            except TimeoutError as exc:
                raise httpx_module().ReadTimeout(str(exc)) from exc
            except http.client.HTTPException as exc:  # also a server that hung up unanswered
                raise httpx_module().RemoteProtocolError(str(exc) or type(exc).__name__) from exc
            except OSError as exc:
                raise httpx_module().ReadError(str(exc)) from exc
        except BaseException:
            conn.close()
            raise
        answer = Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
        if resp.will_close:
            conn.close()
        else:
            self._keep(conn)
        return answer

    def _connection(self) -> http.client.HTTPConnection:
        """An idle kept-alive connection the server has not closed, else a new one.

        Raises:
            httpx.ConnectError, httpx.ConnectTimeout: it could not be made.
        """
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not _dropped(conn.sock):
                    return conn
                conn.close()
        if self.https:
            conn = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout.connect, context=verified_context()
            )
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout.connect)
        try:
            conn.connect()  # with TCP_NODELAY, as http.client connects
        except TimeoutError as exc:
            raise httpx_module().ConnectTimeout(str(exc)) from exc
        except OSError as exc:  # refused, unreachable, a TLS failure
            raise httpx_module().ConnectError(str(exc)) from exc
        return conn

    def _keep(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < KEPT_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _dropped(sock: Any) -> bool:
    """Whether an idle kept-alive connection is unusable: closed, or readable (the server
    hung up, or sent what no request asked for)."""
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _text(value: Any) -> str:
    """A query value as httpx writes it: booleans as ``true``/``false``."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)
