"""Registries, collections, links (registry versions) and collection aliases."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from modelbay.store.artifacts import VERSION_COLUMNS, VERSION_FROM
from modelbay.store.common import P, dict_rows, insert_ignore, inserted_id, locking, one_value
from modelbay.store.prepared import (
    ForIds,
    Prepared,
    fetch_dict,
    fetch_row,
    fetch_rows,
    fetch_value,
    run,
)
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


_REGISTRY = Prepared(sa.select(registries).where(registries.c.name == P("name")))
_COLLECTION_SELECT = sa.select(collections).where(
    collections.c.registry_id == P("registry_id"), collections.c.name == P("name")
)
_COLLECTION = Prepared(_COLLECTION_SELECT)
_COLLECTION_LOCKED = Prepared(_COLLECTION_SELECT.with_for_update())
_COLLECTION_ID = sa.select(collections.c.id).where(
    collections.c.registry_id == P("registry_id"), collections.c.name == P("name")
)
_TAKE_NUMBER = Prepared(
    collections.update()
    .where(collections.c.id == P("cid"))
    .values(next_version=collections.c.next_version + 1, updated_at=P("now"))
    .returning(collections.c.next_version)
)
_LINK_OF_VERSION = Prepared(
    sa.select(links.c.id).where(
        links.c.collection_id == P("cid"), links.c.artifact_version_id == P("vid")
    )
)
LINK_INSERT_COLUMNS = ("collection_id", "version", "artifact_version_id", "user_id", "created_at")
_INSERT_LINK = Prepared(
    links.insert().values({c: P(c) for c in LINK_INSERT_COLUMNS}).returning(links.c.id)
)
_LINK_BY_INDEX = sa.select(links.c.id).where(
    links.c.collection_id == P("cid"), links.c.version == P("index")
)
_LINK_BY_ALIAS = sa.select(collection_aliases.c.link_id).where(
    collection_aliases.c.collection_id == P("cid"), collection_aliases.c.alias == P("alias")
)
_LINK_ROW = Prepared(sa.select(*LINK_COLUMNS).select_from(LINK_FROM).where(links.c.id == P("lid")))
_FIND_FROM = LINK_FROM.join(collections, collections.c.id == links.c.collection_id).join(
    registries, registries.c.id == collections.c.registry_id
)
_FIND_COLUMNS = (*LINK_COLUMNS, collections.c.registry_id)
_FIND_BY_INDEX = Prepared(
    sa.select(*_FIND_COLUMNS)
    .select_from(_FIND_FROM)
    .where(
        registries.c.name == P("registry"),
        collections.c.name == P("collection"),
        links.c.version == P("index"),
    )
)
_FIND_BY_ALIAS = Prepared(
    sa.select(*_FIND_COLUMNS)
    .select_from(
        # Joined on the alias table's primary key (collection, alias) as well: on the link id
        # alone SQLite walked every link of the collection (3 ms for 10,000 links).
        _FIND_FROM.join(
            collection_aliases,
            (collection_aliases.c.collection_id == collections.c.id)
            & (collection_aliases.c.link_id == links.c.id),
        )
    )
    .where(
        registries.c.name == P("registry"),
        collections.c.name == P("collection"),
        collection_aliases.c.alias == P("alias"),
    )
)
_ALIAS_HOLDER = Prepared(
    sa.select(links.c.id, links.c.version)
    .select_from(collection_aliases.join(links, links.c.id == collection_aliases.c.link_id))
    .where(collection_aliases.c.collection_id == P("cid"), collection_aliases.c.alias == P("alias"))
)
_LINKS_PAGE_SELECT = (
    sa.select(*LINK_COLUMNS)
    .select_from(LINK_FROM)
    .where(links.c.collection_id == P("cid"))
    .order_by(links.c.version.desc())
    .limit(P("limit"))
)
_LINKS_PAGE = Prepared(_LINKS_PAGE_SELECT)
_LINKS_PAGE_BELOW = Prepared(_LINKS_PAGE_SELECT.where(links.c.version < P("below")))
_ALIASES_OF_LINKS = ForIds(
    collection_aliases.c.link_id,
    lambda listed: (
        sa.select(collection_aliases.c.link_id, collection_aliases.c.alias)
        .where(listed)
        .order_by(collection_aliases.c.alias)
    ),
)
_ALIASES_OF_LINK = Prepared(
    sa.select(collection_aliases.c.alias)
    .where(collection_aliases.c.link_id == P("lid"))
    .order_by(collection_aliases.c.alias)
)
_UPSERT_ALIAS = {
    dialect: Prepared(
        dialect.insert(collection_aliases)
        .values(collection_id=P("cid"), alias=P("alias"), link_id=P("lid"))
        .on_conflict_do_update(
            index_elements=["collection_id", "alias"], set_={"link_id": P("lid")}
        )
    )
    for dialect in (sqlite, postgresql)
}


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
    return fetch_dict(conn, _REGISTRY, {"name": name})


def list_registries(
    conn: Connection, readable: sa.ColumnElement[bool] | None = None
) -> list[dict[str, Any]]:
    """Registries with their collection counts; only those ``readable`` selects, if given."""
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
    if readable is not None:
        stmt = stmt.where(readable)
    return dict_rows(conn.execute(stmt))


def ensure_collection(
    conn: Connection, registry_id: int, name: str, type_: str, now: float
) -> bool:
    """Create the collection if missing; returns True when this call created it."""
    if one_value(conn, _COLLECTION_ID, registry_id=registry_id, name=name) is not None:
        return False
    values = {
        "registry_id": registry_id,
        "name": name,
        "type": type_,
        "description": None,
        "next_version": 0,
        "created_at": now,
        "updated_at": now,
    }
    return insert_ignore(conn, collections, values, ["registry_id", "name"]) > 0


def get_collection(
    conn: Connection, registry_id: int, name: str, *, lock: bool = False
) -> dict[str, Any] | None:
    stmt = locking(conn, _COLLECTION, _COLLECTION_LOCKED) if lock else _COLLECTION
    return fetch_dict(conn, stmt, {"registry_id": registry_id, "name": name})


def lock_collection(conn: Connection, collection_id: int) -> None:
    """On PostgreSQL, lock a collection's row (SQLite's write transaction holds the whole
    database). Every change of a collection's links or aliases takes it before any other
    row, so that two changes never wait on each other's rows in opposite orders."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.select(collections.c.id).where(collections.c.id == collection_id).with_for_update()
        )


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
    return dict_rows(conn.execute(stmt))


