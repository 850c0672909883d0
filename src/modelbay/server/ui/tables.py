"""Tables in the web UI: the JSON the table viewer pages through (a version's table file, a
run's logged tables), and the page comparing predictions of two or more versions or runs,
joined on a key column."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from modelbay.errors import InvalidInputError, ModelbayError
from modelbay.names import parse_ref
from modelbay.server.app import json_response
from modelbay.server.ui.web import DataRoute, DataWho, Svc, UIRoute, Who, ref_url, render, run_url
from modelbay.services import Principal, Services
from modelbay.services.tables import JOIN_SHOWS, MAX_COMPARED, Source

router = APIRouter(route_class=UIRoute, include_in_schema=False)
data_router = APIRouter(route_class=DataRoute, include_in_schema=False)
JOIN_PAGE = 50
HISTOGRAM_BUCKETS = 128
MAX_HISTOGRAM_STEPS = 500


@data_router.get("/-/data/table")
def table_data(
    svc: Svc,
    who: DataWho,
    ref: str,
    path: str,
    sort: str | None = None,
    descending: bool = False,
    filter: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> Response:
    """A page of a version's table file (what the API's ``GET /tables`` answers)."""
    page = svc.tables.page(
        who,
        parse_ref(ref),
        path,
        sort=sort or None,
        descending=descending,
        filter=filter or None,
        offset=offset,
        limit=limit,
    )
    return json_response(page)


@data_router.get("/-/data/run-tables")
def run_tables_data(svc: Svc, who: DataWho, project: str, run: str) -> Response:
    """The tables a run logged, each with the reference of its latest version."""
    return json_response({"tables": svc.tables.run_tables(who, project, run)})


@data_router.get("/-/data/run-table")
def run_table_data(
    svc: Svc,
    who: DataWho,
    project: str,
    run: str,
    key: str,
    step: int | None = None,
    sort: str | None = None,
    descending: bool = False,
    filter: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> Response:
    """A page of the table a run logged under ``key`` at ``step`` (else its latest)."""
    page = svc.tables.run_page(
        who,
        project,
        run,
        key,
        step=step,
        sort=sort or None,
        descending=descending,
        filter=filter or None,
        offset=offset,
        limit=limit,
    )
    return json_response(page)


@data_router.get("/-/data/run-histograms")
def run_histograms_data(svc: Svc, who: DataWho, project: str, run: str) -> Response:
    """The histograms a run logged, each over its steps on one grid of value buckets."""
    media = svc.runs.media(who, project, run)["media"]
    out = {}
    for key, points in sorted(media.items()):
        grid = histogram_grid([(step, value) for step, value, _ in points])
        if grid is not None:
            out[key] = grid
    return json_response({"histograms": out})


def histogram_grid(points: list[tuple[int, Any]]) -> dict[str, Any] | None:
    """W&B histograms (``{"_type": "histogram", "values", "bins"}``) of many steps on one
    grid: ``{"steps", "y", "z"}``, ``z[bucket][step]`` the count whose bin centre falls in
    the bucket of centre ``y[bucket]`` (as many buckets as the finest histogram has bins, at
    most :data:`HISTOGRAM_BUCKETS`); None when none is a histogram."""
    hists = [
        (step, v["values"], v["bins"])
        for step, v in points
        if isinstance(v, dict)
        and v.get("_type") == "histogram"
        and isinstance(v.get("values"), list)
        and isinstance(v.get("bins"), list)
        and len(v["bins"]) == len(v["values"]) + 1
        and v["values"]
    ][-MAX_HISTOGRAM_STEPS:]
    if not hists:
        return None
    buckets = min(HISTOGRAM_BUCKETS, max(len(c) for _, c, _ in hists))
    lo = min(float(b[0]) for _, _, b in hists)
    hi = max(float(b[-1]) for _, _, b in hists)
    width = (hi - lo) / buckets or 1.0
    z = [[0.0] * len(hists) for _ in range(buckets)]
    for col, (_, counts, bins) in enumerate(hists):
        for i, count in enumerate(counts):
            centre = (float(bins[i]) + float(bins[i + 1])) / 2
            row = min(buckets - 1, max(0, int((centre - lo) / width)))
            z[row][col] += float(count)
    return {
        "steps": [step for step, _, _ in hists],
        "y": [lo + width * (i + 0.5) for i in range(buckets)],
        "z": z,
    }


# -- comparing predictions ------------------------------------------------------------------


def _entries(svc: Services, who: Principal, v: list[str], run: list[str]) -> list[dict[str, Any]]:
    """What is compared: versions (``v``) and runs (``run=project/id``), each with a label,
    its page, and the tables it holds (``{name: (ref, path)}``)."""
    out = []
    for text in v:
        ref = parse_ref(text)
        info = svc.artifacts.get(who, ref)
        link = info.get("link")
        ref_text = link["ref"] if link else info["ref"]
        tables = {p: (ref_text, p) for p in svc.tables.tables_of(who, parse_ref(ref_text))}
        label = link["version"] if link else f"{info['name']}:{info['version']}"
        out.append(
            {"kind": "v", "label": label, "ref": ref_text, "url": ref_url(info), "tables": tables}
        )
    for text in run:
        project, _, run_id = text.partition("/")
        info = svc.runs.get(who, project, run_id)
        tables = {
            t["key"]: (t["ref"], t["path"]) for t in svc.tables.run_tables(who, project, run_id)
        }
        out.append(
            {
                "kind": "run",
                "label": info["name"],
                "ref": text,
                "url": run_url(project, run_id),
                "tables": tables,
            }
        )
    labels = [e["label"] for e in out]
    if len(set(labels)) < len(labels):
        for e in out:
            e["label"] = e["ref"]
    return out


@router.get("/compare/tables")
def compare_tables(
    request: Request,
    svc: Svc,
    who: Who,
    v: list[str] = Query(default=[]),
    run: list[str] = Query(default=[]),
    table: str | None = None,
    on: str | None = None,
    show: str = "all",
    page: int = 1,
    joined_file: str | None = Query(default=None, alias="joined"),
) -> Response:
    """Predictions side by side: rows joined on the column ``on``; rows whose cells differ
    highlighted; counts of rows equal, differing, and found in only some tables. With
    ``joined`` (and one version ``v``), the two tables of that W&B joined table file."""
    picked = list(dict.fromkeys(t for t in v if t)), list(dict.fromkeys(r for r in run if r))
    if joined_file and len(picked[0]) == 1 and not picked[1]:
        return compare_joined(request, svc, who, picked[0][0], joined_file, show, page)
    if sum(len(p) for p in picked) > MAX_COMPARED:
        raise InvalidInputError(f"compare at most {MAX_COMPARED} versions or runs at once")
    if show not in JOIN_SHOWS:
        raise InvalidInputError(f"show must be one of {', '.join(JOIN_SHOWS)}")
    entries = _entries(svc, who, *picked)
    common = [
        name
        for name in (entries[0]["tables"] if entries else {})
        if all(name in e["tables"] for e in entries)
    ]
    context: dict[str, Any] = {
        "title": "Compare predictions",
        "entries": entries,
        "tables": common,
        "table": None,
        "show": show,
        "problem": None,
    }
    if len(entries) < 2:
        context["problem"] = "Pick two or more versions or runs that hold tables."
    elif not common:
        context["problem"] = "These hold no table of the same name."
    else:
        chosen = table if table in common else common[0]
        sources = [
            svc.tables.source(who, parse_ref(e["tables"][chosen][0]), e["tables"][chosen][1])
            for e in entries
        ]
        key = on or default_key(sources)
        try:
            joined = svc.tables.join(
                sources,
                key,
                show=show,
                offset=(max(page, 1) - 1) * JOIN_PAGE,
                limit=JOIN_PAGE,
            )
        except ModelbayError as exc:
            context["problem"] = exc.message
            joined = None
        shared = [c for c in sources[0].table.columns if all(c in s.table.columns for s in sources)]
        context.update(
            table=chosen,
            joined=joined,
            key=key,
            key_options=shared,
            page=max(page, 1),
            page_size=JOIN_PAGE,
            page_url=lambda n: page_url(request, n),
        )
    return render(request, "compare_tables.html", context)


def compare_joined(
    request: Request, svc: Services, who: Principal, v: str, path: str, show: str, page: int
) -> Response:
    """A version's W&B joined table: its two tables side by side, joined on its key."""
    if show not in JOIN_SHOWS:
        raise InvalidInputError(f"show must be one of {', '.join(JOIN_SHOWS)}")
    info = svc.artifacts.get(who, parse_ref(v))
    link = info.get("link")
    ref_text = link["ref"] if link else info["ref"]
    sources, key = svc.tables.joined(who, parse_ref(ref_text), path)
    entries = [
        {"kind": "v", "label": s.path, "ref": ref_text, "url": ref_url(info), "tables": {}}
        for s in sources
    ]
    context: dict[str, Any] = {
        "title": "Compare predictions",
        "entries": entries,
        "tables": [path],
        "table": path,
        "joined_file": path,
        "show": show,
        "problem": None,
    }
    try:
        found = svc.tables.join(
            sources, key, show=show, offset=(max(page, 1) - 1) * JOIN_PAGE, limit=JOIN_PAGE
        )
    except ModelbayError as exc:
        context["problem"] = exc.message
        found = None
    key_text = key if isinstance(key, str) else " / ".join(key)
    context.update(
        joined=found,
        key=key_text,
        key_options=[key_text],
        page=max(page, 1),
        page_size=JOIN_PAGE,
        page_url=lambda n: page_url(request, n),
    )
    return render(request, "compare_tables.html", context)


def page_url(request: Request, page: int) -> str:
    """This page's URL at another page (every repeated ``v`` and ``run`` kept)."""
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    return "/compare/tables?" + urlencode([*pairs, ("page", str(page))])


def default_key(sources: list[Source]) -> str:
    """The column to join on when none is chosen: one named like an id, else the first
    column every table has that is not an image."""
    shared = [
        (c, t)
        for c, t in zip(sources[0].table.columns, sources[0].table.types, strict=True)
        if all(c in s.table.columns for s in sources[1:])
    ]
    for name, _ in shared:
        if name.lower() in ("id", "key", "uid", "index", "example_id", "sample_id"):
            return name
    usable = [c for c, t in shared if t != "image"] or [c for c, _ in shared]
    if not usable:
        raise InvalidInputError("the tables share no column to join on")
    return usable[0]
