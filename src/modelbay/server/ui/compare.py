"""Compare versions or runs: metric histories overlaid per metric, summary and config
differences, a parallel-coordinates chart; and the JSON the charts poll while runs log."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from modelbay.errors import InvalidInputError
from modelbay.names import parse_ref
from modelbay.server.app import json_response
from modelbay.server.ui.chart import AUTO, DEFAULT_POINTS, MAX_POINTS, MAX_RUNS, run_series
from modelbay.server.ui.project import flat
from modelbay.server.ui.web import DataRoute, DataWho, Svc, UIRoute, Who, ref_url, render, run_url

router = APIRouter(route_class=UIRoute, include_in_schema=False)
data_router = APIRouter(route_class=DataRoute, include_in_schema=False)
MAX_ITEMS = 10
PALETTE = (
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#b279a2",
    "#eeca3b",
    "#9d755d",
    "#ff9da6",
    "#bab0ac",
)
LOWER_IS_BETTER = ("loss", "err", "mse", "mae", "rmse", "perplexity", "latency", "time")


def lower_is_better(key: str) -> bool:
    name = key.lower().rsplit("/", 1)[-1]
    return any(word in name for word in LOWER_IS_BETTER)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def summary_rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per numeric summary key: the values, whether they differ, the best column."""
    keys = sorted(
        {
            k
            for e in entries
            for k, v in (e["summary"] or {}).items()
            if not k.startswith("_") and _number(v) is not None
        }
    )
    rows = []
    for key in keys:
        values = [(e["summary"] or {}).get(key) for e in entries]
        numbers = [_number(v) for v in values]
        present = [n for n in numbers if n is not None]
        best = None
        if len(present) > 1 and len(set(present)) > 1:
            target = min(present) if lower_is_better(key) else max(present)
            best = numbers.index(target)
        rows.append(
            {
                "key": key,
                "values": values,
                "differ": len({json.dumps(v, sort_keys=True) for v in values}) > 1,
                "best": best,
            }
        )
    return rows


def config_rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flats = [dict(flat(e["config"] or {})) for e in entries]
    keys = sorted({k for f in flats for k in f if not k.startswith("_")})
    rows = []
    for key in keys:
        values = [f.get(key) for f in flats]
        rows.append(
            {
                "key": key,
                "values": values,
                "differ": len({json.dumps(v, sort_keys=True, default=str) for v in values}) > 1,
            }
        )
    return rows


@router.get("/compare")
def compare(
    request: Request,
    svc: Svc,
    who: Who,
    v: list[str] = Query(default=[]),
    run: list[str] = Query(default=[]),
) -> Response:
    items = [("v", text) for text in v if text] + [("run", text) for text in run if text]
    if len(items) > MAX_ITEMS:
        raise InvalidInputError(f"compare at most {MAX_ITEMS} versions or runs at once")
    entries: list[dict[str, Any]] = []
    for kind, text in dict.fromkeys(items):
        if kind == "v":
            info = svc.artifacts.get(who, parse_ref(text))
            link = info.get("link")
            label = link["version"] if link else f"{info['name']}:{info['version']}"
            run_info = (
                svc.runs.get(who, info["run"]["project"], info["run"]["id"])
                if info["run"]
                else None
            )
            entries.append(
                {
                    "label": label,
                    "url": ref_url(info),
                    "ref": link["ref"] if link else info["ref"],
                    "run_info": run_info,
                }
            )
        else:
            project, _, run_id = text.partition("/")
            run_info = svc.runs.get(who, project, run_id)
            entries.append(
                {
                    "label": run_info["name"],
                    "url": run_url(project, run_id),
                    "ref": text,
                    "run_info": run_info,
                }
            )
    labels = [e["label"] for e in entries]
    if len(set(labels)) < len(labels):  # e.g. v1 of two collections: use the full reference
        for e in entries:
            e["label"] = e["ref"]
    for i, e in enumerate(entries):
        e["color"] = PALETTE[i % len(PALETTE)]
        r = e["run_info"]
        e["run"] = r["path"] if r else None
        e["summary"] = r["summary"] if r else {}
        e["config"] = r["config"] if r else {}
        e["state"] = r["state"] if r else None
    summary = summary_rows(entries)
    config = config_rows(entries)
    chart_entries = [
        {"label": e["label"], "run": e["run"], "color": e["color"]} for e in entries if e["run"]
    ]
    parcoords = {
        "rows": [
            {
                "label": e["label"],
                "color": e["color"],
                "config": dict(flat(e["config"])),
                "summary": e["summary"],
            }
            for e in entries
            if e["run"]
        ],
        "config_keys": [row["key"] for row in config],
        "metric_keys": [row["key"] for row in summary],
    }
    return render(
        request,
        "compare.html",
        {
            "title": "Compare",
            "entries": entries,
            "summary": summary,
            "config": config,
            "too_few": len(entries) < 2,
            "chart_data": {
                "entries": chart_entries,
                "running": any(e["state"] == "running" for e in entries),
                "parcoords": parcoords,
            },
        },
    )


@data_router.get("/-/data/runs")
def runs_data(
    svc: Svc,
    who: DataWho,
    run: list[str] = Query(default=[]),
    keys: str | None = None,
    max_points: int = DEFAULT_POINTS,
    x: str = AUTO,
) -> Response:
    """Metric series of up to 20 runs (``run=project/id``), thinned to ``max_points`` each,
    along ``x``: "auto" (each metric's declared step metric, else the step), "step", or a
    metric key."""
    if not run or len(run) > MAX_RUNS:
        raise InvalidInputError(f"give 1 to {MAX_RUNS} runs as run=project/id")
    if not 10 <= max_points <= MAX_POINTS:
        raise InvalidInputError(f"max_points must be between 10 and {MAX_POINTS}")
    key_list = [k for k in keys.split(",") if k] if keys else None
    paths = list(dict.fromkeys(run))
    return json_response(run_series(svc, who, paths, key_list, max_points, x))
