"""SQL of job deliveries: the rows of ``deliveries`` with ``action_kind = 'job'``.

A job is due when it is pending, its ``next_attempt_at`` has come, and nobody holds an
unexpired lease on it. On PostgreSQL the candidates are locked with ``SKIP LOCKED``, so
agents of one queue never wait on each other; on SQLite the write transaction is already
exclusive. Taking a lease is a conditional UPDATE, so two agents never hold one job.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelbay.store.schema import automations, collections, deliveries, delivery_attempts, events

JOB = "job"
PENDING = "pending"


def _due(queue: str, now: float) -> sa.ColumnElement[bool]:
    return sa.and_(
        deliveries.c.action_kind == JOB,
        deliveries.c.queue == queue,
        deliveries.c.state == PENDING,
        deliveries.c.next_attempt_at <= now,
        sa.or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
    )


def due_jobs(conn: Connection, queue: str, now: float, limit: int) -> list[dict[str, Any]]:
    """The oldest due jobs of ``queue`` with their automation's scope, name and state."""
    stmt = (
        sa.select(
            deliveries,
            automations.c.name.label("automation_name"),
            automations.c.scope_kind,
            automations.c.scope_id,
            automations.c.enabled,
            automations.c.event_type,
        )
        .join(automations, automations.c.id == deliveries.c.automation_id)
        .where(_due(queue, now))
        .order_by(deliveries.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=deliveries, skip_locked=True)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def take_lease(
    conn: Connection, delivery_id: int, queue: str, now: float, leased_by: str, until: float
) -> bool:
    """Lease one due job (False: another agent took it first, or it is no longer due)."""
    result = conn.execute(
        deliveries.update()
        .where(deliveries.c.id == delivery_id, _due(queue, now))
        .values(
            lease_until=until,
            leased_by=leased_by,
            attempts=deliveries.c.attempts + 1,
            updated_at=now,
        ),
        execution_options={"preserve_rowcount": True},
    )
    return result.rowcount == 1


def get_delivery(conn: Connection, delivery_id: int) -> dict[str, Any] | None:
    row = (
        conn.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id)).mappings().first()
    )
    return dict(row) if row is not None else None


def lock_delivery(conn: Connection, delivery_id: int) -> dict[str, Any] | None:
    stmt = sa.select(deliveries).where(deliveries.c.id == delivery_id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row is not None else None


def update_delivery(conn: Connection, delivery_id: int, **values: Any) -> None:
    conn.execute(deliveries.update().where(deliveries.c.id == delivery_id).values(**values))


def insert_attempt(conn: Connection, **values: Any) -> int:
    key = conn.execute(delivery_attempts.insert().values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def event_row(conn: Connection, event_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(events).where(events.c.id == event_id)).mappings().first()
    return dict(row) if row is not None else None


def set_payload(conn: Connection, delivery_id: int, payload: dict[str, Any]) -> None:
    """Freeze the body on the first lease, so that a job leased again gets the same event."""
    conn.execute(deliveries.update().where(deliveries.c.id == delivery_id).values(payload=payload))


def collection_registry_id(conn: Connection, collection_id: int) -> int | None:
    value = conn.execute(
        sa.select(collections.c.registry_id).where(collections.c.id == collection_id)
    ).scalar()
    return int(value) if value is not None else None
