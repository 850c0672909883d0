"""``define_metric``: how a metric is summarised and which metric is its x-axis, as in W&B.

A definition names a metric, or a glob of them (``"val/*"``: W&B's globs end in ``*``). Its
``summary`` says what ``run.summary[name]`` holds: the last value (the default), or a dict
of any of ``min``, ``max``, ``mean``, ``last``, ``first``, ``best`` (with ``goal``);
``"none"`` keeps the metric out of the summary. Calls for the same name add to what it
summarises, as W&B's do. A key's definition is its own, else the first glob it matches
(:func:`modelbay.contract.metric_defs.applies`, the rule the server's charts use too).

``step_metric`` names the metric to plot against; with ``step_sync`` (the default once a
step metric is given) a committed row holding the metric but not its step metric gets the
step metric's last value, so that the two always meet at one step. The definitions go to
the server with the run's summary (:meth:`Definitions.records`).

The run applies definitions only once one exists (its commit is swapped for
:meth:`Definitions.commit`), so a run without them logs exactly as fast as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelbay.contract.metric_defs import GOALS, SUMMARIES, check_name, globbed, is_glob
from modelbay.errors import InvalidInputError


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
        return is_glob(self.name)

    def record(self) -> dict[str, Any]:
        """The definition as the run stores it (see :mod:`modelbay.contract.metric_defs`)."""
        return {
            "name": self.name,
            "step_metric": self.step_metric,
            "step_sync": self.step_sync,
            "hidden": self.hidden,
            "summary": list(self.summary),
            "goal": self.goal,
        }


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
        #: The last value logged of each key, for step_sync.
        self._last: dict[str, Any] = {}
        #: Whether the definitions changed since :meth:`records` was last read.
        self.dirty = False

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
        check_name(name)
        if step_metric is not None:
            check_name(step_metric, "step metric")
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
        self.dirty = True
        return metric

    def records(self) -> list[dict[str, Any]]:
        """Every definition as stored, in the order made; marks them sent."""
        self.dirty = False
        return [m.record() for m in list(self.metrics.values())]

    def definition(self, key: str) -> Metric | None:
        """The definition that applies to ``key``: its own, else the first glob it matches."""
        try:
            return self._for_key[key]
        except KeyError:
            pass
        found = self.metrics.get(key)
        if found is None:
            for metric in self.metrics.values():
                if metric.glob and globbed(key, metric.name):
                    found = metric
                    break
        self._for_key[key] = found
        return found

    def sync_steps(self, values: dict[str, Any]) -> None:
        """Put into ``values`` (a row about to be committed) the last value of the step
        metric of each of its metrics defined with ``step_sync``, where it lacks one."""
        for key in list(values):
            metric = self.definition(key)
            if metric is None or not metric.step_sync:
                continue
            axis = metric.step_metric
            if axis is not None and axis != key and axis not in values and axis in self._last:
                values[axis] = self._last[axis]

    def apply(self, values: dict[str, Any], summary: dict[str, Any]) -> None:
        """Put the summaries of the defined metrics among ``values`` (one committed step)
        into ``summary`` (written with ``dict`` methods: the run marks it changed)."""
        self._last.update(values)
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
