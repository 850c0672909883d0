"""Runs, their metric history, and lineage edges between runs and artifact versions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelbay.store.artifacts import version_select
from modelbay.store.common import dict_rows, insert_ignore, inserted_id
from modelbay.store.schema import (
    artifact_versions,
    history_media,
    lineage,
    projects,
    runs,
    users,
)

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
    return dict_rows(conn.execute(stmt))


def list_runs(conn: Connection, project_id: int) -> list[dict[str, Any]]:
    stmt = (
        sa.select(*RUN_COLUMNS)
        .select_from(RUN_FROM)
        .where(runs.c.project_id == project_id)
        .order_by(runs.c.id.desc())
    )
    return dict_rows(conn.execute(stmt))


def update_run(conn: Connection, run_pk: int, **values: Any) -> None:
    conn.execute(runs.update().where(runs.c.id == run_pk).values(**values))


def beat(conn: Connection, run_pk: int, now: float) -> None:
    """Note that the run's process was heard from at ``now``."""
    conn.execute(runs.update().where(runs.c.id == run_pk).values(heartbeat_at=now))


def _silent(cutoff: float) -> sa.ColumnElement[bool]:
    return sa.and_(runs.c.state == "running", runs.c.heartbeat_at < cutoff)


def any_silent(conn: Connection, cutoff: float) -> bool:
    """Whether a running run was last heard from before ``cutoff`` (one probe of the
    (state, heartbeat_at) index)."""
    return conn.execute(sa.select(runs.c.id).where(_silent(cutoff)).limit(1)).first() is not None


def crash_silent(conn: Connection, cutoff: float, now: float) -> list[int]:
    """Mark every running run last heard from before ``cutoff`` ``crashed``, finished at its
    last heartbeat, in one statement; returns their ids. Of two transactions that race, only
    the first gets a run back, so that each crash is reported once."""
    stmt = (
        runs.update()
        .where(_silent(cutoff))
        .values(state="crashed", finished_at=runs.c.heartbeat_at, updated_at=now)
        .returning(runs.c.id)
    )
    return [int(r) for (r,) in conn.execute(stmt)]


def insert_metrics(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write points given as dicts; see :func:`upsert_points`."""
    upsert_points(conn, [(r["run_pk"], r["key"], r["step"], r["value"], r["time"]) for r in rows])


def upsert_points(
    conn: Connection, rows: Sequence[tuple[int, str, int, float | None, float]]
) -> None:
    """Write ``(run_pk, key, step, value, time)`` rows in batched statements.

    A point whose (run, key, step) is stored already is overwritten, so that a resent batch
    duplicates nothing. Goes to the driver's ``executemany`` directly: at a million points
    the per-row cost of SQLAlchemy parameter dicts would dominate.
    """
    p = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO metrics (run_pk, key, step, value, time) VALUES ({p}, {p}, {p}, {p}, {p}) "
        "ON CONFLICT (run_pk, key, step) DO UPDATE SET value = excluded.value, time = excluded.time"
    )
    for start in range(0, len(rows), 50_000):
        conn.exec_driver_sql(sql, list(rows[start : start + 50_000]))


def upsert_media(conn: Connection, rows: Sequence[tuple[int, str, int, str, float]]) -> None:
    """Write ``(run_pk, key, step, JSON text, time)`` media rows; a resent one replaces itself."""
    if not rows:
        return
    p = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO history_media (run_pk, key, step, value, time) "
        f"VALUES ({p}, {p}, {p}, {p}, {p}) "
        "ON CONFLICT (run_pk, key, step) DO UPDATE SET value = excluded.value, time = excluded.time"
    )
    conn.exec_driver_sql(sql, list(rows))


def media(
    conn: Connection, run_pk: int, keys: Sequence[str] | None
) -> list[tuple[str, int, str, float]]:
    """A run's media rows ``(key, step, JSON text, time)``, by key then step."""
    stmt = sa.select(
        history_media.c.key, history_media.c.step, history_media.c.value, history_media.c.time
    ).where(history_media.c.run_pk == run_pk)
    if keys:
        stmt = stmt.where(history_media.c.key.in_(list(keys)))
    stmt = stmt.order_by(history_media.c.key, history_media.c.step)
    return [(r[0], int(r[1]), r[2], float(r[3])) for r in conn.execute(stmt)]


def history(
    conn: Connection, run_pk: int, keys: Sequence[str] | None
) -> dict[str, list[tuple[int, float | None, float]]]:
    """Every point of a run (or of ``keys``): ``{key: [(step, value, time), ...]}`` by step."""
    out: dict[str, list[tuple[int, float | None, float]]] = {}
    for key in keys if keys else list(last_steps(conn, run_pk)):
        points = series(conn, run_pk, key)
        if points:
            out[key] = points
    return out


def series(conn: Connection, run_pk: int, key: str) -> list[tuple[int, float | None, float]]:
    """The points of one key of one run, ``(step, value, time)`` ordered by step.

    A range scan of the primary key, read with the driver's cursor: at 100,000 rows the
    Row objects of a SQLAlchemy result would cost more than the query.
    """
    p = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    cursor = conn.connection.cursor()
    try:
        cursor.execute(
            f"SELECT step, value, time FROM metrics WHERE run_pk = {p} AND key = {p} ORDER BY step",
            (run_pk, key),
        )
        return list(cursor.fetchall())
    finally:
        cursor.close()


def series_range(
    conn: Connection, run_pk: int, key: str, low: int, high: int, limit: int | None
) -> list[tuple[int, float | None, float]]:
    """The points of one key with ``low <= step < high``, ``(step, value, time)`` by step,
    at most ``limit``: one range of the primary key (run, key, step), so that a page of a
    long history costs its own rows only."""
    p = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"SELECT step, value, time FROM metrics WHERE run_pk = {p} AND key = {p} "
        f"AND step >= {p} AND step < {p} ORDER BY step"
    )
    params: tuple[Any, ...] = (run_pk, key, low, high)
    if limit is not None:
        sql += f" LIMIT {p}"
        params += (limit,)
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


