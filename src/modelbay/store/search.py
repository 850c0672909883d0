"""Searches of the public API: runs of a project, registries, their collections and their
versions, filtered with W&B's operators (:mod:`modelbay.store.filters`) and paged by keyset.

Every query takes the caller's read rule as a clause (``readable``), so that what the caller
may not read is never fetched and pages are never short. One query per page, with one more
row than asked for to know whether another page follows.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelbay.errors import InvalidFilterError
from modelbay.store import filters as f
from modelbay.store import tags as tag_store
from modelbay.store.registry import LINK_COLUMNS, LINK_FROM
from modelbay.store.runs import RUN_COLUMNS, RUN_FROM
from modelbay.store.schema import (
    artifact_versions,
    artifacts,
    collection_aliases,
    collections,
    links,
    registries,
    runs,
    tags,
    users,
)

SORT = "_sort"


def _tags_of(kind: str, owner: sa.ColumnElement[Any]) -> f.Members:
    return f.Members(
        tags.c.tag,
        lambda cond: sa.exists(
            sa.select(1).where(tags.c.kind == kind, tags.c.target_id == owner, cond)
        ),
    )


def _json_list(column: sa.ColumnElement[Any], dialect: str) -> f.Members:
    """The strings of a JSON array column as a set (a run's tags)."""
    func = sa.func.json_array_elements_text if dialect == "postgresql" else sa.func.json_each
    items = func(column).table_valued("value").alias("items")
    return f.Members(
        items.c.value, lambda cond: sa.exists(sa.select(1).select_from(items).where(cond))
    )


def run_fields(dialect: str) -> f.Fields:
    """W&B's run filter names (``display_name``, ``createdAt`` ...) and modelbay's own."""
    created = f.Column(runs.c.created_at, "time")
    return f.Fields(
        columns={
            "name": f.Column(runs.c.run_id),
            "id": f.Column(runs.c.run_id),
            "display_name": f.Column(runs.c.name),
            "displayName": f.Column(runs.c.name),
            "state": f.Column(runs.c.state),
            "notes": f.Column(runs.c.notes),
            "job_type": f.Column(runs.c.job_type),
            "jobType": f.Column(runs.c.job_type),
            "username": f.Column(users.c.name),
            "user": f.Column(users.c.name),
            "tags": _json_list(runs.c.tags, dialect),
            "created_at": created,
            "createdAt": created,
            "updated_at": f.Column(runs.c.updated_at, "time"),
            "updatedAt": f.Column(runs.c.updated_at, "time"),
            "heartbeat_at": f.Column(runs.c.heartbeat_at, "time"),
            "heartbeatAt": f.Column(runs.c.heartbeat_at, "time"),
            "finished_at": f.Column(runs.c.finished_at, "time"),
            "exit_code": f.Column(runs.c.exit_code, "number"),
            # Seconds from start to finish (to the last heartbeat while it runs).
            "duration": f.Column(
                sa.func.coalesce(runs.c.finished_at, runs.c.heartbeat_at, runs.c.updated_at)
                - runs.c.created_at,
                "number",
            ),
            "host": f.Column(f.json_text(runs.c.system, ["host"], dialect)),
            "group": f.Column(runs.c.group),
            # init(entity=) keeps it among the run's system facts.
            "entity": f.Column(f.json_text(runs.c.system, ["entity"], dialect)),
        },
        json={
            "config": f.Json(runs.c.config, strip_value=True),
            "summary_metrics": f.Json(runs.c.summary),
            "summary": f.Json(runs.c.summary),
            "system": f.Json(runs.c.system),
        },
        aside={"sweep": "modelbay has no sweeps"},
    )


def registry_fields() -> f.Fields:
    return f.Fields(
        columns={
            "name": f.Column(registries.c.name),
            "description": f.Column(registries.c.description),
            "created_at": f.Column(registries.c.created_at, "time"),
            "visibility": f.Column(registries.c.visibility),
        },
        aside={"updated_at": "modelbay does not keep when a registry was last changed"},
    )


def collection_fields() -> f.Fields:
    tag = _tags_of(tag_store.COLLECTION, collections.c.id)
    return f.Fields(
        columns={
            "name": f.Column(collections.c.name),
            "type": f.Column(collections.c.type),
            "description": f.Column(collections.c.description),
            "tag": tag,
            "tags": tag,
            "created_at": f.Column(collections.c.created_at, "time"),
            "updated_at": f.Column(collections.c.updated_at, "time"),
        }
    )


def version_fields() -> f.Fields:
    tag = _tags_of(tag_store.VERSION, artifact_versions.c.id)
    alias = f.Members(
        collection_aliases.c.alias,
        lambda cond: sa.exists(
            sa.select(1).where(collection_aliases.c.link_id == links.c.id, cond)
        ),
    )
    linked = f.Column(links.c.created_at, "time")
    return f.Fields(
        columns={
            "tag": tag,
            "tags": tag,
            "alias": alias,
            "aliases": alias,
            "created_at": linked,
            "linked_at": linked,
            "committed_at": f.Column(artifact_versions.c.created_at, "time"),
            "description": f.Column(artifact_versions.c.description),
            "type": f.Column(artifacts.c.type),
            "source_name": f.Column(artifacts.c.name),
            "digest": f.Column(artifact_versions.c.digest),
            "size": f.Column(artifact_versions.c.size, "number"),
            "file_count": f.Column(artifact_versions.c.file_count, "number"),
            "version": f.Column(links.c.version, "number"),
        },
        json={"metadata": f.Json(artifact_versions.c.metadata, contained=True)},
        aside={"updated_at": "a registry version keeps when it was linked: use created_at"},
    )


def _page(
    conn: Connection,
    stmt: sa.Select[Any],
    sort: sa.ColumnElement[Any],
    tiebreak: sa.ColumnElement[Any],
    descending: bool,
    limit: int,
    token: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of ``stmt`` in keyset order, and the token of the next (None: the last)."""
    stmt = stmt.add_columns(sort.label(SORT), tiebreak.label("_tiebreak"))
    if token:
        stmt = stmt.where(f.page_after(sort, tiebreak, descending, token))
    stmt = f.ordered(stmt, sort, tiebreak, descending).limit(limit + 1)
    rows = [dict(r) for r in conn.execute(stmt).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    next_token = f.encode_token(rows[-1][SORT], int(rows[-1]["_tiebreak"])) if more else None
    return rows, next_token


def search_runs(
    conn: Connection,
    project_id: int,
    where: sa.ColumnElement[bool],
    order: str,
    limit: int,
    token: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    dialect = conn.dialect.name
    sort, descending = f.order_by(run_fields(dialect), order, dialect)
    stmt = (
        sa.select(*RUN_COLUMNS).select_from(RUN_FROM).where(runs.c.project_id == project_id, where)
    )
    return _page(conn, stmt, sort, runs.c.id, descending, limit, token)


#: W&B's order fields of each search (``+name``, ``-created_at``), as filter field names.
REGISTRY_ORDERS = ("name", "created_at", "description", "visibility")
COLLECTION_ORDERS = ("name", "created_at", "updated_at", "type", "description")
VERSION_ORDERS = {
    "created_at": "committed_at",  # W&B: the artifact's creation (artifact_created_at)
    "artifact_created_at": "committed_at",
    "artifact_size": "size",
    "size": "size",
    "linked_at": "linked_at",
    "acm_created_at": "linked_at",
    "version": "version",
}


def _sort(
    fields: f.Fields, order: str | None, allowed: dict[str, str], default: sa.ColumnElement[Any]
) -> tuple[sa.ColumnElement[Any], bool]:
    """The column and direction of W&B's ``order`` among ``allowed`` ({W&B name: field});
    None: ``default``, ascending.

    Raises:
        InvalidFilterError: a field not in ``allowed``.
    """
    if order is None or not order.strip():
        return default, False
    text = order.strip()
    name = text.lstrip("+-").strip()
    if name not in allowed:
        raise InvalidFilterError(
            f"cannot order by {name!r}: use one of {', '.join(sorted(allowed))}", {"at": "order"}
        )
    column = fields.columns[allowed[name]]
    assert isinstance(column, f.Column)
    return column.expr, text.startswith("-")


def search_registries(
    conn: Connection,
    where: sa.ColumnElement[bool],
    readable: sa.ColumnElement[bool] | None,
    limit: int,
    token: str | None,
    order: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Registries in W&B's ``order`` (by id when None)."""
    allowed = {name: name for name in REGISTRY_ORDERS}
    sort, descending = _sort(registry_fields(), order, allowed, registries.c.id)
    stmt = sa.select(registries).where(where)
    if readable is not None:
        stmt = stmt.where(readable)
    return _page(conn, stmt, sort, registries.c.id, descending, limit, token)


_COLLECTION_FROM = collections.join(registries, registries.c.id == collections.c.registry_id)


def search_collections(
    conn: Connection,
    where: sa.ColumnElement[bool],
    readable: sa.ColumnElement[bool] | None,
    limit: int,
    token: str | None,
    order: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Collections in W&B's ``order`` (by id when None)."""
    allowed = {name: name for name in COLLECTION_ORDERS}
    sort, descending = _sort(collection_fields(), order, allowed, collections.c.id)
    stmt = (
        sa.select(collections, registries.c.name.label("registry"))
        .select_from(_COLLECTION_FROM)
        .where(where)
    )
    if readable is not None:
        stmt = stmt.where(readable)
    return _page(conn, stmt, sort, collections.c.id, descending, limit, token)


def search_links(
    conn: Connection,
    where: sa.ColumnElement[bool],
    readable: sa.ColumnElement[bool] | None,
    limit: int,
    token: str | None,
    order: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Registry versions (links) in W&B's ``order``; when None, newest link first."""
    sort: sa.ColumnElement[Any] = links.c.id
    if order is None or not order.strip():
        descending = True
    else:
        sort, descending = _sort(version_fields(), order, VERSION_ORDERS, links.c.id)
    stmt = (
        sa.select(
            *LINK_COLUMNS,
            collections.c.name.label("collection"),
            registries.c.name.label("registry"),
        )
        .select_from(
            LINK_FROM.join(collections, collections.c.id == links.c.collection_id).join(
                registries, registries.c.id == collections.c.registry_id
            )
        )
        .where(where)
    )
    if readable is not None:
        stmt = stmt.where(readable)
    return _page(conn, stmt, sort, links.c.id, descending, limit, token)


def search_artifact_versions(
    conn: Connection, artifact_id: int, where: sa.ColumnElement[bool], limit: int, token: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Versions of one project artifact, newest first (``api.artifacts(type, name, tags=)``)."""
    from modelbay.store.artifacts import VERSION_COLUMNS, VERSION_FROM

    stmt = (
        sa.select(*VERSION_COLUMNS)
        .select_from(VERSION_FROM)
        .where(
            artifact_versions.c.artifact_id == artifact_id,
            artifact_versions.c.deleted_at.is_(None),
            where,
        )
    )
    return _page(
        conn, stmt, artifact_versions.c.version, artifact_versions.c.version, True, limit, token
    )


def artifact_version_fields() -> f.Fields:
    tag = _tags_of(tag_store.VERSION, artifact_versions.c.id)
    return f.Fields(
        columns={
            "tag": tag,
            "tags": tag,
            "created_at": f.Column(artifact_versions.c.created_at, "time"),
            "description": f.Column(artifact_versions.c.description),
            "version": f.Column(artifact_versions.c.version, "number"),
        },
        json={"metadata": f.Json(artifact_versions.c.metadata, contained=True)},
    )


def _counts(conn: Connection, column: sa.Column[Any], ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    stmt = (
        sa.select(column, sa.func.count())
        .select_from(column.table)
        .where(column.in_(ids))
        .group_by(column)
    )
    found = {int(key): int(n) for key, n in conn.execute(stmt)}
    return {i: found.get(i, 0) for i in ids}


def version_counts(conn: Connection, collection_ids: list[int]) -> dict[int, int]:
    """Linked versions per collection of a page, in one grouped query."""
    return _counts(conn, links.c.collection_id, collection_ids)


def collection_counts(conn: Connection, registry_ids: list[int]) -> dict[int, int]:
    """Collections per registry of a page, in one grouped query."""
    return _counts(conn, collections.c.registry_id, registry_ids)
