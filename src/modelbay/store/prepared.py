"""Prepared statements: the hottest store statements compiled once per dialect and run on
the driver's cursor, past SQLAlchemy's per-execution path.

This works around SQLAlchemy's execution context, events and result objects, which cost
more than SQLite's answer to an indexed look-up, and a registry call runs a dozen
statements. It reads SQLAlchemy's private compiler attributes (``_bind_processors``,
``_result_columns``, ``_cached_result_processor``), so SQLAlchemy has an upper version
bound in pyproject.toml. It stays because of one figure: ``bench/registry.py``'s link,
which must be at least 5x faster than MLflow's and was 4.0x without it (its service call
costs 2.5 times the CPU through ``Connection.execute``). Types are still SQLAlchemy's: its
bind and result processors are applied, and driver errors are raised as SQLAlchemy's
exception classes, as ``Connection.execute`` raises them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


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


class ForIds:
    """A statement over a list of ids passed as one parameter ``ids``, so that it is
    compiled once whatever their number: an expanding ``IN`` renders one placeholder per id,
    and for a page of 1,000 versions compiling it cost more than running it. The ids go as
    a JSON array on SQLite (``json_each``) and as an array on PostgreSQL (``= ANY``).

    ``build`` makes the statement from the condition "``column`` is one of the ids".
    """

    __slots__ = ("_by_dialect",)

    def __init__(
        self, column: sa.ColumnElement[Any], build: Callable[[sa.ColumnElement[bool]], Any]
    ) -> None:
        from sqlalchemy.dialects import postgresql

        listed: sa.Select[Any] = sa.select(sa.column("value")).select_from(
            sa.func.json_each(sa.bindparam("ids", type_=sa.Text))
        )
        array = sa.bindparam("ids", type_=postgresql.ARRAY(sa.BigInteger))
        self._by_dialect = {
            "sqlite": Prepared(build(column.in_(listed))),
            "postgresql": Prepared(build(column == sa.any_(array))),
        }

    def rows(self, conn: Connection, ids: list[int], **params: Any) -> list[Any]:
        """Every row for ``ids`` (and the statement's other ``params``)."""
        if conn.dialect.name == "sqlite":
            return fetch_rows(conn, self._by_dialect["sqlite"], {**params, "ids": json.dumps(ids)})
        return fetch_rows(conn, self._by_dialect["postgresql"], {**params, "ids": ids})
