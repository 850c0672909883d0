"""The outbox: an event's deliveries, written in the transaction of the event.

:func:`record_event` writes the event and, when enabled automations of its type hold it in
their scope (one indexed probe; nothing cached, so that an automation created by another
process counts at once), one delivery per automation whose filters it passes. The
dispatcher sends them after commit (``modelbay.automations``).
"""

from __future__ import annotations

import functools
import operator
import re
import secrets
import statistics
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from modelbay.store import automations as store
from modelbay.store import events as event_store

#: ``events.action`` values an automation may react to (``run.metric`` is written by
#: :func:`check_metrics` when logged metrics meet a threshold).
TRIGGERS = frozenset(
    {
        "run.metric",
        "version.linked",
        "version.unlinked",
        "alias.added",
        "alias.removed",
        "tag.added",
        "tag.removed",
        "artifact_version.created",
        "run.finished",
        "run.failed",
        "run.crashed",
        "promotion.requested",
        "promotion.approved",
        "promotion.rejected",
    }
)


@functools.lru_cache(maxsize=1024)
def _pattern(text: str) -> re.Pattern[str]:
    """A compiled filter, keyed by its text (so never stale when an automation changes)."""
    return re.compile(text)


def _value(fields: dict[str, Any], key: str) -> str | None:
    for side in ("after", "before"):
        part = fields.get(side)
        if isinstance(part, dict) and isinstance(part.get(key), str):
            return str(part[key])
    return None


def passes(automation: dict[str, Any], fields: dict[str, Any]) -> bool:
    """Whether an event passes an automation's alias and tag filters (whole-string match);
    a ``run.metric`` event is for the one automation whose threshold it met."""
    if fields.get("action") == "run.metric":
        return bool((fields.get("after") or {}).get("automation") == automation["id"])
    for column, key in (("alias_regex", "alias"), ("tag_regex", "tag")):
        pattern = automation.get(column)
        if pattern:
            value = _value(fields, key)
            if value is None or _pattern(pattern).fullmatch(value) is None:
                return False
    return True


def message_id() -> str:
    """A Standard Webhooks message id: ``msg_`` and 26 random characters."""
    return "msg_" + secrets.token_hex(13)


def delivery_row(automation: dict[str, Any], event_id: int | None, t: float) -> dict[str, Any]:
    config = automation.get("action_config") or {}
    kind = automation["action_kind"]
    return {
        "automation_id": automation["id"],
        "event_id": event_id,
        "message_id": message_id(),
        "action_kind": kind,
        "queue": config.get("queue") if kind == "job" else None,
        "state": store.PENDING,
        "attempts": 0,
        "next_attempt_at": t,
        "created_at": t,
        "updated_at": t,
    }


def record_event(conn: Connection, values: dict[str, Any]) -> None:
    """Write one event and its deliveries (see the module docstring)."""
    action = values["action"]
    matched: list[dict[str, Any]] = []
    if action in TRIGGERS:
        through_registry = values.get("registry_id") is not None
        found = store.candidates(
            conn,
            action,
            registry_id=values.get("registry_id"),
            collection_id=values.get("collection_id"),
            # A project scope holds the project's own artifacts and runs, not registry links.
            project_id=None if through_registry else values.get("project_id"),
            artifact_id=None if through_registry else values.get("artifact_id"),
        )
        matched = [a for a in found if passes(a, values)]
    if not matched:
        event_store.insert_event(conn, **values)
        return
    event_id = event_store.insert_event_returning_id(conn, **values)
    store.insert_deliveries(conn, [delivery_row(a, event_id, values["time"]) for a in matched])


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_AGGREGATE: dict[str, Callable[[list[float]], float]] = {"avg": statistics.fmean, "min": min, "max": max}


def _met(automation: dict[str, Any], values: list[float]) -> float | None:
    """The aggregate of ``values`` when it meets the automation's threshold, else None."""
    if len(values) < (automation["metric_window"] or 1):
        return None
    value = float(_AGGREGATE[automation["metric_agg"] or "avg"](values))
    compare = _COMPARE[automation["metric_op"]]
    return value if compare(value, automation["metric_value"]) else None


def check_metrics(
    conn: Connection, actor: str, run: dict[str, Any], rows: list[tuple[Any, ...]], t: float
) -> None:
    """After metric points ``(run_pk, key, step, value, time)`` are stored: a ``run.metric``
    event for each run-metric automation of the run's project whose threshold the points
    made true (the aggregate of the metric's last ``window`` values meets it now and did not
    before them). One index probe when the project has none."""
    found = store.candidates(
        conn, "run.metric", registry_id=None, collection_id=None,
        project_id=run["project_id"], artifact_id=None,
    )  # fmt: skip
    if not found:
        return
    first_step: dict[str, int] = {}
    for _, key, step, _, _ in rows:
        if key not in first_step or step < first_step[key]:
            first_step[key] = step
    for automation in found:
        key, window = automation["metric"], automation["metric_window"] or 1
        if key not in first_step:
            continue
        value = _met(automation, store.last_values(conn, run["id"], key, window))
        if value is None:
            continue
        before = store.last_values(conn, run["id"], key, window, below_step=first_step[key])
        if _met(automation, before) is not None:
            continue  # already met: the event fired when it became true
        threshold = f"{automation['metric_agg']}({key}, {window}) {automation['metric_op']} "
        record_event(
            conn,
            {
                "time": t,
                "actor": actor,
                "action": "run.metric",
                "subject": f"{run['project']}/{run['run_id']}",
                "project_id": run["project_id"],
                "run_pk": run["id"],
                "after": {
                    "automation": automation["id"],
                    "metric": key,
                    "window": window,
                    "agg": automation["metric_agg"],
                    "value": value,
                    "threshold": threshold + repr(automation["metric_value"]),
                },
            },
        )
