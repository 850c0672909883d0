"""POST /projects/{project}/runs/{run_id}/history, by hand: a body of many points is parsed
once, without a model per point (the service checks every point as it stores it)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from modelbay.errors import InvalidInputError, PayloadTooLargeError
from modelbay.server.api.deps import Svc, Who
from modelbay.server.app import json_response

router = APIRouter(prefix="/projects/{project}/runs", tags=["runs"])

#: The largest history body accepted (100,000 values with long keys fit well within it).
MAX_HISTORY_BODY = 64 << 20


@router.post("/{run_id}/history")
async def log_history(project: str, run_id: str, request: Request, svc: Svc, who: Who) -> Response:
    """``{"points": [...]}``, parsed here rather than by a request model: the service checks
    every point anyway, and a model per point would cost more than storing it."""
    body = await request.body()
    if len(body) > MAX_HISTORY_BODY:
        raise PayloadTooLargeError(
            f"history body over {MAX_HISTORY_BODY >> 20} MB: send smaller batches"
        )

    def store() -> int:
        data = parse_json(body)
        if not isinstance(data, dict) or set(data) != {"points"}:
            raise InvalidInputError('the body must be {"points": [...]}')
        return svc.runs.log(who, project, run_id, data["points"])

    return json_response({"stored": await run_in_threadpool(store)})


def split_list(text: str | None) -> list[str] | None:
    """``a,b,c`` from a query parameter; None when absent or empty."""
    items = [k for k in text.split(",") if k] if text else []
    return items or None


def parse_json(body: bytes) -> Any:
    """JSON as the SDK sends it (NaN and the infinities included)."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInputError("malformed JSON body") from None
