"""``define_metric``: how a metric is summarised and which metric is its x-axis, as in W&B.

A definition names a metric, or a glob of them (``"val/*"``). Its ``summary`` says what
``run.summary[name]`` holds: the last value (the default), or a dict of any of ``min``,
``max``, ``mean``, ``last``, ``first``, ``best`` (with ``goal``); ``"none"`` keeps the metric out of
the summary. Calls for the same name add to what it summarises, as W&B's do.

The run applies definitions only once one exists (its commit is swapped for
:meth:`Definitions.commit`), so a run without them logs exactly as fast as before.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from modelbay.errors import InvalidInputError

SUMMARIES = ("min", "max", "mean", "last", "first", "best", "none", "copy")
GOALS = {"minimize": "min", "maximize": "max", "min": "min", "max": "max"}


@dataclass
class Metric:
    """One ``define_metric`` definition (what W&B returns from the call)."""

    name: str
    step_metric: str | None = None
    step_sync: bool | None = None
    hidden: bool = False
    summary: list[str] = field(default_factory=list)
    goal: str | None = None
    overwrite: bool = False

    @property
    def glob(self) -> bool:
        return any(c in self.name for c in "*?[")


@dataclass
class _Aggregate:
    first: float
    last: float
    low: float
    high: float
    total: float
    count: int

    def add(self, value: float) -> None:
        self.last = value
        self.low = min(self.low, value)
        self.high = max(self.high, value)
        self.total += value
        self.count += 1


class Definitions:
    """The definitions of one run, and the running aggregates their summaries need."""

    def __init__(self) -> None:
        self.metrics: dict[str, Metric] = {}
        self._for_key: dict[str, Metric | None] = {}
        self._aggregates: dict[str, _Aggregate] = {}

    def define(
        self,
        name: str,
        step_metric: str | None = None,
        step_sync: bool | None = None,
        hidden: bool | None = None,
        summary: str | None = None,
        goal: str | None = None,
        overwrite: bool | None = None,
    ) -> Metric:
        """Add or extend the definition of ``name``.

        Raises:
            InvalidInputError: an empty name, an unknown summary or goal, or ``best``
                without a goal.
        """
        if not isinstance(name, str) or not name or name.startswith("*") and len(name) > 1:
            raise InvalidInputError(f"define_metric: invalid metric name {name!r}")
        wanted = [s.strip() for s in summary.split(",")] if summary else []
        for s in wanted:
            if s not in SUMMARIES:
                raise InvalidInputError(
                    f"define_metric: summary {s!r} is not one of {', '.join(SUMMARIES)}"
                )
        if goal is not None and goal not in GOALS:
            raise InvalidInputError(
                f"define_metric: goal must be 'minimize' or 'maximize', not {goal!r}"
            )
        metric = self.metrics.get(name)
        if metric is None or overwrite:
            metric = self.metrics[name] = Metric(name)
        if step_metric is not None:
            metric.step_metric = step_metric
            metric.step_sync = True if step_sync is None else step_sync
            if step_metric not in self.metrics:
                self.metrics[step_metric] = Metric(step_metric)
        elif step_sync is not None:
            metric.step_sync = step_sync
        if hidden is not None:
            metric.hidden = hidden
        if goal is not None:
            metric.goal = goal
        metric.summary += [s for s in wanted if s not in metric.summary]
        if "best" in metric.summary and metric.goal is None:
            raise InvalidInputError(
                "define_metric: summary 'best' needs goal='minimize' or 'maximize'"
            )
        self._for_key.clear()
        return metric

    def definition(self, key: str) -> Metric | None:
        """The definition that applies to ``key``: its own, else the first glob it matches."""
        try:
            return self._for_key[key]
        except KeyError:
            pass
        found = self.metrics.get(key)
        if found is None or not found.summary:
            for metric in self.metrics.values():
                if metric.glob and metric.summary and fnmatch.fnmatchcase(key, metric.name):
                    found = metric
                    break
        self._for_key[key] = found
        return found

    def apply(self, values: dict[str, Any], summary: dict[str, Any]) -> None:
        """Put the summaries of the defined metrics among ``values`` (one committed step)
        into ``summary`` (written with ``dict`` methods: the run marks it changed)."""
        for key, value in values.items():
            metric = self.definition(key)
            if metric is None or not metric.summary:
                continue
            if "none" in metric.summary:
                dict.pop(summary, key, None)
                continue
            if "copy" in metric.summary and len(metric.summary) == 1:
                continue
            number = float(value)
            agg = self._aggregates.get(key)
            if agg is None:
                agg = self._aggregates[key] = _Aggregate(number, number, number, number, number, 1)
            else:
                agg.add(number)
            dict.__setitem__(summary, key, self._summary_of(metric, agg))

    @staticmethod
    def _summary_of(metric: Metric, agg: _Aggregate) -> dict[str, float]:
        out: dict[str, float] = {}
        for s in metric.summary:
            if s == "min":
                out["min"] = agg.low
            elif s == "max":
                out["max"] = agg.high
            elif s == "mean":
                out["mean"] = agg.total / agg.count
            elif s == "last":
                out["last"] = agg.last
            elif s == "first":
                out["first"] = agg.first
            elif s == "best" and metric.goal is not None:
                out["best"] = agg.low if GOALS[metric.goal] == "min" else agg.high
        return out
