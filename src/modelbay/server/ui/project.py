"""Projects and runs: the runs table, a run's live charts, config, system facts and artifacts;
an artifact's versions."""

from __future__ import annotations

import math
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelbay.server.ui.lineage import layout
from modelbay.server.ui.summary import summary_rows
from modelbay.server.ui.web import Svc, UIRoute, Who, page_number, render

router = APIRouter(route_class=UIRoute, include_in_schema=False)
PAGE_SIZE = 50


def run_duration(run: dict[str, Any], now: float | None = None) -> float | None:
    end: float | None
    if run["state"] == "running":
        end = now or time.time()
    else:
        end = run.get("finished_at") or run.get("updated_at")
    return end - run["created_at"] if end else None


def flat(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested config or system facts as ``(dotted key, value)`` rows."""
    rows: list[tuple[str, Any]] = []
    for key in sorted(data):
        value = data[key]
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows.extend(flat(value, name + "."))
        else:
            rows.append((name, value))
    return rows


@router.get("/projects")
def projects(request: Request, svc: Svc, who: Who) -> Response:
    return render(
        request, "projects.html", {"title": "Projects", "projects": svc.views.list_projects(who)}
    )


@router.get("/projects/{project}")
def project_page(request: Request, project: str, svc: Svc, who: Who) -> Response:
    params = request.query_params
    sort_text = params.get("sort") or "created"
    descending = params.get("order") != "asc"
    if sort_text.startswith("m:"):
        sort, metric = "metric", sort_text[2:]
    elif sort_text in ("created", "name", "state"):
        sort, metric = sort_text, None
    else:
        sort, metric, sort_text = "created", None, "created"
    page = page_number(params.get("page"))
    table = svc.views.project_runs(
        who,
        project,
        sort=sort,
        metric=metric,
        descending=descending,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    now = time.time()
    for run in table["runs"]:
        run["duration"] = run_duration(run, now)
    artifacts = svc.artifacts.list_artifacts(who, project)
    return render(
        request,
        "project.html",
        {
            "title": project,
            "project": project,
            "table": table,
            "artifacts": artifacts,
            "sort": sort_text,
            "order": "desc" if descending else "asc",
            "page": page,
            "pages": max(1, math.ceil(table["total"] / PAGE_SIZE)),
        },
    )


@router.get("/projects/{project}/runs/{run_id}")
def run_page(request: Request, project: str, run_id: str, svc: Svc, who: Who) -> Response:
    run = svc.runs.get(who, project, run_id)
    run["duration"] = run_duration(run)
    logged = svc.runs.artifacts(who, project, run_id, "logged")
    used = svc.runs.artifacts(who, project, run_id, "used")
    graph = svc.lineage.graph(who, run=f"{project}/{run_id}", depth=2)
    summary = summary_rows(run["summary"])
    return render(
        request,
        "run.html",
        {
            "title": f"{run['name']} · {project}",
            "run": run,
            "config": flat(run["config"]),
            "system": flat(run["system"]),
            "summary": summary,
            "logged": logged,
            "used": used,
            "graph": layout(graph),
            "chart_data": {
                "entries": [{"label": run["name"], "run": run["path"]}],
                "running": run["state"] == "running",
            },
        },
    )


@router.get("/projects/{project}/artifacts/{name}")
def artifact_page(request: Request, project: str, name: str, svc: Svc, who: Who) -> Response:
    versions = svc.artifacts.list_versions(who, project, name)
    return render(
        request,
        "artifact.html",
        {
            "title": f"{project}/{name}",
            "project": project,
            "name": name,
            "versions": versions,
            "type": versions[0]["type"] if versions else "",
        },
    )
