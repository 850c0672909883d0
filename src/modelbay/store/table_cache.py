"""A columnar cache of parsed tables: one SQLite file per table file's sha256.

A table file is immutable (named by its digest), so it is parsed once, whichever version,
run or replica asks for it, and every page after that is a query: each column becomes a
SQL column holding a sortable, filterable scalar of its cell, beside the row's cells as JSON
for display. Requests for a table are answered from the rows just parsed (its first page,
or a first page sorted by a column) while a background thread builds its file (under a temporary name, then moved into place, so that
two workers building the same table at once both end with a whole file). The cache is
bounded: after a build, the least recently opened files go until the rest fit.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import math
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("modelbay.tables")

#: Comparison operators of a filter clause, as SQL.
OPERATORS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
#: A temporary file older than this (seconds) is left from a build that died.
STALE_BUILD_S = 3600
#: Rows inserted per statement batch while building.
BATCH = 5000
#: The deepest sorted page a table being cached answers from memory.
MAX_FRESH_SORTED = 5000


@dataclass(frozen=True)
class Parsed:
    """A table as parsed from its file: column names, a type name per column, the rows."""

    columns: list[str]
    types: list[str]
    rows: Iterable[list[Any]]


@dataclass(frozen=True)
class Clause:
    """One condition of a filter: column index, operator (``=``, ``!=``, ``<``, ``<=``,
    ``>``, ``>=`` or ``contains``) and the value compared with."""

    column: int
    op: str
    value: str | float | int | None


def sortable(cell: Any) -> Any:
    """The scalar a cell sorts and filters by: numbers and text as they are, a bool as 0/1,
    an image by its caption (else its path), anything else as its JSON text."""
    if cell is None or isinstance(cell, str | int):
        return int(cell) if isinstance(cell, bool) else cell
    if isinstance(cell, float):
        return None if math.isnan(cell) else cell
    if isinstance(cell, dict) and cell.get("_type") == "image-file":
        return cell.get("caption") or cell.get("path")
    return json.dumps(cell, separators=(",", ":"), sort_keys=True)


class CachedTable:
    """A table in the cache, read through its own connection per call."""

    def __init__(self, path: Path, columns: list[str], types: list[str], count: int) -> None:
        self.path = path
        self.columns = columns
        self.types = types
        self.count = count

    def connect(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True)

    @staticmethod
    def _where(clauses: list[Clause]) -> tuple[str, list[Any]]:
        parts: list[str] = []
        params: list[Any] = []
        for c in clauses:
            col = f"c{c.column}"
            if c.op == "contains":
                parts.append(f"instr(lower(CAST({col} AS TEXT)), lower(?)) > 0")
                params.append(str(c.value))
            elif c.value is None:
                parts.append(f"{col} IS {'NOT ' if c.op == '!=' else ''}NULL")
            elif c.op in ("=", "!=") and isinstance(c.value, int | float):
                # a number given may match a number cell or the same text in a text cell
                neg = "NOT " if c.op == "!=" else ""
                parts.append(f"{neg}({col} = ? OR {col} = ?)")
                params += [c.value, _text(c.value)]
            else:
                parts.append(f"{col} {OPERATORS[c.op]} ?")
                params.append(c.value)
        return (" WHERE " + " AND ".join(parts)) if parts else "", params

    def page(
        self,
        clauses: list[Clause],
        sort: int | None,
        descending: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[tuple[int, bytes]], int]:
        """``([(row index, row JSON)], rows matching)`` of one page."""
        where, params = self._where(clauses)
        order = "rowid"
        if sort is not None:
            direction = "DESC" if descending else "ASC"
            # missing values last either way; ties keep the table's order
            order = f"c{sort} IS NULL, c{sort} {direction}, rowid"
        with self.connect() as conn:
            total = (
                self.count
                if not clauses
                else conn.execute(f"SELECT count(*) FROM t{where}", params).fetchone()[0]
            )
            # the sort keeps row ids only (a deep page sorts no row text), then the page's
            # rows are read by id
            ids = [
                r[0]
                for r in conn.execute(
                    f"SELECT rowid FROM t{where} ORDER BY {order} LIMIT ? OFFSET ?",
                    [*params, limit, offset],
                )
            ]
            marks = ",".join("?" * len(ids))
            found = dict(
                conn.execute(f"SELECT rowid, row FROM t WHERE rowid IN ({marks})", ids).fetchall()
            )
        rows = [(i - 1, found[i]) for i in ids]
        return rows, int(total)

    def rows_for(self, column: int, keys: list[Any]) -> dict[Any, bytes]:
        """The first row of each of ``keys`` in column ``column``, by key."""
        found: dict[Any, bytes] = {}
        if not keys:
            return found
        marks = ",".join("?" * len(keys))
        with self.connect() as conn:
            for key, row in conn.execute(
                f"SELECT c{column}, row FROM t WHERE c{column} IN ({marks}) ORDER BY rowid", keys
            ):
                found.setdefault(key, row)
        return found


class FreshTable:
    """A table just parsed, while the cache builds: its first rows, unsorted and unfiltered,
    and the first pages sorted by a column (a partial sort of the rows in memory, in
    SQLite's order), come from memory; anything filtered, or sorted deeper than
    :data:`MAX_FRESH_SORTED` rows, waits for the cached table, so that filtering has one
    meaning (SQLite's)."""

    def __init__(
        self,
        columns: list[str],
        types: list[str],
        rows: list[list[Any]],
        cached: Callable[[], CachedTable],
    ) -> None:
        self.columns = columns
        self.types = types
        self.count = len(rows)
        self._rows = rows
        self._cached = cached

    def page(
        self,
        clauses: list[Clause],
        sort: int | None,
        descending: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[tuple[int, bytes]], int]:
        if clauses or (sort is not None and offset + limit > MAX_FRESH_SORTED):
            return self._cached().page(clauses, sort, descending, offset, limit)
        if sort is None:
            found = self._rows[offset : offset + limit]
            return [(offset + i, orjson.dumps(r)) for i, r in enumerate(found)], self.count
        ids = top_rows(self._rows, sort, descending, offset + limit)[offset:]
        return [(i, orjson.dumps(self._rows[i])) for i in ids], self.count

    def rows_for(self, column: int, keys: list[Any]) -> dict[Any, bytes]:
        return self._cached().rows_for(column, keys)

    def cached(self) -> CachedTable:
        """The cached table, once its file is built (waits for it)."""
        return self._cached()


def _order(value: Any) -> tuple[int, Any]:
    """A :func:`sortable` value's place in SQLite's order: numbers, then text (both
    ascending; a text's UTF-8 bytes compare as its code points do), missing values apart."""
    if value is None:
        return (2, 0)
    return (1, value) if isinstance(value, str) else (0, value)


def top_rows(rows: list[list[Any]], column: int, descending: bool, n: int) -> list[int]:
    """The indices of the first ``n`` rows sorted by ``column`` as the cached table sorts
    them (``c IS NULL, c ASC|DESC, rowid``): missing values last, ties in table order."""
    values = [sortable(row[column]) for row in rows]
    present = [i for i, v in enumerate(values) if v is not None]
    kinds = {type(values[i]) for i in present}
    if kinds <= {int, float} or kinds == {str}:
        key: Callable[[int], Any] = values.__getitem__  # one kind: compared as they are
    else:

        def key(i: int) -> Any:
            return _order(values[i])

    # nlargest and nsmallest are sorted(...)[:n], which keeps equal keys in table order
    pick = heapq.nlargest if descending else heapq.nsmallest
    ids = pick(n, present, key=key)
    if len(ids) < n:  # then the rows without a value, in table order
        ids += [i for i, v in enumerate(values) if v is None][: n - len(ids)]
    return ids


def join(
    tables: list[CachedTable], keys: list[int], compared: list[list[int]], same_layout: bool
) -> Iterator[tuple[Any, str]]:
    """Cached tables joined on a column each (``keys[i]`` of ``tables[i]``), the first row
    of each key in each table: ``(key, kind)`` for every key, those of the first table in
    its order, then each next table's new keys in its order. ``kind`` is "only" when a
    table lacks the key, "differ" when a compared column's cells are not the same in every
    table (``compared`` holds each such column's place in each table: cells compared by
    JSON type and value, so ``1``, ``1.0`` and ``true`` differ as the page's highlighting
    has them), else "equal" (at once when ``same_layout``, the
    tables' columns the same, and the rows the same bytes).

    The join runs in SQLite (the files attached to one in-memory connection): each table's
    first row of each key goes into a temporary table keyed (indexed) by the key,
    rows are met by index, and rows whose JSON is the same bytes are not compared cell by
    cell; no row is decoded in Python.
    """
    conn = sqlite3.connect("file::memory:", uri=True)
    n = len(tables)
    try:
        for i, (table, key) in enumerate(zip(tables, keys, strict=True)):
            conn.execute(f"ATTACH DATABASE ? AS s{i}", (f"file:{table.path}?mode=ro&immutable=1",))
            # keyed by k: the first row of a key is inserted, the later ones ignored
            conn.execute(f"CREATE TEMP TABLE f{i} (k PRIMARY KEY, r) WITHOUT ROWID")
            conn.execute(
                f"INSERT OR IGNORE INTO f{i} SELECT c{key}, rowid FROM s{i}.t "
                f"WHERE c{key} IS NOT NULL ORDER BY rowid"
            )
        found = " AND ".join(f"f{i}.r IS NOT NULL" for i in range(n))
        same_bytes = " AND ".join(f"s0.t.row = s{i}.t.row" for i in range(1, n)) or "1"
        cells = [
            " OR ".join(
                f"json_type(s0.t.row, '$[{at[0]}]') IS NOT json_type(s{i}.t.row, '$[{at[i]}]') "
                f"OR json_extract(s0.t.row, '$[{at[0]}]') IS NOT json_extract(s{i}.t.row, '$[{at[i]}]')"
                for i in range(1, n)
            )
            for at in compared
        ]
        differ = " OR ".join(f"({c})" for c in cells if c) or "0"
        kind = (
            f"CASE WHEN NOT ({found}) THEN 'only' "
            + (f"WHEN {same_bytes} THEN 'equal' " if same_layout else "")
            + f"WHEN {differ} THEN 'differ' ELSE 'equal' END"
        )
        joins = "".join(
            f" LEFT JOIN f{i} ON f{i}.k = a.k LEFT JOIN s{i}.t ON s{i}.t.rowid = f{i}.r"
            for i in range(n)
        )
        for i in range(n):
            # the keys of table i that no earlier table has, in table i's order
            new = " AND ".join(f"k NOT IN (SELECT k FROM f{j})" for j in range(i)) or "1"
            sql = f"SELECT a.k, {kind} FROM (SELECT k, r FROM f{i} WHERE {new}) a{joins}"
            yield from conn.execute(sql + " ORDER BY a.r")
    finally:
        conn.close()


def _text(value: float | int) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


class TableCache:
    """Cached tables under ``root``, at most about ``max_bytes`` in all."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        #: Tables parsed whose files are being built, by digest.
        self._fresh: dict[str, FreshTable] = {}

    def _path(self, sha256: str) -> Path:
        return self.root / f"{sha256}.sqlite"

    def open(self, sha256: str, parse: Callable[[], Parsed]) -> CachedTable | FreshTable:
        """The table of digest ``sha256``: from the cache, or parsed by ``parse()`` and
        cached by a background thread meanwhile: a :class:`FreshTable` answers its first
        rows at once (to every request until the file is built), and waits for the file for
        anything sorted or filtered.

        Raises:
            whatever ``parse`` raises (nothing is cached then).
        """
        path = self._path(sha256)
        table = self._load(path)
        if table is not None:
            return table
        with self._lock:
            pending = self._fresh.get(sha256)
        if pending is not None:  # being cached: its first rows are still in memory
            return pending
        parsed = parse()
        n = len(parsed.columns)
        # a row of the right width is kept as parsed (it is the parser's own list)
        rows = [
            r if type(r) is list and len(r) == n else (list(r) + [None] * n)[:n]
            for r in parsed.rows
        ]
        done = threading.Event()
        fresh = FreshTable(parsed.columns, parsed.types, rows, lambda: self._ready(path, done))
        with self._lock:
            if sha256 in self._fresh:  # another thread parsed it meanwhile
                return self._fresh[sha256]
            self._fresh[sha256] = fresh

        def work() -> None:
            try:
                self._build(path, Parsed(parsed.columns, parsed.types, rows))
                self.prune(keep=path)
            except Exception:  # a failed cache only costs a parse next time
                log.exception("could not cache table %s", sha256)
            finally:
                with self._lock:
                    self._fresh.pop(sha256, None)
                done.set()

        threading.Thread(target=work, name=f"table-cache-{sha256[:8]}", daemon=True).start()
        return fresh

    def _ready(self, path: Path, done: threading.Event) -> CachedTable:
        done.wait()
        table = self._load(path)
        if table is None:
            raise RuntimeError(f"the table cache could not build {path.name}")
        return table

    @staticmethod
    def _load(path: Path) -> CachedTable | None:
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        except sqlite3.OperationalError:
            return None
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError:
            return None
        finally:
            conn.close()
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: pruned last
        return CachedTable(
            path, json.loads(meta["columns"]), json.loads(meta["types"]), int(meta["count"])
        )

    def _build(self, path: Path, parsed: Parsed) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        n = len(parsed.columns)
        cols = ", ".join(f"c{i}" for i in range(n))
        marks = ", ".join("?" for _ in range(n + 1))
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=OFF")
                conn.execute("PRAGMA synchronous=OFF")
                conn.execute("BEGIN")
                conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
                conn.execute(f"CREATE TABLE t (row BLOB{''.join(f', c{i}' for i in range(n))})")
                count = 0
                batch: list[list[Any]] = []
                for row in parsed.rows:
                    cells = row if len(row) == n else (list(row) + [None] * n)[:n]
                    batch.append([orjson.dumps(cells)] + [sortable(c) for c in cells])
                    if len(batch) >= BATCH:
                        conn.executemany(f"INSERT INTO t (row, {cols}) VALUES ({marks})", batch)
                        count += len(batch)
                        batch = []
                if batch:
                    conn.executemany(f"INSERT INTO t (row, {cols}) VALUES ({marks})", batch)
                    count += len(batch)
                meta = {
                    "columns": json.dumps(parsed.columns),
                    "types": json.dumps(parsed.types),
                    "count": str(count),
                }
                conn.executemany("INSERT INTO meta VALUES (?, ?)", list(meta.items()))
                conn.execute("COMMIT")
            finally:
                conn.close()
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def prune(self, keep: Path | None = None) -> int:
        """Delete the least recently used cached tables until the rest fit; returns how many
        went. ``keep`` (the one just built) stays whatever its size."""
        try:
            entries = [(p.stat(), p) for p in self.root.glob("*.sqlite")]
            for tmp in self.root.glob("*.tmp"):  # left by a process that died building
                if tmp.stat().st_mtime < time.time() - STALE_BUILD_S:
                    tmp.unlink(missing_ok=True)
        except OSError:
            return 0
        total = sum(s.st_size for s, _ in entries)
        removed = 0
        for stat, path in sorted(entries, key=lambda e: e[0].st_mtime):
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            path.unlink(missing_ok=True)
            total -= stat.st_size
            removed += 1
        return removed
