"""Metric series for the charts, thinned on the server.

``RunService.histories`` cuts each series down to a bounded number of points (keeping each
bucket's minimum and maximum), so a run of a million points draws from a few thousand.
"""

from __future__ import annotations

import math
from typing import Any

from modelbay.services import Principal, Services

DEFAULT_POINTS = 1500
MAX_POINTS = 20_000
MAX_RUNS = 20


def _finite(value: Any) -> float | None:
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def run_series(
    svc: Services,
    who: Principal,
    paths: list[str],
    keys: list[str] | None,
    max_points: int = DEFAULT_POINTS,
) -> dict[str, Any]:
    """``{"runs": {"project/id": {"state", "summary", "last_step", "history":
    {key: {"x": steps, "y": values}}}}}`` for the charts.

    Values that are not finite become None (a gap on the chart, and valid JSON).
    """
    paths = list(dict.fromkeys(paths))[:MAX_RUNS]
    infos = svc.runs.summaries(who, paths)
    series = svc.runs.histories(who, paths, keys, max_points=max_points)["runs"]
    out: dict[str, Any] = {}
    for path, info in zip(paths, infos, strict=True):
        out[path] = {
            "state": info["state"],
            "summary": {k: v for k, v in info["summary"].items() if _finite(v) is not None},
            "last_step": info.get("last_step"),
            "history": {
                key: {"x": [p[0] for p in points], "y": [_finite(p[1]) for p in points]}
                for key, points in series.get(path, {}).items()
            },
        }
    return {"runs": out}
