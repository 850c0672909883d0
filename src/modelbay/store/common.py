"""Small SQL helpers shared by the store modules: conflict-free inserts and upserts, row
locks, rows as dicts. Statements on hot paths are built once at import and reused with bound
parameters; the hottest run through :mod:`modelbay.store.prepared`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

_CACHE: dict[tuple[Any, ...], Any] = {}


def _dialect(conn: Connection) -> Any:
    return postgresql if conn.dialect.name == "postgresql" else sqlite


def _ignore_stmt(conn: Connection, table: sa.Table, keys: tuple[str, ...]) -> Any:
    key = ("ignore", conn.dialect.name, table.name, keys)
    stmt = _CACHE.get(key)
    if stmt is None:
        stmt = _dialect(conn).insert(table).on_conflict_do_nothing(index_elements=list(keys))
        _CACHE[key] = stmt
    return stmt


def _upsert_stmt(
    conn: Connection, table: sa.Table, keys: tuple[str, ...], update: tuple[str, ...]
) -> Any:
    key = ("upsert", conn.dialect.name, table.name, keys, update)
    stmt = _CACHE.get(key)
    if stmt is None:
        ins = _dialect(conn).insert(table)
        stmt = ins.on_conflict_do_update(
            index_elements=list(keys), set_={c: ins.excluded[c] for c in update}
        )
        _CACHE[key] = stmt
    return stmt


def insert_ignore(
    conn: Connection, table: sa.Table, values: dict[str, Any], keys: list[str]
) -> int:
    """INSERT that does nothing when a row with the same ``keys`` exists (no race, no error).

    Returns the number of rows inserted (0 or 1).
    """
    # psycopg reports -1 for an INSERT's rowcount unless asked to keep it.
    result = conn.execute(
        _ignore_stmt(conn, table, tuple(keys)),
        values,
        execution_options={"preserve_rowcount": True},
    )
    return max(0, int(result.rowcount or 0))


def upsert(
    conn: Connection,
    table: sa.Table,
    values: dict[str, Any] | list[dict[str, Any]],
    keys: list[str],
    update: list[str],
) -> None:
    """INSERT, or UPDATE the ``update`` columns of the row with the same ``keys`` (a list of
    rows goes in one executemany)."""
    conn.execute(_upsert_stmt(conn, table, tuple(keys), tuple(update)), values)


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The primary key an INSERT produced."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def for_update(conn: Connection, stmt: sa.Select[Any]) -> sa.Select[Any]:
    """Row-lock the selected rows on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises."""
    return stmt.with_for_update() if conn.dialect.name == "postgresql" else stmt


def locking(conn: Connection, plain: Any, locked: Any) -> Any:
    """Of two prebuilt statements, the row-locking one on PostgreSQL."""
    return locked if conn.dialect.name == "postgresql" else plain


def one_value(conn: Connection, stmt: Any, **params: Any) -> int | None:
    """The first column of the first row as an int, or None."""
    value = conn.execute(stmt, params).scalar()
    return int(value) if value is not None else None


def dict_rows(result: Any) -> list[dict[str, Any]]:
    """Every row as a dict; the keys are read once (``dict(row_mapping)`` reads them per row,
    which costs more than the query for a page of thousands)."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.fetchall()]


P = sa.bindparam
