"""The SDK's one seam: a :class:`Transport` is either embedded (calls the services in this
process, :mod:`modelbay.sdk.embedded`) or HTTP (calls a server's REST API). Both run the
operations declared in :mod:`modelbay.contract.operations`, return the same typed entities
and raise the same exception classes, so every SDK object works over either.
"""

from __future__ import annotations

import contextlib
import contextvars
import json as _json
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import orjson

from modelbay.contract.entities import Entity
from modelbay.contract.operations import LOG_HISTORY, Operation
from modelbay.contract.requests import HistoryPost, Request
from modelbay.errors import (
    InvalidInputError,
    ModelbayError,
    TransportError,
    from_payload,
)
from modelbay.jsontext import Info
from modelbay.sdk.httpclient import client as http_client
from modelbay.sdk.httpclient import httpx_module
from modelbay.sdk.presigned import Presigned, response_body
from modelbay.sdk.streams import (
    Progress,
    atomic_verified_write,
    counted,
    read_range,
    read_whole,
)
from modelbay.settings import Settings

Req = TypeVar("Req", bound=Request)
Resp = TypeVar("Resp", bound=Entity)


class RawJSON(bytes):
    """A request body that is JSON already; :class:`HttpTransport` sends it unchanged."""


class Transport:
    """What the SDK needs from modelbay; see :class:`LocalTransport` and :class:`HttpTransport`."""

    url: str | None = None
    #: Transfers to the presigned URLs of a server over an object store.
    presigned: Presigned
    #: The services run in this process (no server between).
    embedded = False
    #: Blobs land on this machine's disk, in the store itself (embedded over a disk store):
    #: no cache of downloads is needed, and uploads need no sessions.
    writes_local_disk = False
    #: Whether large new files may be sent while they are hashed (to a server that writes
    #: blobs itself; see transfer.hash_and_send): off once the server says it needs digests.
    hashes_while_sending = False

    @property
    def identity(self) -> str:
        """Names the server, for what the client remembers of its upload sessions."""
        return self.url or ""

    def call(self, op: Operation[Req, Resp], request: Req) -> Resp:
        """Run ``op`` with ``request``; its typed result.

        Raises:
            ModelbayError: the class the operation failed with, on either transport.
        """
        raise NotImplementedError

    def log_history_raw(self, project: str, run_id: str, body: bytes) -> int:
        """Send a history body that is JSON already (``{"points": [...]}``, a run journal's
        lines); returns how many values were stored."""
        points = parse_body(body)
        if not isinstance(points, dict):
            raise InvalidInputError('a history body must be {"points": [...]}')
        request = HistoryPost.model_construct(project=project, run_id=run_id, **points)
        return self.call(LOG_HISTORY, request).stored

    def upload_blob(self, digest: str, path: Path, size: int, progress: Progress = None) -> None:
        """Send a whole file as the blob ``digest`` (verified by the receiver)."""
        raise NotImplementedError

    def upload_part(
        self, upload_id: str, part: Info, path: Path, progress: Progress = None
    ) -> None:
        """Send one part of an upload session: bytes ``[offset, offset+size)`` of ``path``."""
        raise NotImplementedError

    def upload_part_chunks(
        self, upload_id: str, part: Info, chunks: Iterable[memoryview], progress: Progress = None
    ) -> None:
        """Send one part of an upload session to the server itself: its bytes as ``chunks``
        (see sdk/shared_reads.py), ``part["size"]`` bytes in all."""
        raise NotImplementedError

    def download_blob(
        self,
        digest: str,
        dest: Path,
        url: str | None = None,
        progress: Progress = None,
        size: int | None = None,
    ) -> None:
        """Write the blob to ``dest`` (atomically, verified), from ``url`` when given; the
        room for ``size`` bytes (the manifest's) is reserved first.

        Raises:
            DigestMismatchError: the bytes received do not hash to ``digest``.
            OSError: ENOSPC, the disk has no room for ``size`` bytes (nothing was fetched).
        """
        raise NotImplementedError

    def upload_bundle(self, blobs: list[tuple[str, Path, int]], progress: Progress = None) -> None:
        """Send small whole files ``(digest, path, size)`` together (see blobs/bundle.py).

        Raises:
            DigestMismatchError: a file does not hash to its digest (none of them is stored).
            InvalidInputError: a file changed size since it was hashed.
        """
        raise NotImplementedError

    def download_bundle(self, digests: list[str]) -> Iterator[tuple[str, bytes]]:
        """Small stored blobs as ``(digest, bytes)``, in order, *unverified*: the caller
        checks each against its digest.

        Raises:
            NotFoundError: a blob is not stored.
        """
        raise NotImplementedError

    def close(self) -> None:
        pass


#: Whether calls made in this context may be sent again (see :func:`send_once`).
_RETRYING: contextvars.ContextVar[bool] = contextvars.ContextVar("modelbay_retrying", default=True)