_LAST_STEPS = sa.text(
    """
    WITH RECURSIVE k(key) AS (
        SELECT MIN(key) FROM metrics WHERE run_pk = :run_pk
        UNION ALL
        SELECT (SELECT MIN(m.key) FROM metrics m WHERE m.run_pk = :run_pk AND m.key > k.key)
        FROM k WHERE k.key IS NOT NULL
    )
    SELECT k.key, (SELECT MAX(m.step) FROM metrics m WHERE m.run_pk = :run_pk AND m.key = k.key)
    FROM k WHERE k.key IS NOT NULL
    """
)


def last_steps(conn: Connection, run_pk: int) -> dict[str, int]:
    """``{key: highest step}`` of a run, sorted by key.

    A skip scan over the primary key (run, key, step): one index probe per key, so a run of
    ten million points answers as fast as one of ten.
    """
    return {str(k): int(s) for k, s in conn.execute(_LAST_STEPS, {"run_pk": run_pk})}


def max_step(conn: Connection, run_pk: int) -> int | None:
    """The highest step any key of the run reached, None before the first point."""
    steps = last_steps(conn, run_pk)
    return max(steps.values()) if steps else None


_METRICS_AT = sa.text(
    """
    WITH RECURSIVE s(step) AS (
        SELECT MAX(step) FROM metrics WHERE run_pk = :run_pk AND time <= :at
    ),
    k(key) AS (
        SELECT MIN(key) FROM metrics WHERE run_pk = :run_pk
        UNION ALL
        SELECT (SELECT MIN(m.key) FROM metrics m WHERE m.run_pk = :run_pk AND m.key > k.key)
        FROM k WHERE k.key IS NOT NULL
    )
    SELECT k.key, s.step, (
        SELECT m.value FROM metrics m
        WHERE m.run_pk = :run_pk AND m.key = k.key AND m.step <= s.step
        ORDER BY m.step DESC LIMIT 1
    ), (
        SELECT MAX(m.step) FROM metrics m
        WHERE m.run_pk = :run_pk AND m.key = k.key AND m.step <= s.step
    )
    FROM k, s WHERE k.key IS NOT NULL AND s.step IS NOT NULL
    """
)


def metrics_at(
    conn: Connection, run_pk: int, at: float
) -> tuple[int | None, dict[str, float | None]]:
    """The run's last step logged by time ``at``, and each key's latest value at or before
    that step (NaN is None): ``(step, {key: value})``, ``(None, {})`` before any point.

    One statement: a range scan of the run's points for the step, then per key (a skip scan
    of the primary key, as :func:`last_steps`) one probe for its value at that step.
    """
    step: int | None = None
    values: dict[str, float | None] = {}
    for key, s, value, key_step in conn.execute(_METRICS_AT, {"run_pk": run_pk, "at": at}):
        step = int(s)
        if key_step is not None:  # a key first logged after the step has no value yet
            values[str(key)] = None if value is None else float(value)
    return step, values


def runs_by_path(conn: Connection, paths: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """The runs named by ``(project, run_id)`` pairs that exist (in no particular order)."""
    if not paths:
        return []
    wanted = set(paths)
    stmt = (
        sa.select(*RUN_COLUMNS)
        .select_from(RUN_FROM)
        .where(
            projects.c.name.in_(sorted({p for p, _ in wanted})),
            runs.c.run_id.in_(sorted({r for _, r in wanted})),
        )
    )
    rows = [dict(r) for r in conn.execute(stmt).mappings()]
    return [r for r in rows if (r["project"], r["run_id"]) in wanted]


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
    return dict_rows(conn.execute(stmt))


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
