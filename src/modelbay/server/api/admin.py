"""/admin: maintenance an admin runs (garbage collection of stored bytes)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from modelbay.server.api.bodies import GcRequest
from modelbay.server.api.deps import Svc, Who
from modelbay.server.app import json_response

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post("/gc")
def gc(body: GcRequest, svc: Svc, who: Who) -> Response:
    return json_response(
        svc.garbage.collect(
            who,
            grace_seconds=body.grace_seconds,
            dry_run=body.dry_run,
            abandon_uploads_after=body.abandon_uploads_after,
        )
    )
