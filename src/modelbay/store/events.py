"""The audit trail: append-only event rows, written in the transaction of their change."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelbay.store.common import P
from modelbay.store.prepared import Prepared, fetch_value, run
from modelbay.store.schema import events

SCOPES = (
    "registry_id",
    "collection_id",
    "link_id",
    "project_id",
    "artifact_id",
    "version_id",
    "run_pk",
)


_COLUMNS = tuple(c.name for c in events.c if c.name != "id")
# Every column bound, so that one prebuilt statement serves every event.
_INSERT = Prepared(events.insert().values({c: P(c) for c in _COLUMNS}))


_INSERT_RETURNING = Prepared(
    events.insert().values({c: P(c) for c in _COLUMNS}).returning(events.c.id)
)


def insert_event(conn: Connection, **values: Any) -> None:
    run(conn, _INSERT, {c: values.get(c) for c in _COLUMNS})


def insert_event_returning_id(conn: Connection, **values: Any) -> int:
    """Insert an event and return its id (for the deliveries that point at it)."""
    return int(fetch_value(conn, _INSERT_RETURNING, {c: values.get(c) for c in _COLUMNS}))


def list_events(
    conn: Connection, *, limit: int, before_id: int | None = None, **scope: int | None
) -> list[dict[str, Any]]:
    """Events matching every given scope column, newest first."""
    stmt = sa.select(events).order_by(events.c.id.desc()).limit(limit)
    for column, value in scope.items():
        if value is not None:
            stmt = stmt.where(events.c[column] == value)
    if before_id is not None:
        stmt = stmt.where(events.c.id < before_id)
    return [dict(r) for r in conn.execute(stmt).mappings()]
