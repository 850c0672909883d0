"""Thinning a metric series for charts, along its step, its time, or another metric.

A point is ``(step, value, time)`` as the store reads it; against another metric (W&B's
``define_metric(step_metric=...)`` or a chosen x axis) it is ``(step, value, time, x)``,
``x`` being that metric's value at the same step (:func:`against`). :func:`downsample`
keeps stored points; :func:`envelope` cuts the x range into buckets for a line and its
min-max band. The x axis is given as "step", "time", or a metric key (anything else).
"""

from __future__ import annotations

import math
from typing import Any

X_AXES = ("step", "time")
#: A point: ``(step, value, time)``, or ``(step, value, time, x)`` against a metric.
Point = tuple[Any, ...]


def _x_index(x_axis: str) -> int:
    return 0 if x_axis == "step" else 2 if x_axis == "time" else 3


def axis(points: list[tuple[int, float | None, float]]) -> dict[int, float]:
    """``{step: value}`` of an axis metric's finite values."""
    return {s: v for s, v, _ in points if v is not None and math.isfinite(v)}


def against(
    points: list[tuple[int, float | None, float]], x: dict[int, float]
) -> list[Point]:
    """The points of a series at the steps where the axis metric has a value,
    ``(step, value, time, x)`` ordered by x then step (W&B plots only rows holding both)."""
    out = [(s, v, t, x[s]) for s, v, t in points if s in x]
    out.sort(key=lambda p: (p[3], p[0]))
    return out


def downsample(points: list[Point], max_points: int, x_axis: str = "step") -> list[Point]:
    """At most ``max_points`` of a series (``(step, value, time)`` ordered by step, or
    :func:`against` a metric) that still shows every spike.

    The x range (steps, times with ``x_axis="time"``, or the metric's values) is cut into ``max_points // 2``
    equal buckets; each bucket keeps its lowest and its highest point, so no extreme is
    ever averaged away (infinities included). NaN (``None`` here) is not comparable: when
    the series holds any, buckets are ``max_points // 3`` and each also keeps its first
    NaN, so that a divergence stays visible. The points returned are stored points, never
    averages, ordered by the x axis.
    """
    if len(points) <= max_points:
        return points
    xi = _x_index(x_axis)
    has_nan = any(p[1] is None for p in points)
    nb = max(1, max_points // (3 if has_nan else 2))
    lo, scale = _bucket_scale(points, nb, xi)
    last = nb - 1
    lows: list[Any] = [None] * nb
    highs: list[Any] = [None] * nb
    nans: list[Any] = [None] * nb
    for p in points:
        b = int((p[xi] - lo) * scale)
        if b > last:
            b = last
        v = p[1]
        if v is None:
            if nans[b] is None:
                nans[b] = p
            continue
        low = lows[b]
        if low is None:
            lows[b] = highs[b] = p
        elif v < low[1]:
            lows[b] = p
        elif v > highs[b][1]:
            highs[b] = p
    out: list[Point] = []
    mixed: list[Point] = []
    for b in range(nb):
        low, high, nan = lows[b], highs[b], nans[b]
        if low is None:
            if nan is not None:
                out.append(nan)
            continue
        out.append(low)
        if high is not low:
            out.append(high)
        if nan is not None:
            mixed.append(nan)
    out.extend(mixed[: max(0, max_points - len(out))])
    out.sort(key=(lambda p: (p[xi], p[0])) if xi else (lambda p: p[0]))
    return out


def _bucket_scale(points: list[Point], nb: int, xi: int) -> tuple[float, float]:
    """``(lo, scale)`` that put a point in bucket ``int((p[xi] - lo) * scale)`` (at most
    ``nb - 1``): the x range (``xi`` 0 for steps, ordered; 2 for times; 3 for a metric)
    cut in ``nb`` equal
    parts. The loops compute each bucket inline: a call per point would slow them."""
    if xi == 0:
        lo, hi = float(points[0][0]), float(points[-1][0])
    else:
        xs = [p[xi] for p in points]
        lo, hi = min(xs), max(xs)
    return lo, (nb / (hi - lo) if hi > lo else 0.0)


def envelope(points: list[Point], buckets: int, x_axis: str = "step") -> list[Point]:
    """A series (``(step, value, time)`` ordered by step, or :func:`against` a metric) cut
    into ``buckets`` equal parts of its x range, as one ``(step, mean, time, low, high)``
    row per non-empty part (against a metric, the part's mean x follows).

    ``step`` and ``time`` are the means of the part's points; ``mean``, ``low`` and
    ``high`` are over its finite values only (None when it has none: a gap on a chart), so
    a chart draws the mean as its line and ``low``–``high`` as a band that holds every
    spike the line smooths over.
    """
    if not points:
        return []
    n = max(1, buckets)
    count = [0] * n
    steps = [0.0] * n
    times = [0.0] * n
    finite = [0] * n
    sums = [0.0] * n
    lows: list[float | None] = [None] * n
    highs: list[float | None] = [None] * n
    xi = _x_index(x_axis)
    xsum = [0.0] * n
    lo, scale = _bucket_scale(points, n, xi)
    last = n - 1
    for p in points:
        step, value, at = p[0], p[1], p[2]
        b = int((p[xi] - lo) * scale)
        if b > last:
            b = last
        count[b] += 1
        steps[b] += step
        times[b] += at
        if xi == 3:
            xsum[b] += p[3]
        if value is None or not math.isfinite(value):
            continue
        finite[b] += 1
        sums[b] += value
        low, high = lows[b], highs[b]
        if low is None or value < low:
            lows[b] = value
        if high is None or value > high:
            highs[b] = value
    rows: list[Point] = []
    for b in range(n):
        if not count[b]:
            continue
        row: Point = (
            steps[b] / count[b],
            sums[b] / finite[b] if finite[b] else None,
            times[b] / count[b],
            lows[b],
            highs[b],
        )
        rows.append((*row, xsum[b] / count[b]) if xi == 3 else row)
    return rows
