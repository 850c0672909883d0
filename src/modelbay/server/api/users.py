"""GET /health: the server answers (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from modelbay.contract import entities as e
from modelbay.server.api.spec import hand_written
from modelbay.server.app import json_response

router = APIRouter(tags=["users"])


# Async: a sync route is handed to a worker thread and back, which costs more than it does.
@router.get("/health", **hand_written({200: e.Health}, public=True))
async def health() -> Response:
    return json_response({"status": "ok"})
