"""Tags on collections and artifact versions (one table, keyed by kind and target id)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelbay.store.common import P, insert_ignore
from modelbay.store.prepared import ForIds, Prepared, fetch_rows
from modelbay.store.schema import tags

COLLECTION = "collection"
VERSION = "artifact_version"


_TAGS_OF = ForIds(
    tags.c.target_id,
    lambda listed: sa.select(tags.c.target_id, tags.c.tag)
    .where(tags.c.kind == P("kind"), listed)
    .order_by(tags.c.tag),
)


_TAGS_OF_ONE = Prepared(
    sa.select(tags.c.tag)
    .where(tags.c.kind == P("kind"), tags.c.target_id == P("id"))
    .order_by(tags.c.tag)
)


def tags_of(conn: Connection, kind: str, ids: Iterable[int]) -> dict[int, list[str]]:
    wanted = list(ids)
    if len(wanted) == 1:
        rows = fetch_rows(conn, _TAGS_OF_ONE, {"kind": kind, "id": wanted[0]})
        return {wanted[0]: [tag for (tag,) in rows]}
    out: dict[int, list[str]] = {i: [] for i in wanted}
    if not wanted:
        return out
    rows = _TAGS_OF.rows(conn, wanted, kind=kind)
    for target_id, tag in rows:
        out[target_id].append(tag)
    return out


def add_tag(conn: Connection, kind: str, target_id: int, tag: str) -> None:
    insert_ignore(
        conn, tags, {"kind": kind, "target_id": target_id, "tag": tag}, ["kind", "target_id", "tag"]
    )


def remove_tag(conn: Connection, kind: str, target_id: int, tag: str) -> None:
    conn.execute(
        tags.delete().where(tags.c.kind == kind, tags.c.target_id == target_id, tags.c.tag == tag)
    )