def send_once() -> None:
    """Calls made by this thread from now on are not sent again by the transport: for a
    run's background sender, which keeps what it could not send and tries again itself."""
    _RETRYING.set(False)


#: Seconds before each new try of a call whose server could not answer (see
#: :meth:`HttpTransport.request`): about 8 s in all, the time a balancer takes to stop
#: sending to a replica that died.
RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0)


def _retry_after(resp: Any) -> float:
    """A 503's ``Retry-After`` seconds (at most 10), else 0."""
    try:
        return min(float(resp.headers.get("retry-after", 0)), 10.0)
    except ValueError:
        return 0.0


class HttpTransport(Transport):
    """Server mode: REST calls on kept-alive connections (JSON calls through
    ``calls``, bytes through ``client``)."""

    def __init__(self, url: str, api_key: str | None, timeout: float = 60.0) -> None:
        from modelbay.sdk.small_calls import SmallCalls, Timeouts

        self.url = base = url.rstrip("/")
        self._base = base
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout
        self._client: Any = None
        self._client_lock = threading.Lock()
        #: JSON calls go on kept-alive connections of their own (see sdk/small_calls.py).
        self.calls = SmallCalls(
            self.url + "/api/v1", self._headers, Timeouts(connect=10.0, read=timeout, write=timeout)
        )
        self.presigned = Presigned()
        self.hashes_while_sending = True

    @property
    def _httpx(self) -> Any:
        """The httpx module, imported on first use (see :attr:`client`)."""
        return httpx_module()

    @property
    def client(self) -> Any:
        """The httpx client that moves bytes, made on first use: a script that only makes
        calls and sends parts from shared reads (see :meth:`upload_part_chunks`), as a cold
        upload does, imports neither httpx nor httpcore (~0.2 s of its start)."""
        from modelbay.sdk.large_reads import LargeReadsTransport

        with self._client_lock:
            if self._client is None:
                connections = LargeReadsTransport(
                    # A plain-HTTP server never makes this client speak TLS (redirects are
                    # not followed): skip loading the CA bundle, ~17 ms of a script's start.
                    verify=not self._base.startswith("http://"),
                    limits=self._httpx.Limits(max_connections=32, max_keepalive_connections=16),
                )
                self._client = http_client(
                    base_url=self._base + "/api/v1",
                    headers=self._headers,
                    timeout=self._httpx.Timeout(self._timeout, connect=10.0),
                    transport=connections,
                )
            return self._client

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        retry_safe: bool = False,
    ) -> Any:
        """One REST call; its JSON result. A call whose connection could not be made is
        sent again (it never left); a ``retry_safe`` one also when its connection broke or a
        load balancer answered that no replica could (502, 503, 504), after
        :data:`RETRY_DELAYS`.

        Raises:
            TransportError: the server could not be reached, after the retries.
            ModelbayError: the class of the error the server answered.
        """
        # Serialised here so that NaN and infinity in metrics survive (httpx refuses them).
        if isinstance(json, RawJSON):  # encoded already (a run journal's lines): as is
            content: bytes | None = bytes(json)
        else:
            content = (
                _json.dumps(json, separators=(",", ":")).encode() if json is not None else None
            )
        query = {k: v for k, v in (params or {}).items() if v is not None}
        for delay in (*RETRY_DELAYS, None) if _RETRYING.get() else (None,):
            try:
                resp = self.calls.send(
                    method, path, content=content, content_type="application/json", query=query
                )
            except Exception as exc:
                httpx = self._httpx  # imported by now if it is one of its errors
                if not isinstance(exc, httpx.HTTPError):
                    raise
                # Not made: never left, so sent again. Broken: sent again if retry_safe.
                unmade = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                broken = isinstance(exc, (httpx.ReadError, httpx.WriteError))
                broken = broken or isinstance(exc, httpx.RemoteProtocolError)
                if delay is None or not (unmade or (broken and retry_safe)):
                    raise TransportError(
                        f"cannot reach modelbay server at {self.url}: {exc}"
                    ) from exc
            else:
                if delay is None or not retry_safe or resp.status_code not in (502, 503, 504):
                    return self._result(resp)
                delay = max(delay, _retry_after(resp))
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _result(self, resp: Any) -> Any:
        if resp.status_code == 204:
            return None
        payload = parse_body(resp.content)
        if resp.is_success:
            return payload
        raise from_payload(payload, resp.status_code)

    def call(self, op: Operation[Req, Resp], request: Req) -> Resp:
        values = request.model_dump(exclude_unset=True)
        path = op.path.format_map({k: quote(str(values.pop(k)), safe="") for k in op.path_params})
        if op.has_body:
            result = self.request(op.method, path, json=values, retry_safe=op.retry_safe)
        else:
            params = {k: ",".join(v) if isinstance(v, list) else v for k, v in values.items()}
            result = self.request(op.method, path, params=params, retry_safe=op.retry_safe)
        if result is None:
            return op.response()
        return op.response.model_validate(result)

    def log_history_raw(self, project: str, run_id: str, body: bytes) -> int:
        path = LOG_HISTORY.path.format(
            project=quote(project, safe=""), run_id=quote(run_id, safe="")
        )
        return int(self.request("POST", path, json=RawJSON(body), retry_safe=True)["stored"])

    def upload_blob(self, digest: str, path: Path, size: int, progress: Progress = None) -> None:
        part = {"number": 1, "offset": 0, "size": size}
        self._put(f"/blobs/{digest}", part, path, progress)

    def upload_part(
        self, upload_id: str, part: Info, path: Path, progress: Progress = None
    ) -> None:
        if part.get("url"):
            self.presigned.put(part, path, progress)
        else:
            self._put(f"/blobs/uploads/{upload_id}/parts/{part['number']}", part, path, progress)

    def upload_part_chunks(
        self, upload_id: str, part: Info, chunks: Iterable[memoryview], progress: Progress = None
    ) -> None:
        route = f"/blobs/uploads/{upload_id}/parts/{part['number']}"
        try:
            answer = self.calls.send_chunks("PUT", route, chunks, part["size"], progress)
        except self._httpx.HTTPError as exc:
            raise TransportError(f"upload to {self.url} failed: {exc}") from exc
        self._result(answer)

    def _put(self, route: str, part: Info, path: Path, progress: Progress) -> None:
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(part["size"])}
        try:
            resp = self.client.put(
                route,
                content=read_range(path, part["offset"], part["size"], progress),
                headers=headers,
            )
        except self._httpx.HTTPError as exc:
            raise TransportError(f"upload to {self.url} failed: {exc}") from exc
        self._result(resp)

    def upload_bundle(self, blobs: list[tuple[str, Path, int]], progress: Progress = None) -> None:
        from modelbay.blobs.bundle import frame_header

        body = bytearray()
        for digest, path, size in blobs:
            body += frame_header(digest, size)
            body += read_whole(path, size)
        try:
            resp = self.client.put(
                "/blobs/bundle",
                content=bytes(body),
                headers={"Content-Type": "application/octet-stream"},
            )
        except self._httpx.HTTPError as exc:
            raise TransportError(f"upload to {self.url} failed: {exc}") from exc
        self._result(resp)
        if progress:
            progress(sum(size for _, _, size in blobs))

    def download_bundle(self, digests: list[str]) -> Iterator[tuple[str, bytes]]:
        from modelbay.blobs.bundle import Unbundler

        unbundler = Unbundler()
        try:
            with self.client.stream(
                "POST",
                "/blobs/bundle/fetch",
                content=_json.dumps({"digests": digests}).encode(),
                headers={"Content-Type": "application/json"},
            ) as resp:
                if not resp.is_success:
                    resp.read()
                    self._result(resp)
                for chunk in response_body(resp):
                    yield from unbundler.feed(chunk)
            unbundler.close()
        except self._httpx.HTTPError as exc:
            raise TransportError(f"download from {self.url} failed: {exc}") from exc

    def download_blob(
        self,
        digest: str,
        dest: Path,
        url: str | None = None,
        progress: Progress = None,
        size: int | None = None,
    ) -> None:
        if url:
            self.presigned.get(url, digest, dest, progress, size)
            return
        try:
            with self.client.stream("GET", f"/blobs/{digest}") as resp:
                if not resp.is_success:
                    resp.read()
                    self._result(resp)
                atomic_verified_write(dest, digest, counted(response_body(resp), progress), size)
        except self._httpx.HTTPError as exc:
            raise TransportError(f"download from {self.url} failed: {exc}") from exc

    def close(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
        self.calls.close()
        self.presigned.close()


_transports: dict[tuple[str | None, str | None, str, str | None], Transport] = {}
_transports_lock = threading.Lock()


def connect(settings: Settings | None = None) -> Transport:
    """The transport for ``settings`` (from the environment when not given), one per process."""
    settings = settings or Settings.from_env()
    key = (settings.url, settings.api_key, str(settings.data_dir), settings.db_url)
    with _transports_lock:
        transport = _transports.get(key)
        if transport is None:
            if settings.url:
                transport = HttpTransport(settings.url, settings.api_key)
            else:
                from modelbay.sdk.embedded import LocalTransport

                transport = LocalTransport(settings)
            _transports[key] = transport
        return transport


def reset_transports() -> None:
    """Close every cached transport (tests switch data directories)."""
    with _transports_lock:
        for t in _transports.values():
            with contextlib.suppress(ModelbayError):
                t.close()
        _transports.clear()


def parse_body(body: bytes) -> Any:
    """A response body's JSON, None when it is not JSON. orjson first (a page of 1,000
    versions in a third of the time); the standard library for metric values, whose NaN
    and Infinity orjson refuses."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return _json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
