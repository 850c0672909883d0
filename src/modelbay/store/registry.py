"""Registries, collections, links (registry versions) and collection aliases."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelbay.store.artifacts import VERSION_COLUMNS, VERSION_FROM
from modelbay.store.common import for_update, insert_ignore, inserted_id, upsert
from modelbay.store.schema import (
    artifact_versions,
    collection_aliases,
    collections,
    links,
    registries,
    tags,
    users,
)

link_users = users.alias("link_users")

LINK_COLUMNS = (
    *VERSION_COLUMNS,
    links.c.id.label("link_id"),
    links.c.collection_id,
    links.c.version.label("link_index"),
    links.c.created_at.label("linked_at"),
    link_users.c.name.label("linked_by"),
)
LINK_FROM = links.join(VERSION_FROM, artifact_versions.c.id == links.c.artifact_version_id).join(
    link_users, link_users.c.id == links.c.user_id
)


def ensure_registry(
    conn: Connection,
    name: str,
    description: str | None,
    artifact_types: list[str] | None,
    now: float,
) -> None:
    insert_ignore(
        conn,
        registries,
        {
            "name": name,
            "description": description,
            "artifact_types": artifact_types,
            "visibility": "organization",
            "created_at": now,
        },
        ["name"],
    )


def insert_registry(conn: Connection, **values: Any) -> int:
    return inserted_id(conn.execute(registries.insert().values(**values)))


def get_registry(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(registries).where(registries.c.name == name)).mappings().first()
    return dict(row) if row else None


def list_registries(conn: Connection) -> list[dict[str, Any]]:
    counts = (
        sa.select(collections.c.registry_id, sa.func.count().label("collection_count"))
        .group_by(collections.c.registry_id)
        .subquery()
    )
    stmt = (
        sa.select(
            registries, sa.func.coalesce(counts.c.collection_count, 0).label("collection_count")
        )
        .outerjoin(counts, counts.c.registry_id == registries.c.id)
        .order_by(registries.c.id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def ensure_collection(
    conn: Connection, registry_id: int, name: str, type_: str, now: float
) -> bool:
    """Create the collection if missing; returns True when this call created it."""
    result = conn.execute(
        sa.select(collections.c.id).where(
            collections.c.registry_id == registry_id, collections.c.name == name
        )
    ).first()
    if result is not None:
        return False
    return (
        insert_ignore(
            conn,
            collections,
            {
                "registry_id": registry_id,
                "name": name,
                "type": type_,
                "description": None,
                "next_version": 0,
                "created_at": now,
                "updated_at": now,
            },
            ["registry_id", "name"],
        )
        > 0
    )


def get_collection(
    conn: Connection, registry_id: int, name: str, *, lock: bool = False
) -> dict[str, Any] | None:
    stmt = sa.select(collections).where(
        collections.c.registry_id == registry_id, collections.c.name == name
    )
    if lock:
        stmt = for_update(conn, stmt)
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def list_collections(conn: Connection, registry_id: int, query: str | None) -> list[dict[str, Any]]:
    counts = (
        sa.select(
            links.c.collection_id,
            sa.func.count().label("version_count"),
            sa.func.max(links.c.created_at).label("last_linked_at"),
        )
        .group_by(links.c.collection_id)
        .subquery()
    )
    stmt = (
        sa.select(
            collections,
            sa.func.coalesce(counts.c.version_count, 0).label("version_count"),
            counts.c.last_linked_at,
        )
        .outerjoin(counts, counts.c.collection_id == collections.c.id)
        .where(collections.c.registry_id == registry_id)
        .order_by(collections.c.name)
    )
    if query:
        pattern = f"%{query.lower()}%"
        tagged = sa.select(tags.c.target_id).where(
            tags.c.kind == "collection", sa.func.lower(tags.c.tag).like(pattern)
        )
        aliased = sa.select(collection_aliases.c.collection_id).where(
            sa.func.lower(collection_aliases.c.alias).like(pattern)
        )
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(collections.c.name).like(pattern),
                sa.func.lower(sa.func.coalesce(collections.c.description, "")).like(pattern),
                collections.c.id.in_(tagged),
                collections.c.id.in_(aliased),
            )
        )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def update_collection(conn: Connection, collection_id: int, **values: Any) -> None:
    conn.execute(collections.update().where(collections.c.id == collection_id).values(**values))


def take_link_number(conn: Connection, collection_id: int) -> int:
    return int(
        conn.execute(
            collections.update()
            .where(collections.c.id == collection_id)
            .values(next_version=collections.c.next_version + 1)
            .returning(collections.c.next_version)
        ).scalar_one()
        - 1
    )


def link_of_version(conn: Connection, collection_id: int, version_id: int) -> int | None:
    value = conn.execute(
        sa.select(links.c.id).where(
            links.c.collection_id == collection_id, links.c.artifact_version_id == version_id
        )
    ).scalar()
    return int(value) if value is not None else None


def insert_link(conn: Connection, **values: Any) -> int:
    return inserted_id(conn.execute(links.insert().values(**values)))


def delete_link(conn: Connection, link_id: int) -> None:
    conn.execute(collection_aliases.delete().where(collection_aliases.c.link_id == link_id))
    conn.execute(links.delete().where(links.c.id == link_id))


def link_id_by_index(conn: Connection, collection_id: int, index: int) -> int | None:
    value = conn.execute(
        sa.select(links.c.id).where(
            links.c.collection_id == collection_id, links.c.version == index
        )
    ).scalar()
    return int(value) if value is not None else None


def link_id_by_alias(conn: Connection, collection_id: int, alias: str) -> int | None:
    value = conn.execute(
        sa.select(collection_aliases.c.link_id).where(
            collection_aliases.c.collection_id == collection_id, collection_aliases.c.alias == alias
        )
    ).scalar()
    return int(value) if value is not None else None


def newest_link(conn: Connection, collection_id: int) -> int | None:
    value = conn.execute(
        sa.select(links.c.id)
        .where(links.c.collection_id == collection_id)
        .order_by(links.c.version.desc())
        .limit(1)
    ).scalar()
    return int(value) if value is not None else None


def link_row(conn: Connection, link_id: int) -> dict[str, Any] | None:
    row = (
        conn.execute(sa.select(*LINK_COLUMNS).select_from(LINK_FROM).where(links.c.id == link_id))
        .mappings()
        .first()
    )
    return dict(row) if row else None


def list_links(
    conn: Connection, collection_id: int, *, limit: int, below: int | None
) -> list[dict[str, Any]]:
    """Links of a collection, newest first, with the index strictly below ``below``."""
    stmt = (
        sa.select(*LINK_COLUMNS)
        .select_from(LINK_FROM)
        .where(links.c.collection_id == collection_id)
        .order_by(links.c.version.desc())
        .limit(limit)
    )
    if below is not None:
        stmt = stmt.where(links.c.version < below)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def links_of_versions(conn: Connection, version_ids: Iterable[int]) -> list[dict[str, Any]]:
    """Every link of the given artifact versions, with their registry and collection names."""
    ids = list(version_ids)
    if not ids:
        return []
    stmt = (
        sa.select(
            links.c.id,
            links.c.artifact_version_id,
            links.c.version,
            collections.c.name.label("collection"),
            registries.c.name.label("registry"),
        )
        .join(collections, collections.c.id == links.c.collection_id)
        .join(registries, registries.c.id == collections.c.registry_id)
        .where(links.c.artifact_version_id.in_(ids))
        .order_by(links.c.id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def aliases_of_links(conn: Connection, link_ids: Iterable[int]) -> dict[int, list[str]]:
    ids = list(link_ids)
    out: dict[int, list[str]] = {i: [] for i in ids}
    for start in range(0, len(ids), 900):
        rows = conn.execute(
            sa.select(collection_aliases.c.link_id, collection_aliases.c.alias)
            .where(collection_aliases.c.link_id.in_(ids[start : start + 900]))
            .order_by(collection_aliases.c.alias)
        )
        for link_id, alias in rows:
            out[link_id].append(alias)
    return out


def aliases_of_collection(conn: Connection, collection_id: int) -> dict[int, list[str]]:
    """All aliases of one collection, grouped by link id (one query for any size)."""
    out: dict[int, list[str]] = {}
    rows = conn.execute(
        sa.select(collection_aliases.c.link_id, collection_aliases.c.alias)
        .where(collection_aliases.c.collection_id == collection_id)
        .order_by(collection_aliases.c.alias)
    )
    for link_id, alias in rows:
        out.setdefault(link_id, []).append(alias)
    return out


def set_alias(conn: Connection, collection_id: int, alias: str, link_id: int) -> int | None:
    previous = link_id_by_alias(conn, collection_id, alias)
    if previous != link_id:
        upsert(
            conn,
            collection_aliases,
            {"collection_id": collection_id, "alias": alias, "link_id": link_id},
            ["collection_id", "alias"],
            ["link_id"],
        )
    return previous


def remove_alias(conn: Connection, collection_id: int, alias: str) -> None:
    conn.execute(
        collection_aliases.delete().where(
            collection_aliases.c.collection_id == collection_id, collection_aliases.c.alias == alias
        )
    )


def link_count(conn: Connection, collection_id: int) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(links)
            .where(links.c.collection_id == collection_id)
        ).scalar_one()
    )
