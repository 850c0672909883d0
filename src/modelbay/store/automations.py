"""Automations and their outbox: the SQL of matching events, claiming due deliveries and
recording every attempt.

A delivery is claimed by a lease (``lease_until``, ``leased_by``): on PostgreSQL the due
rows are selected ``FOR UPDATE SKIP LOCKED`` so that replicas claim disjoint rows; on
SQLite the claiming transaction holds the database lock (``BEGIN IMMEDIATE``). A lease
whose holder died expires and the row is claimed again: delivery is at least once.
"""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelbay.store.common import P, dict_rows, inserted_id
from modelbay.store.prepared import Prepared, fetch_dicts
from modelbay.store.schema import (
    artifacts,
    automations,
    deliveries,
    delivery_attempts,
    events,
    users,
)

PENDING, SUCCEEDED, FAILED, DEAD = "pending", "succeeded", "failed", "dead"
#: What the HTTP dispatcher sends; job deliveries are leased by agents of their queue.
HTTP_KINDS = ("webhook", "slack")
#: Key of ``Connection.info`` set when a transaction wrote deliveries: once it commits, the
#: database wakes :data:`WRITTEN`'s waiters (this process's dispatcher) at once; other
#: processes find the rows when they next poll.
OUTBOX_FLAG = "modelbay_outbox"
WRITTEN = threading.Event()

_a = automations.c
_CANDIDATE_COLUMNS = (
    _a.id,
    _a.alias_regex,
    _a.tag_regex,
    _a.action_kind,
    _a.action_config,
    _a.metric,
    _a.metric_window,
    _a.metric_agg,
    _a.metric_op,
    _a.metric_value,
)


def _probe(kind: str, scope_id: sa.ColumnElement[Any]) -> sa.Select[Any]:
    return sa.select(*_CANDIDATE_COLUMNS).where(
        _a.event_type == P("action"),
        _a.scope_kind == kind,
        _a.scope_id == scope_id,
        _a.enabled.is_(True),
    )


# One probe of the (event_type, scope_kind, scope_id) index per kind of scope; an artifact
# event's project, when the event does not name it, comes from the artifact row.
_CANDIDATES = Prepared(
    sa.union_all(
        _probe("registry", P("registry_id", type_=sa.BigInteger)),
        _probe("collection", P("collection_id", type_=sa.BigInteger)),
        _probe(
            "project",
            sa.func.coalesce(
                P("project_id", type_=sa.BigInteger),
                sa.select(artifacts.c.project_id)
                .where(artifacts.c.id == P("artifact_id", type_=sa.BigInteger))
                .scalar_subquery(),
            ),
        ),
    )
)


def candidates(
    conn: Connection,
    action: str,
    *,
    registry_id: int | None,
    collection_id: int | None,
    project_id: int | None,
    artifact_id: int | None,
) -> list[dict[str, Any]]:
    """Enabled automations of ``action`` whose scope holds the event (filters not applied)."""
    return fetch_dicts(
        conn,
        _CANDIDATES,
        {
            "action": action,
            "registry_id": registry_id,
            "collection_id": collection_id,
            "project_id": project_id,
            "artifact_id": artifact_id,
        },
    )


