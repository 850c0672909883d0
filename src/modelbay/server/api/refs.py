"""Reference-based calls: resolve any reference form, record a use, walk lineage, history."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelbay.names import parse_ref
from modelbay.server.api.bodies import Use
from modelbay.server.api.deps import Svc, Who, caller, read
from modelbay.server.app import json_response

router = APIRouter(tags=["references"])


@router.get("/resolve")
async def resolve(ref: str, request: Request) -> Response:
    svc, who = caller(request)
    return json_response(await read(svc, svc.artifacts.get, who, parse_ref(ref)))


@router.post("/use")
def use(body: Use, svc: Svc, who: Who) -> Response:
    return json_response(svc.artifacts.use(who, parse_ref(body.ref), body.project, body.run_id))


@router.get("/lineage")
def lineage(
    svc: Svc, who: Who, ref: str | None = None, run: str | None = None, depth: int = 2
) -> Response:
    return json_response(
        svc.lineage.graph(who, ref=parse_ref(ref) if ref else None, run=run, depth=depth)
    )


@router.get("/history")
def history(ref: str, svc: Svc, who: Who, limit: int = 100, before: int | None = None) -> Response:
    return json_response(
        {"events": svc.registry.history(who, parse_ref(ref), limit=limit, before=before)}
    )
