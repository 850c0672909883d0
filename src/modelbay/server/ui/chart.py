"""Metric series for the charts, thinned on the server, each along its x axis.

A series longer than the points asked for comes back as one row per bucket of its x range
(``RunService.histories`` with ``bands``): the line is each bucket's mean, and ``lo`` and
``hi`` its lowest and highest value, which the charts draw as a band, so that no spike is
lost to thinning.

The x axis of a series is ``x``: by default (``axis="auto"``) a metric declared with
``define_metric(step_metric=...)`` is read along that metric and every other one along the
step; ``axis="step"`` reads all along the step, and a metric key reads all along that
metric. Metrics declared ``hidden`` are not sent, only named.
"""

from __future__ import annotations

import math
from typing import Any

from modelbay.contract import metric_defs as definitions
from modelbay.services import Principal, Services

DEFAULT_POINTS = 1000
MAX_POINTS = 20_000
MAX_RUNS = 20
#: Keys in one history read (the service's limit).
MAX_KEYS = 1000
AUTO = "auto"


def _finite(value: Any) -> float | None:
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def _series(points: list[list[Any]], axis: str) -> dict[str, Any]:
    """Chart arrays of points ``[step, value, time]``, bucket rows ``[step, mean, time, low,
    high]``, either with the axis metric's value last when read along one."""
    along = axis not in ("step", "time")  # a metric: its value is each row's last
    out = {
        "x": [p[-1] if along else p[0] for p in points],
        "t": [p[2] for p in points],
        "y": [_finite(p[1]) for p in points],
        "axis": axis,
    }
    if points and len(points[0]) == (6 if along else 5):  # bucket rows
        out["lo"] = [_finite(p[3]) for p in points]
        out["hi"] = [_finite(p[4]) for p in points]
    return out


def _run_history(
    svc: Services,
    who: Principal,
    info: dict[str, Any],
    keys: list[str] | None,
    max_points: int,
    axis: str,
) -> tuple[dict[str, Any], list[str]]:
    """One run's chart series along ``axis``, and the hidden keys it left out."""
    defs = info.get("metric_defs") or []
    wanted = keys if keys is not None else list(info.get("keys") or [])
    hidden = [k for k in wanted if definitions.hidden(defs, k)]
    visible = [k for k in wanted if k not in hidden]
    groups: dict[str, list[str]] = {}
    for key in visible:
        along = definitions.step_metric(defs, key) if axis == AUTO else axis
        groups.setdefault(along or "step", []).append(key)
    out: dict[str, Any] = {}
    path = info["path"]
    for along, group in groups.items():
        for start in range(0, len(group), MAX_KEYS):
            found = svc.runs.histories(
                who,
                [path],
                group[start : start + MAX_KEYS],
                max_points=max_points,
                x_axis=along,
                bands=True,
            )["runs"][path]
            out.update({key: _series(points, along) for key, points in found.items()})
    return out, hidden


def run_series(
    svc: Services,
    who: Principal,
    paths: list[str],
    keys: list[str] | None,
    max_points: int = DEFAULT_POINTS,
    axis: str = AUTO,
) -> dict[str, Any]:
    """``{"runs": {"project/id": {"state", "started", "summary", "last_step", "axes",
    "hidden", "history": {key: {"x", "t", "y", "axis", ["lo", "hi"]}}}}}`` for the charts;
    ``lo`` and ``hi`` only where the series was thinned; ``axes`` the run's declared step
    metrics; ``hidden`` its metrics declared hidden (not in ``history``).

    Values that are not finite become None (a gap on the chart, and valid JSON).
    """
    paths = list(dict.fromkeys(paths))[:MAX_RUNS]
    infos = svc.runs.summaries(who, paths)
    out: dict[str, Any] = {}
    for path, info in zip(paths, infos, strict=True):
        history, hidden = _run_history(svc, who, info, keys, max_points, axis)
        out[path] = {
            "state": info["state"],
            "started": info["created_at"],
            "summary": {k: v for k, v in info["summary"].items() if _finite(v) is not None},
            "last_step": info.get("last_step"),
            "axes": definitions.step_metrics(info.get("metric_defs") or []),
            "hidden": hidden,
            "history": history,
        }
    return {"runs": out}
