"""What every request passes before its route: plain ASGI middleware, cheap per request.

From the outside in:

- :class:`UnexpectedErrors` turns an error no handler took into the one error shape (a
  typed error's status; else 500, or 507 for a full disk) and *sends* it, so that the
  kept-alive connection stays usable (Starlette's ServerErrorMiddleware re-raises after
  its response, and uvicorn then closes the connection: the client's next call failed
  with "connection reset"). A client that goes away mid-request is one line at info level.
- :class:`ApiKeyGate` checks the API key of every ``/api/v1`` request from its headers,
  before any byte of the body is read: a malformed body without a valid key is a 401. The
  key is looked up in the database each time (no process caches it), so that a revoked or
  expired key is refused at once by every worker and replica.
- :class:`BodyLimits` refuses a body larger than its route allows: at once when the
  ``Content-Length`` says so, otherwise while the body streams in.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelbay import jsontext
from modelbay.contract.operations import MAX_BODY_BYTES, OPERATIONS
from modelbay.errors import (
    ModelbayError,
    PayloadTooLargeError,
    ServerError,
    StorageFullError,
)
from modelbay.preallocation import NO_ROOM

log = logging.getLogger("modelbay.server")

API_PREFIX = "/api/v1"
#: API paths that need no key.
PUBLIC_PATHS = frozenset({API_PREFIX + "/health"})
#: Where :class:`ApiKeyGate` leaves the principal for the route (see ``deps.principal_of``).
PRINCIPAL_KEY = "modelbay.principal"

#: The largest request body by default: a config, summary or metadata object, a page of
#: 100,000 digests or upload ids, a description or notes of 1 MiB characters fit well.


@dataclass(frozen=True)
class BodyLimit:
    """Bodies of ``method`` requests to paths matching ``path`` (a regular expression
    matched against the whole path) may hold at most ``max_bytes``; None: no limit here,
    the route bounds what it reads itself."""

    method: str
    path: str
    max_bytes: int | None

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and re.fullmatch(self.path, path) is not None


def _path_pattern(path: str) -> str:
    """A declared path (``/projects/{project}/runs``) as a regular expression."""
    parts = re.split(r"\{[^}]+\}", path)
    return API_PREFIX + "[^/]+".join(re.escape(p) for p in parts)


#: The routes whose bodies are bounded otherwise than by :data:`MAX_BODY_BYTES`: each
#: operation declaring its own ``max_body``, and the blob routes. Blob bytes stream to the
#: store as they arrive, never held whole, and are bounded where the blob service knows
#: their size (a session's part, a bundle).
BODY_LIMITS: tuple[BodyLimit, ...] = (
    BodyLimit("PUT", API_PREFIX + "/blobs/.+", None),
    *(
        BodyLimit(op.method, _path_pattern(op.path), op.max_body)
        for op in OPERATIONS.values()
        if op.has_body and op.max_body != MAX_BODY_BYTES
    ),
)


def unexpected_error(exc: BaseException) -> ModelbayError:
    """The error to answer for an exception no handler took, logged once."""
    if isinstance(exc, OSError) and exc.errno in NO_ROOM:  # a disk the store did not type
        log.error("storage full: %s", exc)
        return StorageFullError("the server's storage is full; see the server log")
    log.error("unexpected error", exc_info=exc)
    return ServerError("internal server error; see the server log")


def error_response(exc: ModelbayError) -> Response:
    return Response(jsontext.dumps(exc.to_payload()), exc.status, media_type="application/json")


class UnexpectedErrors:
    """Answer an unhandled error with the error shape and keep the connection (see the
    module docstring). An error after the response began is re-raised: only closing the
    connection tells the client that the body it is reading is cut."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except ClientDisconnect:
            log.info("client left during %s %s", scope["method"], scope["path"])
        except Exception as exc:
            if started:
                raise
            error = exc if isinstance(exc, ModelbayError) else unexpected_error(exc)
            await error_response(error)(scope, receive, send)


class ApiKeyGate:
    """Resolve the bearer key of every ``/api/v1`` request but :data:`PUBLIC_PATHS` before
    the route runs; a missing or unknown key is a 401 without reading the body. The
    principal goes in the scope under :data:`PRINCIPAL_KEY`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(API_PREFIX) and path not in PUBLIC_PATHS:
            try:
                scope[PRINCIPAL_KEY] = await self._principal(scope)
            except ModelbayError as exc:  # no key, a wrong one; or a full database disk
                await error_response(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _principal(self, scope: Scope) -> Any:
        token = bearer_token(scope)
        services = scope["app"].state.services
        auth = services.auth
        if not token:
            return auth.authenticate(None)  # raises
        # Checked against the credential generation on every request (services/auth.py).
        if services.db.is_sqlite:  # a read there is quicker than a thread hop
            return auth.authenticate(token)
        return await run_in_threadpool(auth.authenticate, token)


def bearer_token(scope: Scope) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header, or None."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            return key.strip() or None if scheme.lower() == "bearer" else None
    return None


class BodyLimits:
    """Refuse request bodies over their route's limit with a 413 (see :data:`BODY_LIMITS`):
    at once when ``Content-Length`` is over it, else when the bytes read so far are."""

    def __init__(
        self,
        app: ASGIApp,
        default: int = MAX_BODY_BYTES,
        limits: Sequence[BodyLimit] = BODY_LIMITS,
    ) -> None:
        self.app = app
        self.default = default
        self.limits = tuple(limits)

    def limit_of(self, method: str, path: str) -> int | None:
        for rule in self.limits:
            if rule.matches(method, path):
                return rule.max_bytes
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_of(scope["method"], scope["path"])
        if limit is None:
            await self.app(scope, receive, send)
            return
        length = content_length(scope)
        if length is not None and length > limit:
            await error_response(too_large(limit))(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


def too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"request body over {limit >> 20} MiB: send less in one request", {"max_bytes": limit}
    )


class BodyTooLarge(HTTPException):
    """Raised while a body streams in over its limit. An HTTPException, as FastAPI lets only
    those pass its body parsing unchanged (any other error there becomes a 400); the error
    handlers answer it as its :attr:`error`."""

    def __init__(self, limit: int) -> None:
        self.error = too_large(limit)
        super().__init__(413, self.error.message)


def content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
