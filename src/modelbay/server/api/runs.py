"""/projects/{project}/runs: start, resume, update, history, artifacts of a run."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from modelbay.errors import InvalidInputError, PayloadTooLargeError
from modelbay.server.api.bodies import RunCreate, RunUpdate
from modelbay.server.api.deps import Svc, Who
from modelbay.server.app import json_response, nonfinite_json_response

router = APIRouter(prefix="/projects/{project}/runs", tags=["runs"])

#: The largest history body accepted (100,000 values with long keys fit well within it).
MAX_HISTORY_BODY = 64 << 20


class RunStart(RunCreate):
    started_at: float | None = None


@router.post("", status_code=201)
def create_run(project: str, body: RunStart, svc: Svc, who: Who) -> Response:
    fields = body.model_dump()
    fields["run_id"] = fields.pop("id")
    return json_response(svc.runs.create(who, project, **fields), 201)


@router.get("")
def list_runs(project: str, svc: Svc, who: Who) -> Response:
    return json_response({"runs": svc.runs.list_runs(who, project)})


@router.get("/{run_id}")
def get_run(project: str, run_id: str, svc: Svc, who: Who) -> Response:
    return json_response(svc.runs.get(who, project, run_id))


@router.patch("/{run_id}")
def update_run(project: str, run_id: str, body: RunUpdate, svc: Svc, who: Who) -> Response:
    return json_response(svc.runs.update(who, project, run_id, **body.given()))


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


@router.get("/{run_id}/history")
def get_history(
    project: str,
    run_id: str,
    svc: Svc,
    who: Who,
    keys: str | None = None,
    max_points: int | None = None,
    x_axis: str = "step",
) -> Response:
    return nonfinite_json_response(
        svc.runs.history(
            who, project, run_id, split_list(keys), max_points=max_points, x_axis=x_axis
        )
    )


@router.get("/{run_id}/artifacts")
def run_artifacts(
    project: str, run_id: str, svc: Svc, who: Who, direction: str = Query("logged")
) -> Response:
    return json_response({"artifacts": svc.runs.artifacts(who, project, run_id, direction)})


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
