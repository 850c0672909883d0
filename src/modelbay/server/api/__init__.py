"""REST API v1: one router per resource, mounted under ``/api/v1``."""

from typing import Any

from fastapi import FastAPI

from modelbay.contract.deferred import build_all
from modelbay.server.api import audit, blobs, probes, runs
from modelbay.server.api.routes import declared, endpoint
from modelbay.server.api.spec import openapi

PREFIX = "/api/v1"
#: The hand-written routes (bodies of bytes, or parsed by hand for speed).
ROUTERS = (blobs, runs, probes, audit)


def install(app: FastAPI) -> None:
    """Add every API route to ``app`` directly (one level of routers, not a tree of them:
    matching a nested router costs a fifth of a millisecond per request). Every request and
    entity model is built first (they are built on first use otherwise; see
    contract/deferred.py), so that no request waits for one."""
    build_all()
    for op in declared():
        app.router.add_route(PREFIX + op.path, endpoint(op), methods=[op.method], name=op.name)
    for module in ROUTERS:
        app.include_router(module.router, prefix=PREFIX)
    app.include_router(probes.root)

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi(app, PREFIX)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
