"""Runs, their metric history, and lineage edges between runs and artifact versions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelbay.store.artifacts import version_select
from modelbay.store.common import insert_ignore, inserted_id
from modelbay.store.schema import artifact_versions, lineage, metrics, projects, runs, users

RUN_COLUMNS = (*runs.c, projects.c.name.label("project"), users.c.name.label("user"))
RUN_FROM = runs.join(projects, projects.c.id == runs.c.project_id).join(
    users, users.c.id == runs.c.user_id
)


def insert_run(conn: Connection, **values: Any) -> int:
    return inserted_id(conn.execute(runs.insert().values(**values)))


def get_run(conn: Connection, project_id: int, run_id: str) -> dict[str, Any] | None:
    stmt = (
        sa.select(*RUN_COLUMNS)
        .select_from(RUN_FROM)
        .where(runs.c.project_id == project_id, runs.c.run_id == run_id)
    )
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def run_by_pk(conn: Connection, run_pk: int) -> dict[str, Any] | None:
    row = (
        conn.execute(sa.select(*RUN_COLUMNS).select_from(RUN_FROM).where(runs.c.id == run_pk))
        .mappings()
        .first()
    )
    return dict(row) if row else None


def runs_by_pk(conn: Connection, run_pks: Iterable[int]) -> list[dict[str, Any]]:
    ids = list(run_pks)
    if not ids:
        return []
    stmt = sa.select(*RUN_COLUMNS).select_from(RUN_FROM).where(runs.c.id.in_(ids))
    return [dict(r) for r in conn.execute(stmt).mappings()]


def list_runs(conn: Connection, project_id: int) -> list[dict[str, Any]]:
    stmt = (
        sa.select(*RUN_COLUMNS)
        .select_from(RUN_FROM)
        .where(runs.c.project_id == project_id)
        .order_by(runs.c.id.desc())
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def update_run(conn: Connection, run_pk: int, **values: Any) -> None:
    conn.execute(runs.update().where(runs.c.id == run_pk).values(**values))


def insert_metrics(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write points; a point whose (run, key, step) is stored already is overwritten."""
    for start in range(0, len(rows), 2000):
        _bulk_upsert(conn, rows[start : start + 2000])


def _bulk_upsert(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(metrics)
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_pk", "key", "step"],
        set_={"value": stmt.excluded.value, "time": stmt.excluded.time},
    )
    conn.execute(stmt, list(rows))


def history(
    conn: Connection, run_pk: int, keys: Sequence[str] | None
) -> dict[str, list[tuple[int, float | None, float]]]:
    stmt = (
        sa.select(metrics.c.key, metrics.c.step, metrics.c.value, metrics.c.time)
        .where(metrics.c.run_pk == run_pk)
        .order_by(metrics.c.key, metrics.c.step)
    )
    if keys:
        stmt = stmt.where(metrics.c.key.in_(list(keys)))
    out: dict[str, list[tuple[int, float | None, float]]] = {}
    for key, step, value, time in conn.execute(stmt):
        out.setdefault(key, []).append((step, value, time))
    return out


def max_step(conn: Connection, run_pk: int) -> int | None:
    value = conn.execute(
        sa.select(sa.func.max(metrics.c.step)).where(metrics.c.run_pk == run_pk)
    ).scalar()
    return int(value) if value is not None else None


def add_edge(conn: Connection, run_pk: int, version_id: int, direction: str, now: float) -> None:
    insert_ignore(
        conn,
        lineage,
        {"run_pk": run_pk, "version_id": version_id, "direction": direction, "created_at": now},
        ["run_pk", "version_id", "direction"],
    )


def versions_of_run(conn: Connection, run_pk: int, direction: str) -> list[dict[str, Any]]:
    stmt = (
        version_select()
        .join(lineage, lineage.c.version_id == artifact_versions.c.id)
        .where(lineage.c.run_pk == run_pk, lineage.c.direction == direction)
        .order_by(lineage.c.created_at)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def runs_of_version(conn: Connection, version_id: int, direction: str) -> list[int]:
    return [
        int(v)
        for v in conn.execute(
            sa.select(lineage.c.run_pk)
            .where(lineage.c.version_id == version_id, lineage.c.direction == direction)
            .order_by(lineage.c.created_at)
        ).scalars()
    ]


def edges_around(
    conn: Connection, *, run_pks: Iterable[int] = (), version_ids: Iterable[int] = ()
) -> list[tuple[int, int, str]]:
    """Lineage edges (run_pk, version_id, direction) touching any of the given nodes."""
    runs_ = list(run_pks)
    versions_ = list(version_ids)
    conds = []
    if runs_:
        conds.append(lineage.c.run_pk.in_(runs_))
    if versions_:
        conds.append(lineage.c.version_id.in_(versions_))
    if not conds:
        return []
    stmt = sa.select(lineage.c.run_pk, lineage.c.version_id, lineage.c.direction).where(
        sa.or_(*conds)
    )
    return [(int(r), int(v), str(d)) for r, v, d in conn.execute(stmt)]
