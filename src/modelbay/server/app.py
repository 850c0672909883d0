"""The HTTP server: one FastAPI app over the service layer.

The routers parse, call one service, and serialise; rules live in the services. Errors
become responses in exactly one place (:func:`install_error_handlers`).
"""

from __future__ import annotations

import contextlib
import copy
import gc
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from modelbay import jsontext
from modelbay.errors import InvalidInputError, ModelbayError, NotFoundError
from modelbay.server.metrics import RequestMetrics
from modelbay.server.middleware import (
    ApiKeyGate,
    BodyLimits,
    BodyTooLarge,
    UnexpectedErrors,
    error_response,
)
from modelbay.services import Services
from modelbay.settings import Settings

log = logging.getLogger("modelbay.server")


def json_response(data: Any, status: int = 200) -> Response:
    """Serialise once, compactly, in one body (no chunked pieces on a kept-alive socket).

    NaN and the infinities become null: data that may hold them (metric values) goes
    through :func:`nonfinite_json_response` instead.
    """
    return Response(jsontext.dumps(data), status_code=status, media_type="application/json")


def nonfinite_json_response(data: Any, status: int = 200) -> Response:
    """JSON with NaN and the infinities written as ``NaN``/``Infinity``, as Python reads them."""
    return Response(
        jsontext.dumps(data, nonfinite=True), status_code=status, media_type="application/json"
    )


def install_error_handlers(app: FastAPI) -> None:
    """Errors become responses here: typed errors and the framework's by these handlers,
    anything else (and a key refused before the route) by the middleware of
    :mod:`modelbay.server.middleware`, which keeps the connection."""

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
        if isinstance(exc, BodyTooLarge):
            return error_response(exc.error)
        if exc.status_code == 404:
            return error_response(NotFoundError("no such endpoint"))
        if exc.status_code == 405:
            err = InvalidInputError("method not allowed on this endpoint")
            return json_response(err.to_payload(), 405)
        if exc.status_code == 400:  # FastAPI could not parse the body (e.g. nested too deep)
            return error_response(InvalidInputError(str(exc.detail)))
        return json_response(
            {"error": {"code": "http", "message": str(exc.detail), "details": {}}}, exc.status_code
        )


def install_middleware(app: FastAPI) -> None:
    """The plain ASGI middleware every request passes (see :mod:`modelbay.server.middleware`);
    the last added runs first."""
    app.add_middleware(BodyLimits)
    app.add_middleware(ApiKeyGate)
    app.add_middleware(UnexpectedErrors)
    app.add_middleware(RequestMetrics)


def log_config(access_log: bool, json_logs: bool = False) -> dict[str, Any]:
    """uvicorn's logging setup for ``modelbay server``: its own messages from warnings up,
    modelbay's from info up, and one line per request with ``access_log``. (uvicorn's
    ``log_level`` sets the access logger's level too, which silenced the access log.)

    ``json_logs``: one JSON object per line (python-json-logger), an access line holding
    ``client``, ``method``, ``path``, ``http_version`` and ``status`` as fields.
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["uvicorn"]["level"] = "WARNING"
    config["loggers"]["uvicorn.error"]["level"] = "WARNING"
    config["loggers"]["uvicorn.access"]["level"] = "INFO" if access_log else "WARNING"
    config["loggers"]["modelbay"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    if json_logs:
        fields = "%(asctime)s %(levelname)s %(name)s %(message)s"
        json_formatter = {"()": "pythonjsonlogger.json.JsonFormatter", "fmt": fields}
        config["formatters"] = {"default": json_formatter, "access": json_formatter}
        config["filters"] = {"access_fields": {"()": "modelbay.server.app.AccessFields"}}
        config["handlers"]["access"]["filters"] = ["access_fields"]
    return config


class AccessFields(logging.Filter):
    """Give uvicorn's access records their parts as fields, for JSON logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            client, method, path, version, status = args
            record.client, record.method, record.path = client, method, path
            record.http_version, record.status = version, status
            record.msg, record.args = f"{method} {path} {status}", None
        return True


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
        from modelbay.automations.dispatcher import Dispatcher

        # Every server process sends the outbox's deliveries (replicas share them).
        dispatcher = Dispatcher(app.state.services.db, settings).start()
        try:
            yield
        finally:
            dispatcher.stop()
        if owned:  # services given by the caller are the caller's to close
            app.state.services.close()

    app = FastAPI(
        title="modelbay", version="0.1.0", docs_url="/docs", redoc_url=None, lifespan=lifespan
    )
    app.state.services = services
    app.state.settings = settings
    install_error_handlers(app)
    install_middleware(app)
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
    requests then never pay for one), room kept on a SQLite database's disk for deleting
    and collecting garbage when it is full, and the cycle collector tuned."""
    app.state.services.db.start_checkpointer()
    app.state.services.db.keep_room()
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
