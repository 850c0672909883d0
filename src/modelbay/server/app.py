"""The HTTP server: one FastAPI app over the service layer.

The routers parse, call one service, and serialise; rules live in the services. Errors
become responses in exactly one place (:func:`install_error_handlers`).
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from modelbay.errors import (
    InvalidInputError,
    ModelbayError,
    NotFoundError,
    ServerError,
    StorageFullError,
)
from modelbay.preallocation import NO_ROOM
from modelbay.services import Services
from modelbay.settings import Settings

log = logging.getLogger("modelbay.server")


def json_response(data: Any, status: int = 200) -> Response:
    """Serialise once, compactly, in one body (no chunked pieces on a kept-alive socket).

    orjson writes a 1,000-version page in a tenth of the standard library's time. It turns
    NaN and the infinities into null: data that may hold them (metric values) goes through
    :func:`nonfinite_json_response` instead.
    """
    try:
        body = orjson.dumps(data)
    except TypeError:  # a key that is not a string, an integer too big for 64 bits
        body = json.dumps(data, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json")


def nonfinite_json_response(data: Any, status: int = 200) -> Response:
    """JSON with NaN and the infinities written as ``NaN``/``Infinity``, as Python reads them."""
    return Response(
        json.dumps(data, separators=(",", ":")), status_code=status, media_type="application/json"
    )


def error_response(exc: ModelbayError) -> Response:
    return json_response(exc.to_payload(), exc.status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ModelbayError)
    async def _modelbay(_: Request, exc: ModelbayError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        problems = [
            {"loc": [str(p) for p in e.get("loc", ())], "message": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        first = problems[0] if problems else {"loc": [], "message": "invalid request"}
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            message = "malformed JSON body"
        else:
            message = f"invalid request: {'.'.join(first['loc'][1:]) or 'body'}: {first['message']}"
        return error_response(InvalidInputError(message, {"problems": problems}))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(NotFoundError("no such endpoint"))
        if exc.status_code == 405:
            err = InvalidInputError("method not allowed on this endpoint")
            return json_response(err.to_payload(), 405)
        return json_response(
            {"error": {"code": "http", "message": str(exc.detail), "details": {}}}, exc.status_code
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        if isinstance(exc, OSError) and exc.errno in NO_ROOM:  # a disk the store did not type
            log.error("storage full: %s", exc)
            return error_response(
                StorageFullError("the server's storage is full; see the server log")
            )
        log.exception("unexpected error", exc_info=exc)
        return error_response(ServerError("internal server error; see the server log"))


def create_app(
    settings: Settings, services: Services | None = None, admin_key: str | None = None
) -> FastAPI:
    """Build the app over ``services`` (opened from ``settings`` when not given)."""
    from modelbay.server.api import install as install_api

    owned = services is None
    services = services or Services.open(settings)
    printed = services.auth.bootstrap_admin(admin_key)
    if printed:
        print(f"modelbay: created user 'admin' with API key (shown once): {printed}", flush=True)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:  # services given by the caller are the caller's to close
            app.state.services.close()

    app = FastAPI(
        title="modelbay", version="0.1.0", docs_url="/docs", redoc_url=None, lifespan=lifespan
    )
    app.state.services = services
    app.state.settings = settings
    install_error_handlers(app)
    install_api(app)
    from modelbay.server import ui

    ui.install(app, settings)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (several workers): settings come from the environment
    the ``server`` command prepared."""
    app = create_app(Settings.from_env(), admin_key=os.environ.get("MODELBAY_ADMIN_KEY") or None)
    prepare_to_serve(app)
    return app


def prepare_to_serve(app: FastAPI) -> None:
    """What a serving process does once its app is built: background WAL checkpoints (the
    requests then never pay for one), and the cycle collector tuned."""
    app.state.services.db.start_checkpointer()
    tune_gc()


def tune_gc() -> None:
    """Keep Python's cycle collector off the request path; call once the app is built.

    The ~100,000 objects of the loaded frameworks are long-lived: frozen, they are no longer
    traversed by every full collection. And a page of 1,000 versions allocates ~20,000
    containers, which at the default threshold (700) set off dozens of collections, some of
    them full: measured, half the time of listing such a page. Garbage cycles still get
    collected, after 20,000 new objects instead of 700.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
