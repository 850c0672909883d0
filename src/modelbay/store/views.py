"""Read queries for the web UI: pages of versions and runs sorted by a summary metric,
projects with their counts, users of a session.

Summary metrics live in a JSON column; sorting by one extracts it in SQL (only numbers sort;
strings such as ``"nan"`` and missing keys come last) so that a page of a 10,000-version
collection costs one indexed query, not a Python loop over every row.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelbay.store.registry import LINK_COLUMNS, LINK_FROM
from modelbay.store.runs import RUN_COLUMNS, RUN_FROM
from modelbay.store.schema import artifacts, links, projects, runs


def summary_number(conn: Connection, key: str) -> sa.ColumnElement[Any]:
    """The numeric value of ``runs.summary[key]``, NULL when missing or not a number.

    ``key`` must not hold ``"`` or ``\\`` (SQLite's JSON path has no escape for them); the
    service checks that.
    """
    if conn.dialect.name == "postgresql":
        element = runs.c.summary.op("->")(key)
        return sa.case(
            (
                sa.func.json_typeof(element) == "number",
                sa.cast(runs.c.summary.op("->>")(key), sa.Float),
            ),
            else_=sa.null(),
        )
    path = f'$."{key}"'
    return sa.case(
        (
            sa.func.json_type(runs.c.summary, path).in_(["integer", "real"]),
            sa.func.json_extract(runs.c.summary, path),
        ),
        else_=sa.null(),
    )


def _ordered(
    stmt: sa.Select[Any], first: sa.ColumnElement[Any], tiebreak: Any, descending: bool
) -> sa.Select[Any]:
    if descending:
        return stmt.order_by(first.desc().nulls_last(), tiebreak.desc())
    return stmt.order_by(first.asc().nulls_last(), tiebreak.asc())


def collection_links(
    conn: Connection,
    collection_id: int,
    *,
    sort: str,
    metric: str | None,
    descending: bool,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """A page of a collection's links with their producing run's state, name and summary.

    ``sort`` is ``"version"``, ``"created"`` or ``"metric"`` (by ``metric`` of the summary).
    """
    stmt = (
        sa.select(
            *LINK_COLUMNS,
            runs.c.summary.label("run_summary"),
            runs.c.state.label("run_state"),
            runs.c.name.label("run_name"),
        )
        .select_from(LINK_FROM)
        .where(links.c.collection_id == collection_id)
        .limit(limit)
        .offset(offset)
    )
    if sort == "metric" and metric is not None:
        key: sa.ColumnElement[Any] = summary_number(conn, metric)
    elif sort == "created":
        key = links.c.created_at
    else:
        key = links.c.version
    return [
        dict(r) for r in conn.execute(_ordered(stmt, key, links.c.version, descending)).mappings()
    ]


def project_runs(
    conn: Connection,
    project_id: int,
    *,
    sort: str,
    metric: str | None,
    descending: bool,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """A page of a project's runs; ``sort`` is ``"created"``, ``"name"``, ``"state"`` or
    ``"metric"``."""
    stmt = (
        sa.select(*RUN_COLUMNS)
        .select_from(RUN_FROM)
        .where(runs.c.project_id == project_id)
        .limit(limit)
        .offset(offset)
    )
    if sort == "metric" and metric is not None:
        key: sa.ColumnElement[Any] = summary_number(conn, metric)
    elif sort == "name":
        key = runs.c.name
    elif sort == "state":
        key = runs.c.state
    else:
        key = runs.c.created_at
    return [dict(r) for r in conn.execute(_ordered(stmt, key, runs.c.id, descending)).mappings()]


def run_count(conn: Connection, project_id: int) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count()).select_from(runs).where(runs.c.project_id == project_id)
        ).scalar_one()
    )


def list_projects(
    conn: Connection, readable: sa.ColumnElement[bool] | None = None
) -> list[dict[str, Any]]:
    """Every project (or those ``readable`` selects) with its number of runs and artifacts
    and when a run last changed."""
    run_counts = (
        sa.select(
            runs.c.project_id,
            sa.func.count().label("run_count"),
            sa.func.max(runs.c.updated_at).label("updated_at"),
        )
        .group_by(runs.c.project_id)
        .subquery()
    )
    artifact_counts = (
        sa.select(artifacts.c.project_id, sa.func.count().label("artifact_count"))
        .group_by(artifacts.c.project_id)
        .subquery()
    )
    stmt = (
        sa.select(
            projects.c.name,
            projects.c.created_at,
            sa.func.coalesce(run_counts.c.run_count, 0).label("run_count"),
            sa.func.coalesce(artifact_counts.c.artifact_count, 0).label("artifact_count"),
            run_counts.c.updated_at,
        )
        .outerjoin(run_counts, run_counts.c.project_id == projects.c.id)
        .outerjoin(artifact_counts, artifact_counts.c.project_id == projects.c.id)
        .order_by(projects.c.name)
    )
    if readable is not None:
        stmt = stmt.where(readable)
    return [dict(r) for r in conn.execute(stmt).mappings()]
