"""The outbox: an event's deliveries, written in the transaction of the event.

:func:`record_event` writes the event and, when enabled automations of its type hold it in
their scope (one indexed probe; nothing cached, so that an automation created by another
process counts at once), one delivery per automation whose filters it passes. The
dispatcher sends them after commit (``modelbay.automations``).
"""

from __future__ import annotations

import functools
import re
import secrets
from typing import Any

from sqlalchemy.engine import Connection

from modelbay.store import automations as store
from modelbay.store import events as event_store

#: ``events.action`` values an automation may react to (``run.metric`` is matched apart,
#: when metrics are logged).
TRIGGERS = frozenset(
    {
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
    """Whether an event passes an automation's alias and tag filters (whole-string match)."""
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
