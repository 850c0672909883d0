"""What operators and load balancers ask: ``/health`` (the process answers), ``/ready``
(its database and blob store are reachable and the schema is its own) and ``/metrics``
(Prometheus' text format, for organization admins' keys).

``/health`` and ``/ready`` need no key; ``/api/v1/health`` stays for existing clients.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from modelbay.contract import entities as e
from modelbay.errors import PermissionDeniedError
from modelbay.server.api.deps import services_of
from modelbay.server.api.spec import hand_written
from modelbay.server.app import json_response
from modelbay.server.metrics import exposition
from modelbay.server.middleware import bearer_token

log = logging.getLogger("modelbay.server")

router = APIRouter(tags=["operations"])
#: Served at the root, outside /api/v1, where probes look for them.
root = APIRouter(tags=["operations"])


# Async: a sync route is handed to a worker thread and back, which costs more than it does.
@router.get("/health", **hand_written({200: e.Health}, public=True))
@root.get("/health", **hand_written({200: e.Health}, public=True))
async def health() -> Response:
    return json_response({"status": "ok"})


@root.get("/ready", **hand_written({200: e.Readiness, 503: e.Readiness}, public=True))
async def ready(request: Request) -> Response:
    """200 when the database (with this modelbay's schema) and the blob store answer, else
    503 naming what failed; the reasons go to the server's log, not to the caller."""
    checks = await run_in_threadpool(services_of(request).health.ready)
    failed = [c for c in checks if not c.ok]
    for check in failed:
        log.warning("not ready: %s: %s", check.name, check.detail)
    body = {"status": "ready" if not failed else "unavailable", "failed": [c.name for c in failed]}
    return json_response(body, 503 if failed else 200)


_METRICS = hand_written({200: "Prometheus' text exposition format"}, (403,))
_METRICS["responses"][200]["content"] = {"text/plain": {"schema": {"type": "string"}}}


@root.get("/metrics", **_METRICS)
async def metrics(request: Request) -> Response:
    """Request counts and latencies per operation, and the work queued in the database."""
    services = services_of(request)
    who = await run_in_threadpool(services.auth.authenticate, bearer_token(request.scope))
    if not who.is_admin:
        raise PermissionDeniedError("metrics are for organization admins")
    body, content_type = await run_in_threadpool(exposition, services)
    return Response(body, media_type=content_type)
