"""Metric series for the charts, thinned on the server.

A series longer than the points asked for comes back as one row per bucket of its steps
(``RunService.histories`` with ``bands``): the line is each bucket's mean, and ``lo`` and
``hi`` its lowest and highest value, which the charts draw as a band, so that no spike is
lost to thinning.
"""

from __future__ import annotations

import math
from typing import Any

from modelbay.services import Principal, Services

DEFAULT_POINTS = 1000
MAX_POINTS = 20_000
MAX_RUNS = 20


def _finite(value: Any) -> float | None:
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def _series(points: list[list[Any]]) -> dict[str, Any]:
    out = {
        "x": [p[0] for p in points],
        "t": [p[2] for p in points],
        "y": [_finite(p[1]) for p in points],
    }
    if points and len(points[0]) == 5:  # bucket rows: [step, mean, time, low, high]
        out["lo"] = [_finite(p[3]) for p in points]
        out["hi"] = [_finite(p[4]) for p in points]
    return out


def run_series(
    svc: Services,
    who: Principal,
    paths: list[str],
    keys: list[str] | None,
    max_points: int = DEFAULT_POINTS,
) -> dict[str, Any]:
    """``{"runs": {"project/id": {"state", "started", "summary", "last_step", "history":
    {key: {"x": steps, "t": times, "y": values, ["lo": lows, "hi": highs]}}}}}`` for the
    charts; ``lo`` and ``hi`` only where the series was thinned.

    Values that are not finite become None (a gap on the chart, and valid JSON).
    """
    paths = list(dict.fromkeys(paths))[:MAX_RUNS]
    infos = svc.runs.summaries(who, paths)
    series = svc.runs.histories(who, paths, keys, max_points=max_points, bands=True)["runs"]
    out: dict[str, Any] = {}
    for path, info in zip(paths, infos, strict=True):
        out[path] = {
            "state": info["state"],
            "started": info["created_at"],
            "summary": {k: v for k, v in info["summary"].items() if _finite(v) is not None},
            "last_step": info.get("last_step"),
            "history": {key: _series(points) for key, points in series.get(path, {}).items()},
        }
    return {"runs": out}