def insert_deliveries(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(deliveries.insert(), rows)
        conn.info[OUTBOX_FLAG] = True


def insert_delivery(conn: Connection, **values: Any) -> int:
    conn.info[OUTBOX_FLAG] = True
    return inserted_id(conn.execute(deliveries.insert().values(**values)))


# -- automations -------------------------------------------------------------------------------


def insert_automation(conn: Connection, **values: Any) -> int:
    return inserted_id(conn.execute(automations.insert().values(**values)))


def _automation_query() -> sa.Select[Any]:
    return sa.select(automations, users.c.name.label("creator")).select_from(
        automations.outerjoin(users, users.c.id == automations.c.created_by)
    )


def automation_by_name(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(_automation_query().where(_a.name == name)).mappings().first()
    return dict(row) if row else None


def automation_by_id(conn: Connection, automation_id: int) -> dict[str, Any] | None:
    row = conn.execute(_automation_query().where(_a.id == automation_id)).mappings().first()
    return dict(row) if row else None


def list_automations(
    conn: Connection, scopes: list[tuple[str, int]] | None = None
) -> list[dict[str, Any]]:
    """Automations by name; ``scopes`` keeps those of the given (kind, id) pairs."""
    stmt = _automation_query().order_by(_a.name)
    if scopes is not None:
        if not scopes:
            return []
        stmt = stmt.where(
            sa.or_(*(sa.and_(_a.scope_kind == k, _a.scope_id == i) for k, i in scopes))
        )
    return dict_rows(conn.execute(stmt))


def update_automation(conn: Connection, automation_id: int, **changes: Any) -> None:
    conn.execute(automations.update().where(_a.id == automation_id).values(**changes))


def delete_automation(conn: Connection, automation_id: int) -> None:
    ids = sa.select(deliveries.c.id).where(deliveries.c.automation_id == automation_id)
    conn.execute(delivery_attempts.delete().where(delivery_attempts.c.delivery_id.in_(ids)))
    conn.execute(deliveries.delete().where(deliveries.c.automation_id == automation_id))
    conn.execute(automations.delete().where(_a.id == automation_id))


# -- deliveries -------------------------------------------------------------------------------

_d = deliveries.c


def claim(
    conn: Connection,
    *,
    now: float,
    lease_until: float,
    worker: str,
    limit: int,
    queue: str | None = None,
) -> list[dict[str, Any]]:
    """Lease up to ``limit`` due deliveries, within each automation's concurrency limit.

    ``queue`` None: webhook and Slack deliveries (the HTTP dispatcher); else the job
    deliveries of that queue (an agent). Returns the leased rows with their automation.
    """
    stmt = (
        sa.select(_d.id, _d.automation_id, _a.concurrency)
        .select_from(deliveries.join(automations, _a.id == _d.automation_id))
        .where(
            _d.state == PENDING,
            _d.next_attempt_at <= now,
            sa.or_(_d.lease_until.is_(None), _d.lease_until < now),
            _a.enabled.is_(True),
        )
        .order_by(_d.next_attempt_at, _d.id)
        .limit(limit * 4)
    )
    if queue is None:
        stmt = stmt.where(_d.action_kind.in_(HTTP_KINDS))
    else:
        stmt = stmt.where(_d.action_kind == "job", _d.queue == queue)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=deliveries, skip_locked=True)
    due = conn.execute(stmt).all()
    if not due:
        return []
    owners = sorted({row.automation_id for row in due})
    busy: dict[int, int] = dict(
        conn.execute(
            sa.select(_d.automation_id, sa.func.count())
            .where(
                _d.automation_id.in_(owners),
                _d.state == PENDING,
                _d.lease_until >= now,
            )
            .group_by(_d.automation_id)
        ).all()
    )
    picked: list[int] = []
    for row in due:
        if busy.get(row.automation_id, 0) < row.concurrency and len(picked) < limit:
            busy[row.automation_id] = busy.get(row.automation_id, 0) + 1
            picked.append(row.id)
    if not picked:
        return []
    conn.execute(
        deliveries.update()
        .where(_d.id.in_(picked))
        .values(lease_until=lease_until, leased_by=worker, updated_at=now)
    )
    return delivery_rows(conn, picked)


def any_due(conn: Connection, now: float, queue: str | None = None) -> bool:
    """Whether :func:`claim` would find a delivery (read-only, so that an idle dispatcher
    takes no write lock): due, not leased, of an enabled automation."""
    stmt = (
        sa.select(_d.id)
        .select_from(deliveries.join(automations, _a.id == _d.automation_id))
        .where(
            _d.state == PENDING,
            _d.next_attempt_at <= now,
            sa.or_(_d.lease_until.is_(None), _d.lease_until < now),
            _a.enabled.is_(True),
        )
    )
    if queue is None:
        stmt = stmt.where(_d.action_kind.in_(HTTP_KINDS))
    else:
        stmt = stmt.where(_d.action_kind == "job", _d.queue == queue)
    return conn.execute(stmt.limit(1)).first() is not None


def delivery_rows(conn: Connection, ids: list[int]) -> list[dict[str, Any]]:
    """Deliveries with their automation's name, kind, config and secrets."""
    stmt = (
        sa.select(
            deliveries,
            _a.name.label("automation"),
            _a.action_config,
            _a.secrets,
            _a.enabled,
        )
        .select_from(deliveries.join(automations, _a.id == _d.automation_id))
        .where(_d.id.in_(ids))
        .order_by(_d.id)
    )
    return dict_rows(conn.execute(stmt))


def set_payload(conn: Connection, delivery_id: int, payload: dict[str, Any]) -> None:
    conn.execute(deliveries.update().where(_d.id == delivery_id).values(payload=payload))


def settle(
    conn: Connection,
    delivery_id: int,
    *,
    worker: str,
    state: str,
    attempts: int,
    next_attempt_at: float,
    now: float,
) -> bool:
    """End a leased attempt: new state, attempt count and next time, lease released.

    Returns False (nothing changed) when the lease was lost meanwhile (it expired and
    another worker took the row), so that the other worker's outcome stands.
    """
    result = conn.execute(
        deliveries.update()
        .where(_d.id == delivery_id, _d.leased_by == worker)
        .values(
            state=state,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            lease_until=None,
            leased_by=None,
            updated_at=now,
        ),
        execution_options={"preserve_rowcount": True},
    )
    return bool(result.rowcount)


def insert_attempt(conn: Connection, **values: Any) -> int:
    return inserted_id(conn.execute(delivery_attempts.insert().values(**values)))


def deliveries_of(
    conn: Connection, automation_id: int, *, limit: int, before: int | None = None
) -> list[dict[str, Any]]:
    """An automation's deliveries, newest first."""
    stmt = sa.select(deliveries).where(_d.automation_id == automation_id).order_by(_d.id.desc())
    if before is not None:
        stmt = stmt.where(_d.id < before)
    return dict_rows(conn.execute(stmt.limit(limit)))


def attempts_of(conn: Connection, delivery_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Every attempt of each delivery, oldest first."""
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in delivery_ids}
    if not delivery_ids:
        return found
    t = delivery_attempts.c
    rows = dict_rows(
        conn.execute(
            sa.select(delivery_attempts).where(t.delivery_id.in_(delivery_ids)).order_by(t.id)
        )
    )
    for row in rows:
        found[row["delivery_id"]].append(row)
    return found


def delivery_by_id(conn: Connection, delivery_id: int) -> dict[str, Any] | None:
    rows = delivery_rows(conn, [delivery_id])
    return rows[0] if rows else None


def replay(conn: Connection, delivery_id: int, now: float) -> None:
    """Send a delivery again: pending now, its schedule restarted, its message id kept."""
    conn.execute(
        deliveries.update()
        .where(_d.id == delivery_id)
        .values(
            state=PENDING,
            attempts=0,
            next_attempt_at=now,
            lease_until=None,
            leased_by=None,
            updated_at=now,
        )
    )
    conn.info[OUTBOX_FLAG] = True


def event_by_id(conn: Connection, event_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(events).where(events.c.id == event_id)).mappings().first()
    return dict(row) if row else None


def pending_count(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).where(_d.state == PENDING)).scalar() or 0)


def collection_row(conn: Connection, collection_id: int) -> dict[str, Any] | None:
    """A collection's id, name and registry id."""
    from modelbay.store.schema import collections

    c = collections.c
    row = (
        conn.execute(sa.select(c.id, c.name, c.registry_id).where(c.id == collection_id))
        .mappings()
        .first()
    )
    return dict(row) if row else None


def last_values(
    conn: Connection, run_pk: int, key: str, limit: int, below_step: int | None = None
) -> list[float]:
    """The last ``limit`` non-NaN values of a run's metric (before ``below_step``, if given)."""
    from modelbay.store.schema import metrics

    m = metrics.c
    stmt = sa.select(m.value).where(m.run_pk == run_pk, m.key == key, m.value.is_not(None))
    if below_step is not None:
        stmt = stmt.where(m.step < below_step)
    stmt = stmt.order_by(m.step.desc()).limit(limit)
    return [float(v) for (v,) in conn.execute(stmt).all()]


def delivery_counts(conn: Connection) -> dict[tuple[str, str], int]:
    """How many deliveries are in each (action kind, state) that is not success."""
    query = (
        sa.select(_d.action_kind, _d.state, sa.func.count())
        .where(_d.state != "succeeded")
        .group_by(_d.action_kind, _d.state)
    )
    return {(kind, state): int(n) for kind, state, n in conn.execute(query)}
