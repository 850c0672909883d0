"""/runs/history and /runs/summaries: metric histories and summaries of many runs at once,
for charts and the compare table. GET takes comma-separated query parameters; POST takes
the same as a JSON body, for long lists of runs or keys."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import Field
from starlette.responses import Response

from modelbay.server.api.bodies import Body
from modelbay.server.api.deps import Svc, Who
from modelbay.server.api.runs import split_list
from modelbay.server.app import json_response, nonfinite_json_response

router = APIRouter(prefix="/runs", tags=["metrics"])


class HistoriesQuery(Body):
    runs: list[str] = Field(max_length=1000)
    keys: list[str] | None = Field(default=None, max_length=10_000)
    max_points: int | None = None
    x_axis: Literal["step", "time"] = "step"


class SummariesQuery(Body):
    runs: list[str] = Field(max_length=1000)


@router.get("/history")
def get_histories(
    svc: Svc,
    who: Who,
    runs: str = "",
    keys: str | None = None,
    max_points: int | None = None,
    x_axis: str = "step",
) -> Response:
    return nonfinite_json_response(
        svc.runs.histories(
            who, split_list(runs) or [], split_list(keys), max_points=max_points, x_axis=x_axis
        )
    )


@router.post("/history")
def post_histories(body: HistoriesQuery, svc: Svc, who: Who) -> Response:
    return nonfinite_json_response(
        svc.runs.histories(
            who, body.runs, body.keys, max_points=body.max_points, x_axis=body.x_axis
        )
    )


@router.get("/summaries")
def get_summaries(svc: Svc, who: Who, runs: str = "") -> Response:
    return json_response({"runs": svc.runs.summaries(who, split_list(runs) or [])})


@router.post("/summaries")
def post_summaries(body: SummariesQuery, svc: Svc, who: Who) -> Response:
    return json_response({"runs": svc.runs.summaries(who, body.runs)})
