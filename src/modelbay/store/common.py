"""Small SQL helpers shared by the store modules."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def insert_ignore(
    conn: Connection, table: sa.Table, values: dict[str, Any], keys: list[str]
) -> int:
    """INSERT that does nothing when a row with the same ``keys`` exists (no race, no error).

    Returns the number of rows inserted (0 or 1).
    """
    if conn.dialect.name == "postgresql":
        stmt: Any = (
            postgresql.insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
        )
    else:
        stmt = sqlite.insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
    # psycopg reports -1 for an INSERT's rowcount unless asked to keep it.
    return max(
        0, int(conn.execute(stmt, execution_options={"preserve_rowcount": True}).rowcount or 0)
    )


def upsert(
    conn: Connection, table: sa.Table, values: dict[str, Any], keys: list[str], update: list[str]
) -> None:
    """INSERT, or UPDATE the ``update`` columns of the row with the same ``keys``."""
    ins: Any = (
        (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table).values(**values)
    )
    conn.execute(
        ins.on_conflict_do_update(index_elements=keys, set_={c: ins.excluded[c] for c in update})
    )


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The primary key an INSERT produced."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def for_update(conn: Connection, stmt: sa.Select[Any]) -> sa.Select[Any]:
    """Row-lock the selected rows on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises."""
    return stmt.with_for_update() if conn.dialect.name == "postgresql" else stmt
