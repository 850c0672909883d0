"""/projects/{project}/runs: start, resume, update, history, artifacts of a run."""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.responses import Response

from modelbay.server.api.bodies import HistoryPost, RunCreate, RunUpdate
from modelbay.server.api.deps import Svc, Who
from modelbay.server.app import json_response

router = APIRouter(prefix="/projects/{project}/runs", tags=["runs"])


@router.post("", status_code=201)
def create_run(project: str, body: RunCreate, svc: Svc, who: Who) -> Response:
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
def log_history(project: str, run_id: str, body: HistoryPost, svc: Svc, who: Who) -> Response:
    points = [p.model_dump() for p in body.points]
    return json_response({"stored": svc.runs.log(who, project, run_id, points)})


@router.get("/{run_id}/history")
def get_history(project: str, run_id: str, svc: Svc, who: Who, keys: str | None = None) -> Response:
    key_list = [k for k in keys.split(",") if k] if keys else None
    return json_response(svc.runs.history(who, project, run_id, key_list))


@router.get("/{run_id}/artifacts")
def run_artifacts(
    project: str, run_id: str, svc: Svc, who: Who, direction: str = Query("logged")
) -> Response:
    return json_response({"artifacts": svc.runs.artifacts(who, project, run_id, direction)})