def update_collection(conn: Connection, collection_id: int, **values: Any) -> None:
    conn.execute(collections.update().where(collections.c.id == collection_id).values(**values))


def take_link_number(conn: Connection, collection_id: int, now: float) -> int:
    """Bump the collection's counter (and its updated time); returns the number taken."""
    return int(fetch_value(conn, _TAKE_NUMBER, {"cid": collection_id, "now": now})) - 1


def link_of_version(conn: Connection, collection_id: int, version_id: int) -> int | None:
    value = fetch_value(conn, _LINK_OF_VERSION, {"cid": collection_id, "vid": version_id})
    return int(value) if value is not None else None


def insert_link(conn: Connection, **values: Any) -> int:
    return int(fetch_value(conn, _INSERT_LINK, values))


def delete_link(conn: Connection, link_id: int) -> None:
    conn.execute(collection_aliases.delete().where(collection_aliases.c.link_id == link_id))
    conn.execute(links.delete().where(links.c.id == link_id))


def link_id_by_index(conn: Connection, collection_id: int, index: int) -> int | None:
    return one_value(conn, _LINK_BY_INDEX, cid=collection_id, index=index)


def link_id_by_alias(conn: Connection, collection_id: int, alias: str) -> int | None:
    return one_value(conn, _LINK_BY_ALIAS, cid=collection_id, alias=alias)


def newest_link(conn: Connection, collection_id: int) -> int | None:
    value = conn.execute(
        sa.select(links.c.id)
        .where(links.c.collection_id == collection_id)
        .order_by(links.c.version.desc())
        .limit(1)
    ).scalar()
    return int(value) if value is not None else None


def find_link(
    conn: Connection,
    registry: str,
    collection: str,
    *,
    index: int | None = None,
    alias: str | None = None,
) -> dict[str, Any] | None:
    """A registry version (with its source version's columns) in one query, or None."""
    if index is not None:
        return fetch_dict(
            conn, _FIND_BY_INDEX, {"registry": registry, "collection": collection, "index": index}
        )
    return fetch_dict(
        conn, _FIND_BY_ALIAS, {"registry": registry, "collection": collection, "alias": alias}
    )


def alias_holder(conn: Connection, collection_id: int, alias: str) -> tuple[int, int] | None:
    """(link id, version number) of the link holding ``alias``, if any."""
    row = fetch_row(conn, _ALIAS_HOLDER, {"cid": collection_id, "alias": alias})
    return (int(row[0]), int(row[1])) if row else None


def link_row(conn: Connection, link_id: int) -> dict[str, Any] | None:
    return fetch_dict(conn, _LINK_ROW, {"lid": link_id})


def list_links(conn: Connection, collection_id: int, *, limit: int, below: int | None) -> list[Any]:
    """Links of a collection, newest first, with the index strictly below ``below``.

    Rows are value sequences in ``LINK_COLUMNS`` order, not dicts: a page holds up to
    10,000 of them, and the service reads each once (see ``services.core.link_infos``).
    """
    params = {"cid": collection_id, "limit": limit, "below": below}
    return fetch_rows(conn, _LINKS_PAGE if below is None else _LINKS_PAGE_BELOW, params)


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
    return dict_rows(conn.execute(stmt))


def aliases_of_links(conn: Connection, link_ids: Iterable[int]) -> dict[int, list[str]]:
    ids = list(link_ids)
    if len(ids) == 1:
        return {ids[0]: [alias for (alias,) in fetch_rows(conn, _ALIASES_OF_LINK, {"lid": ids[0]})]}
    out: dict[int, list[str]] = {i: [] for i in ids}
    for link_id, alias in _ALIASES_OF_LINKS.rows(conn, ids) if ids else ():
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
        upsert_alias(conn, collection_id, alias, link_id)
    return previous


def upsert_alias(conn: Connection, collection_id: int, alias: str, link_id: int) -> None:
    statement = _UPSERT_ALIAS[postgresql if conn.dialect.name == "postgresql" else sqlite]
    run(conn, statement, {"cid": collection_id, "alias": alias, "lid": link_id})


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


def registry_by_id(conn: Connection, registry_id: int) -> dict[str, Any] | None:
    rows = dict_rows(conn.execute(sa.select(registries).where(registries.c.id == registry_id)))
    return rows[0] if rows else None


def collection_name(conn: Connection, collection_id: int) -> str:
    return str(
        conn.execute(
            sa.select(collections.c.name).where(collections.c.id == collection_id)
        ).scalar_one()
    )
