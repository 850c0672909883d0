"""Small SQL helpers shared by the store modules.

Statements on hot paths are built once and reused with bound parameters: building a
SQLAlchemy statement costs more than running it on SQLite (about 30 µs against 15 µs here),
and a registry call runs a dozen of them.

The hottest of them are also :class:`Prepared`: compiled once per dialect and run on the
driver's cursor. SQLAlchemy's execution path (execution context, events, result object)
costs ~40 µs per statement, where SQLite answers an indexed look-up in ~5 µs; a link runs a
dozen statements, so this was most of its time (measured: a resolve's service call went
from 159 µs to about 50). Types are still SQLAlchemy's: its bind and result processors are
applied, and driver errors are raised as SQLAlchemy's exception classes, as
``Connection.execute`` raises them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


# -- prepared statements -------------------------------------------------------------------


@dataclass(slots=True)
class _Compiled:
    sql: str
    #: Parameter names in the order of the placeholders (positional paramstyles), else None.
    order: tuple[str, ...] | None
    defaults: dict[str, Any]
    binds: dict[str, Callable[[Any], Any]]
    keys: tuple[str, ...]
    types: tuple[Any, ...]
    #: (column position, processor) for the result columns whose type converts values;
    #: found on the first execution, as some depend on the driver's type codes.
    results: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None

    def processors(self, dialect: Any, description: Any) -> tuple[tuple[int, Any], ...]:
        if self.results is None:
            found = []
            for position, type_ in enumerate(self.types):
                code = description[position][1] if description else None
                processor = type_._cached_result_processor(dialect, code)
                if processor is not None:
                    found.append((position, processor))
            self.results = tuple(found)
        return self.results


class Prepared:
    """A statement built once at import and compiled once per dialect on first use.

    Only for statements whose SQL does not depend on the parameters (no expanding ``IN``,
    no literal-rendered values): those are refused when first compiled.
    """

    __slots__ = ("statement", "_compiled")

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, conn: Connection) -> _Compiled:
        dialect = conn.dialect
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = self._compile(dialect)
        return found

    def _compile(self, dialect: Any) -> _Compiled:
        compiled: Any = self.statement.compile(dialect=dialect)
        sql = compiled.string
        if "POSTCOMPILE" in sql:
            raise ValueError(f"not a fixed statement (expanding or literal parameters): {sql}")
        return _Compiled(
            sql=sql,
            order=tuple(compiled.positiontup) if compiled.positional else None,
            defaults={k: v for k, v in compiled.params.items() if v is not None},
            binds=dict(compiled._bind_processors),
            keys=tuple(entry.keyname for entry in compiled._result_columns),
            types=tuple(entry.type for entry in compiled._result_columns),
        )


def _execute(conn: Connection, prepared: Prepared, params: Mapping[str, Any]) -> tuple[Any, Any]:
    """Run on the driver's cursor; returns (cursor, compiled form)."""
    c = prepared.compiled(conn)
    values = {**c.defaults, **params} if c.defaults else params
    if c.binds:
        values = {k: (c.binds[k](v) if k in c.binds else v) for k, v in values.items()}
    args: Any = tuple(values[name] for name in c.order) if c.order is not None else values
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(c.sql, args)
    except dbapi.Error as exc:
        cursor.close()
        raise sa.exc.DBAPIError.instance(
            c.sql, args, exc, dbapi.Error, dialect=conn.dialect
        ) from exc
    return cursor, c


def _converted(conn: Connection, cursor: Any, rows: list[Any], c: _Compiled) -> list[Any]:
    processors = c.processors(conn.dialect, cursor.description)
    if not processors:
        return rows
    out = []
    for row in rows:
        values = list(row)
        for position, processor in processors:
            values[position] = processor(values[position])
        out.append(values)
    return out


def fetch_rows(conn: Connection, prepared: Prepared, params: Mapping[str, Any]) -> list[Any]:
    """Every row, as a tuple (or list) of values."""
    cursor, c = _execute(conn, prepared, params)
    try:
        return _converted(conn, cursor, cursor.fetchall(), c)
    finally:
        cursor.close()


def fetch_row(conn: Connection, prepared: Prepared, params: Mapping[str, Any]) -> Any | None:
    """The first row, or None."""
    cursor, c = _execute(conn, prepared, params)
    try:
        row = cursor.fetchone()
        return None if row is None else _converted(conn, cursor, [row], c)[0]
    finally:
        cursor.close()


def fetch_dicts(
    conn: Connection, prepared: Prepared, params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Every row as a dict keyed by column label."""
    keys = prepared.compiled(conn).keys
    return [dict(zip(keys, row, strict=True)) for row in fetch_rows(conn, prepared, params)]


def fetch_dict(
    conn: Connection, prepared: Prepared, params: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The first row as a dict, or None."""
    row = fetch_row(conn, prepared, params)
    return None if row is None else dict(zip(prepared.compiled(conn).keys, row, strict=True))


def fetch_value(conn: Connection, prepared: Prepared, params: Mapping[str, Any]) -> Any:
    """The first column of the first row, or None."""
    row = fetch_row(conn, prepared, params)
    return None if row is None else row[0]


def run(conn: Connection, prepared: Prepared, params: Mapping[str, Any]) -> int:
    """Run a statement that returns no rows; returns the number of rows it changed."""
    cursor, _ = _execute(conn, prepared, params)
    try:
        return int(cursor.rowcount)
    finally:
        cursor.close()
