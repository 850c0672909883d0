"""POST /projects/{project}/runs/{run_id}/history, by hand: a body of many points is parsed
once, without a model per point (the service checks every point as it stores it)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from modelbay import jsontext
from modelbay.contract import operations as ops
from modelbay.errors import InvalidInputError, PayloadTooLargeError
from modelbay.server.api.deps import Svc, Who
from modelbay.server.app import json_response
from modelbay.services.runs import MAX_POINTS

router = APIRouter(prefix="/projects/{project}/runs", tags=["runs"])

#: The largest history body accepted (the SDK sends at most 50,000 values a request).
MAX_HISTORY_BODY = ops.LOG_HISTORY.max_body


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
        check_history_size(body)
        # The shape is checked here and by the service, so no depth check is needed.
        data = jsontext.loads(body, max_depth=None)
        if not isinstance(data, dict) or set(data) != {"points"}:
            raise InvalidInputError('the body must be {"points": [...]}')
        points = data["points"]
        if isinstance(points, list) and len(points) > MAX_POINTS:
            raise InvalidInputError(f"at most {MAX_POINTS} points per call")
        return svc.runs.log(who, project, run_id, points)

    return json_response({"stored": await run_in_threadpool(store)})


def check_history_size(body: bytes) -> None:
    """Refuse, before parsing it, a history body that holds more points or values than one
    call takes: parsed, a body of small points takes over ten times its size in memory.

    Every point holds a ``{`` (its values) and every value a ``:``, so counting those bytes
    bounds both. A point written as an object holds two braces and three more colons, and
    a key may hold either, so the bounds leave room for that.

    Raises:
        InvalidInputError: more than ``3 * MAX_POINTS`` braces or ``6 * MAX_POINTS`` colons.
    """
    if body.count(b"{") > 3 * MAX_POINTS or body.count(b":") > 6 * MAX_POINTS:
        raise InvalidInputError(f"at most {MAX_POINTS} points and values per call")


def split_list(text: str | None) -> list[str] | None:
    """``a,b,c`` from a query parameter; None when absent or empty."""
    items = [k for k in text.split(",") if k] if text else []
    return items or None
