"""Tables of versions and runs, a page at a time, and predictions compared across them.

A table is a W&B ``<name>.table.json`` file of an artifact version: ``{"_type": "table",
"columns": [...], "data": [[...]], "column_types": ...}``, its image cells
``{"_type": "image-file", "path": "media/images/...png", ...}`` with the image stored in the
same version. A table logged in a run is a version of the run's artifact
``run-<run id>-<key>`` (type ``run_table``).

Reading a table's contents needs the viewer role (a restricted viewer sees that a version
exists, not what it holds). A table is parsed once per content digest into a columnar cache
(:mod:`modelbay.store.table_cache`); a page is then a query.

Filters: clauses joined by ``and``, each ``<column> <op> <value>``, where ``op`` is one of
``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` or ``~`` (contains, ignoring case). A column
whose name holds spaces or operators is written in double quotes; a value in quotes is text,
``null`` is a missing value, and anything that reads as a number is a number. Examples:
``label = cat``, ``score >= 0.5 and "true label" ~ dog``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy.engine import Connection

from modelbay import names
from modelbay.contract.declaration import Role
from modelbay.errors import InvalidInputError, NotFoundError
from modelbay.jsontext import Info
from modelbay.names import ArtifactRef, Ref
from modelbay.services import access
from modelbay.services.blobs import BlobService
from modelbay.services.core import Principal, describe, locate, project_or_registry
from modelbay.store import artifacts as artifact_store
from modelbay.store import runs as run_store
from modelbay.store.database import Database
from modelbay.store.table_cache import CachedTable, Clause, FreshTable, Parsed, TableCache
from modelbay.store.table_cache import join as join_tables

MAX_PAGE = 500
#: The largest table file parsed (its JSON is read whole once, then served from the cache).
MAX_TABLE_BYTES = 1 << 30
#: The cache of parsed tables, in all.
CACHE_BYTES = 4 << 30
TABLE_SUFFIX = ".table.json"
#: W&B's tables made of the tables under a folder, and of two tables joined on a key.
PARTITIONED_SUFFIX = ".partitioned-table.json"
JOINED_SUFFIX = ".joined-table.json"
#: The largest partitioned or joined table file read (they name other files).
MAX_POINTER_BYTES = 1 << 16
RUN_TABLE_TYPE = "run_table"
MAX_COMPARED = 6
#: Joins whose keys and kinds are kept in memory for paging.
MAX_JOINS_KEPT = 8
JOIN_SHOWS = ("all", "differ", "equal", "only")
_CLAUSE = re.compile(
    r'^\s*(?:"(?P<quoted>[^"]+)"|(?P<bare>[^\s=!<>~"]+))\s*'
    r"(?P<op>==|=|!=|<=|>=|<|>|~)\s*(?P<value>.*?)\s*$",
    re.S,
)
_AND = re.compile(r"\s+and\s+", re.I)


def parse_filter(text: str | None, columns: list[str]) -> list[Clause]:
    """The clauses of a filter expression (see the module's docstring).

    Raises:
        InvalidInputError: a clause that does not parse, or names no column of the table.
    """
    if text is None or not text.strip():
        return []
    clauses = []
    for part in _AND.split(text.strip()):
        match = _CLAUSE.match(part)
        if match is None:
            raise InvalidInputError(
                f"cannot read the filter {part[:80]!r}: write <column> <op> <value>, op one "
                "of = != < <= > >= ~ (contains)",
                {"field": "filter"},
            )
        name = match["quoted"] or match["bare"]
        if name not in columns:
            raise InvalidInputError(f"the table has no column {name[:80]!r}", {"field": "filter"})
        op = {"==": "=", "~": "contains"}.get(match["op"], match["op"])
        clauses.append(Clause(columns.index(name), op, _value(match["value"], op)))
    return clauses


def _value(text: str, op: str) -> str | float | int | None:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    if op == "contains":
        return text
    if text.lower() == "null":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _type_name(wb_type: Any) -> str | None:
    """A column's type from W&B's ``column_types`` entry (a union with ``none`` is the other)."""
    if not isinstance(wb_type, dict):
        return None
    name = wb_type.get("wb_type")
    if name == "union":
        found = [_type_name(t) for t in (wb_type.get("params") or {}).get("allowed_types", [])]
        found = [t for t in found if t and t != "none"]
        return found[0] if len(found) == 1 else ("mixed" if found else "none")
    return {"image-file": "image", "boolean": "bool"}.get(str(name), str(name)) if name else None


def _infer(rows: list[list[Any]], i: int) -> str:
    for row in rows:
        cell = row[i] if i < len(row) else None
        if cell is None:
            continue
        if isinstance(cell, bool):
            return "bool"
        if isinstance(cell, int | float):
            return "number"
        if isinstance(cell, str):
            return "string"
        if isinstance(cell, list):
            return "list"
        if isinstance(cell, dict):
            return (
                "image" if cell.get("_type") == "image-file" else str(cell.get("_type", "object"))
            )
    return "none"


def parse_table(data: bytes) -> Parsed:
    """A W&B table file's columns, column types and rows.

    Raises:
        InvalidInputError: not JSON, or not a table (``columns`` and ``data`` lists).
    """
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:  # NaN and the infinities, as Python's json writes them
            doc = json.loads(data)
        except ValueError as exc:
            raise InvalidInputError(f"the table file is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("_type", "table") != "table":
        raise InvalidInputError("the file is not a table (its _type is not 'table')")
    columns, rows = doc.get("columns"), doc.get("data")
    if not isinstance(columns, list) or not isinstance(rows, list):
        raise InvalidInputError("a table file holds 'columns' and 'data' lists")
    columns = [str(c) for c in columns]
    type_map = ((doc.get("column_types") or {}).get("params") or {}).get("type_map") or {}
    types = []
    for i, name in enumerate(columns):
        given = _type_name(type_map.get(name))
        types.append(given if given and given != "mixed" else _infer(rows, i))
    return Parsed(columns, types, (r if isinstance(r, list) else [r] for r in rows))


def is_table_file(path: str) -> bool:
    """Whether the viewer pages the file ``path``: a table, or a partitioned table."""
    return path.endswith((TABLE_SUFFIX, PARTITIONED_SUFFIX))


def image_base(info: Info) -> str:
    """The UI's image route of a version (its number, not an alias, which may move)."""
    link = info.get("link")
    if link:
        return (
            f"/registries/{quote(link['registry'], safe='')}/"
            f"{quote(link['collection'], safe='')}/{link['version']}/images/"
        )
    return (
        f"/projects/{quote(info['project'], safe='')}/artifacts/"
        f"{quote(info['name'], safe='')}/{info['version']}/images/"
    )


def show_cells(cells: list[Any], base: str) -> list[Any]:
    """A row's cells as answered: an image cell gains ``url``, its image route (and loses
    any ``url`` it was stored with)."""
    out = []
    for cell in cells:
        if isinstance(cell, dict) and cell.get("_type") == "image-file":
            # a "url" in the stored cell is not ours to show: it could point anywhere
            cell = {k: v for k, v in cell.items() if k != "url"}
            if isinstance(cell.get("path"), str) and cell["path"]:
                cell["url"] = base + quote(cell["path"], safe="/")
        out.append(cell)
    return out


def _check_page(offset: object, limit: object) -> tuple[int, int]:
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE}", {"field": "limit"})
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInputError("offset must be 0 or more", {"field": "offset"})
    return offset, limit


class Source:
    """A table file found and readable: where it is, and its cached contents."""

    def __init__(self, info: Info, path: str, sha256: str, table: CachedTable | FreshTable) -> None:
        self.info = info
        self.path = path
        self.sha256 = sha256
        self.table = table
        self.base = image_base(info)

    @property
    def ref(self) -> str:
        link = self.info.get("link")
        return str(link["ref"] if link else self.info["ref"])


class TableService:
    def __init__(
        self, db: Database, blobs: BlobService, cache_dir: Path, cache_bytes: int = CACHE_BYTES
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.cache = TableCache(cache_dir, cache_bytes)
        self._lock = threading.Lock()
        self._joins: OrderedDict[
            tuple[tuple[str, ...], tuple[int, ...], tuple[str, ...]],
            tuple[list[Any], dict[Any, str], dict[str, int]],
        ] = OrderedDict()

    # -- finding a table --------------------------------------------------------------------

    def _located(self, conn: Connection, principal: Principal, ref: Ref) -> tuple[Info, list[Info]]:
        ref = project_or_registry(conn, ref)
        access.require_ref(conn, principal, ref, Role.VIEWER)
        where = locate(conn, ref)
        return describe(conn, where), artifact_store.files_of(conn, where.version_id)

    def _open(self, principal: Principal, info: Info, files: list[Info], path: str) -> Source:
        entry = next((f for f in files if f["path"] == path), None)
        if entry is None or entry.get("ref"):
            raise NotFoundError(f"{info['ref']} has no stored table {path[:200]!r}")
        if path.endswith(PARTITIONED_SUFFIX):
            return self._open_partitioned(principal, info, files, entry)
        if entry["size"] > MAX_TABLE_BYTES:
            raise InvalidInputError(
                f"{path[:200]!r} is larger than {MAX_TABLE_BYTES >> 20} MiB, too large to page"
            )
        digest = entry["sha256"]

        def parse() -> Parsed:
            return parse_table(b"".join(self.blobs.iter_bytes(principal, digest)))

        return Source(info, path, digest, self.cache.open(digest, parse))

    def pointer(self, principal: Principal, entry: Info) -> dict[str, Any]:
        """A partitioned or joined table file's JSON (a small object naming other files).

        Raises:
            InvalidInputError: too large, or not a JSON object.
        """
        if entry["size"] > MAX_POINTER_BYTES:
            raise InvalidInputError(f"{entry['path'][:200]!r} is too large for a table pointer")
        try:
            doc = orjson.loads(b"".join(self.blobs.iter_bytes(principal, entry["sha256"])))
        except orjson.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict):
            raise InvalidInputError(f"{entry['path'][:200]!r} is not a JSON object")
        return doc

    def _open_partitioned(
        self, principal: Principal, info: Info, files: list[Info], entry: Info
    ) -> Source:
        """W&B's partitioned table: the ``.table.json`` files under its ``parts_path``, in
        path order, read as one table (cached under a digest of the parts' digests)."""
        folder = str(self.pointer(principal, entry).get("parts_path") or "").strip("/")
        parts = sorted(
            (
                f
                for f in files
                if folder
                and f["path"].startswith(folder + "/")
                and f["path"].endswith(TABLE_SUFFIX)
                and not f.get("ref")
            ),
            key=lambda f: str(f["path"]),
        )
        if not parts:
            raise NotFoundError(f"{entry['path'][:200]!r} has no parts under {folder[:200]!r}")
        if sum(f["size"] for f in parts) > MAX_TABLE_BYTES:
            raise InvalidInputError(
                f"{entry['path'][:200]!r} is larger than {MAX_TABLE_BYTES >> 20} MiB in all"
            )
        digest = hashlib.sha256(
            b"partitioned-table\n" + b"".join(f"{f['path']}\0{f['sha256']}\n".encode() for f in parts)
        ).hexdigest()

        def parse() -> Parsed:
            first = parse_table(b"".join(self.blobs.iter_bytes(principal, parts[0]["sha256"])))

            def rest() -> Iterator[list[Any]]:
                for part in parts[1:]:
                    parsed = parse_table(b"".join(self.blobs.iter_bytes(principal, part["sha256"])))
                    if parsed.columns != first.columns:
                        raise InvalidInputError(
                            f"{part['path'][:200]!r} has other columns than {parts[0]['path']!r}"
                        )
                    yield from parsed.rows

            return Parsed(first.columns, first.types, itertools.chain(first.rows, rest()))

        return Source(info, str(entry["path"]), digest, self.cache.open(digest, parse))

    def source(self, principal: Principal, ref: Ref, path: str) -> Source:
        """The table file ``path`` of the version ``ref`` names.

        Raises:
            NotFoundError: no such version (or not readable) or no such stored file.
            PermissionDeniedError: the principal is a restricted viewer.
            InvalidInputError: the file is not a table, or too large.
        """
        with self.db.read() as conn:
            info, files = self._located(conn, principal, ref)
        return self._open(principal, info, files, path)

    def joined(
        self, principal: Principal, ref: Ref, path: str
    ) -> tuple[list[Source], str | list[str]]:
        """W&B's joined table ``path`` of the version ``ref`` names: its two tables (each a
        table or a partitioned table of the same version) and the key (a column name, or
        one per table), to :meth:`join`.

        Raises:
            NotFoundError: no such version, file, or table it names.
            InvalidInputError: not a joined table file.
        """
        with self.db.read() as conn:
            info, files = self._located(conn, principal, ref)
        entry = next((f for f in files if f["path"] == path and not f.get("ref")), None)
        if entry is None or not path.endswith(JOINED_SUFFIX):
            raise NotFoundError(f"{info['ref']} has no joined table {path[:200]!r}")
        doc = self.pointer(principal, entry)
        tables, key = [doc.get("table1"), doc.get("table2")], doc.get("join_key")
        if not all(isinstance(t, str) and is_table_file(t) for t in tables):
            raise InvalidInputError(f"{path[:200]!r} does not name two table files")
        if not (
            isinstance(key, str)
            or (isinstance(key, list) and len(key) == 2 and all(isinstance(k, str) for k in key))
        ):
            raise InvalidInputError(f"{path[:200]!r} has no join_key (a name, or two)")
        return [self._open(principal, info, files, str(t)) for t in tables], key

    def tables_of(self, principal: Principal, ref: Ref) -> list[str]:
        """The table files of a version (``.table.json`` and ``.partitioned-table.json``)."""
        with self.db.read() as conn:
            _, files = self._located(conn, principal, ref)
        return [f["path"] for f in files if is_table_file(f["path"]) and not f.get("ref")]

    def run_tables(self, principal: Principal, project: str, run_id: str) -> list[Info]:
        """The tables a run logged: ``[{"key", "ref", "path", "versions"}]``, one per key,
        ``ref`` naming its latest version.

        Raises:
            NotFoundError: no such run the principal may read.
            PermissionDeniedError: the principal is a restricted viewer in its project.
        """
        with self.db.read() as conn:
            access.require_project(conn, principal, project, Role.VIEWER)
            found = self._run_table_versions(conn, principal, project, run_id)
            out = []
            for key, rows in sorted(found.items()):
                steps = history_tables(conn, rows[0]["run_pk"], f"run-{run_id}-{key}")
                latest = max(rows, key=lambda r: r["index"])
                files = artifact_store.files_of(conn, latest["id"])
                path = next((f["path"] for f in files if f["path"].endswith(TABLE_SUFFIX)), None)
                if path is None:
                    continue
                out.append(
                    {
                        "key": key,
                        "ref": f"{project}/{latest['name']}:v{latest['index']}",
                        "path": path,
                        "versions": len(rows),
                        "steps": sorted(steps),
                    }
                )
        return out

    @staticmethod
    def _run_table_versions(
        conn: Connection, principal: Principal, project: str, run_id: str
    ) -> dict[str, list[dict[str, Any]]]:
        pid = access.require_project(conn, principal, project, Role.VIEWER)["id"]
        run = run_store.get_run(conn, pid, names.check_name(run_id, "run id"))
        if run is None:
            raise NotFoundError(f"run {project}/{run_id} not found")
        prefix = f"run-{run_id}-"
        found: dict[str, list[dict[str, Any]]] = {}
        for row in run_store.versions_of_run(conn, run["id"], "logged"):
            if (
                row["deleted_at"] is None
                and row["project"] == project
                and row["type"] == RUN_TABLE_TYPE
                and row["name"].startswith(prefix)
            ):
                found.setdefault(row["name"][len(prefix) :], []).append(
                    {**row, "run_pk": run["id"]}
                )
        return found

    def run_source(
        self, principal: Principal, project: str, run_id: str, key: str, step: int | None
    ) -> Source:
        """The table a run logged under ``key``: at ``step`` (the one whose digest the run's
        history holds there), else its latest.

        Raises:
            NotFoundError: no such run, or no table logged under ``key`` (at ``step``).
        """
        with self.db.read() as conn:
            rows = self._run_table_versions(conn, principal, project, run_id).get(key)
            if not rows:
                raise NotFoundError(f"run {project}/{run_id} logged no table {key[:200]!r}")
            wanted: dict[str, str] | None = None
            if step is not None:
                steps = history_tables(conn, rows[0]["run_pk"], f"run-{run_id}-{key}")
                wanted = steps.get(step)
                if wanted is None:
                    raise NotFoundError(f"run {project}/{run_id} logged no {key!r} at step {step}")
            for row in sorted(rows, key=lambda r: -r["index"]):
                if wanted and wanted["version"] and wanted["version"] != f"v{row['index']}":
                    continue
                files = artifact_store.files_of(conn, row["id"])
                tables = [f for f in files if f["path"].endswith(TABLE_SUFFIX)]
                hit = next(
                    (f for f in tables if not wanted or wanted["sha256"] in ("", f["sha256"])),
                    None,
                )
                if hit is not None:
                    ref = ArtifactRef(project, row["name"], f"v{row['index']}")
                    info = describe(conn, locate(conn, ref))
                    break
            else:
                raise NotFoundError(f"run {project}/{run_id} logged no {key!r} at step {step}")
        return self._open(principal, info, files, hit["path"])

    # -- pages ------------------------------------------------------------------------------

    def page(
        self,
        principal: Principal,
        ref: Ref,
        path: str,
        *,
        sort: str | None = None,
        descending: bool = False,
        filter: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> Info:
        """A page of a version's table: ``{"ref", "path", "sha256", "columns", "types",
        "rows", "indices", "total", "count", "offset", "limit"}``; ``total`` counts the rows
        the filter keeps, ``count`` all of them, ``indices`` each row's place in the table.

        Raises:
            NotFoundError: no such version (or not readable), or no such table file.
            PermissionDeniedError: the principal is a restricted viewer.
            InvalidInputError: not a table, a bad sort column, filter or page.
        """
        offset, limit = _check_page(offset, limit)
        return self._page(
            self.source(principal, ref, path), sort, descending, filter, offset, limit
        )

    def run_page(
        self,
        principal: Principal,
        project: str,
        run_id: str,
        key: str,
        *,
        step: int | None = None,
        sort: str | None = None,
        descending: bool = False,
        filter: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> Info:
        """A page of the table a run logged under ``key`` (at ``step``, else the latest), as
        :meth:`page` answers.

        Raises:
            NotFoundError: no such run or table.
            PermissionDeniedError: the principal is a restricted viewer in the run's project.
            InvalidInputError: a bad sort column, filter or page.
        """
        offset, limit = _check_page(offset, limit)
        source = self.run_source(principal, project, run_id, key, step)
        return self._page(source, sort, descending, filter, offset, limit)

    @staticmethod
    def _page(
        source: Source,
        sort: str | None,
        descending: bool,
        filter: str | None,
        offset: int,
        limit: int,
    ) -> Info:
        table = source.table
        if sort is not None and sort not in table.columns:
            raise InvalidInputError(f"the table has no column {sort[:80]!r}", {"field": "sort"})
        clauses = parse_filter(filter, table.columns)
        sort_index = table.columns.index(sort) if sort is not None else None
        rows, total = table.page(clauses, sort_index, bool(descending), offset, limit)
        return {
            "ref": source.ref,
            "path": source.path,
            "sha256": source.sha256,
            "columns": table.columns,
            "types": table.types,
            "rows": [show_cells(orjson.loads(text), source.base) for _, text in rows],
            "indices": [i for i, _ in rows],
            "total": total,
            "count": table.count,
            "offset": offset,
            "limit": limit,
        }

    # -- joins ------------------------------------------------------------------------------

    def join(
        self,
        sources: list[Source],
        key: str | list[str],
        *,
        show: str = "all",
        offset: int = 0,
        limit: int = 50,
    ) -> Info:
        """Tables side by side, joined on the column ``key`` (first row of each key wins; a
        list names each table's key column, as W&B's ``JoinedTable`` may):
        ``{"key", "columns", "counts", "total", "rows"}``. ``columns`` are compared: those
        every table has, but the key. A row is ``equal`` when it is in every table with the
        same cells, ``differ`` when in every table with some cell not the same (``differ``
        names those columns), ``only`` when some table lacks it. ``show`` keeps ``all`` rows
        or those of one kind; ``rows`` are ``{"key", "status", "differ", "cells"}``, ``cells``
        one list per table (None where it lacks the row), cells of ``columns`` in order.

        Raises:
            InvalidInputError: a table without the key column, or a bad ``show``.
        """
        if show not in JOIN_SHOWS:
            raise InvalidInputError(f"show must be one of {', '.join(JOIN_SHOWS)}")
        offset, limit = _check_page(offset, limit)
        names = [key] * len(sources) if isinstance(key, str) else list(key)
        if len(names) != len(sources):
            raise InvalidInputError("name one key column, or one per table")
        for s, name in zip(sources, names, strict=True):
            if name not in s.table.columns:
                raise InvalidInputError(f"{s.ref} {s.path} has no column {name[:80]!r}")
        columns = [
            c
            for c in sources[0].table.columns
            if c not in names and all(c in s.table.columns for s in sources[1:])
        ]
        key_at = [s.table.columns.index(n) for s, n in zip(sources, names, strict=True)]
        keys, status, counts = self._summary(sources, key_at, columns)
        kept = keys if show == "all" else [k for k in keys if status[k] == show]
        page = kept[offset : offset + limit]
        maps = [s.table.rows_for(at, page) for s, at in zip(sources, key_at, strict=True)]
        out = []
        for k in page:
            rows = [m.get(k) for m in maps]
            out.append(
                {
                    "key": k,
                    "status": status[k],
                    "differ": _differing(sources, columns, rows) if status[k] != "only" else [],
                    "cells": [
                        None
                        if r is None
                        else show_cells(_project(orjson.loads(r), s, columns), s.base)
                        for r, s in zip(rows, sources, strict=True)
                    ],
                }
            )
        return {
            "key": names[0] if len(set(names)) == 1 else " / ".join(names),
            "columns": columns,
            "counts": {**counts, "rows": len(keys)},
            "total": len(kept),
            "rows": out,
        }

    def _summary(
        self, sources: list[Source], key_at: list[int], columns: list[str]
    ) -> tuple[list[Any], dict[Any, str], dict[str, int]]:
        """Every key of the join in order, each one's kind, and the counts of each kind;
        kept for the last few joins (tables are immutable), so that paging does not join
        again."""
        cache_key = (tuple(s.sha256 for s in sources), tuple(key_at), tuple(columns))
        with self._lock:
            found = self._joins.get(cache_key)
            if found is not None:
                self._joins.move_to_end(cache_key)
                return found
        same_layout = all(s.table.columns == sources[0].table.columns for s in sources)
        tables = [s.table.cached() if isinstance(s.table, FreshTable) else s.table for s in sources]
        keys: list[Any] = []
        status: dict[Any, str] = {}
        counts = {"equal": 0, "differ": 0, "only": 0}
        compared = [[s.table.columns.index(c) for s in sources] for c in columns]
        for k, kind in join_tables(tables, key_at, compared, same_layout):
            keys.append(k)
            status[k] = kind
            counts[kind] += 1
        summary = (keys, status, counts)
        with self._lock:
            self._joins[cache_key] = summary
            while len(self._joins) > MAX_JOINS_KEPT:
                self._joins.popitem(last=False)
        return summary


def _project(cells: list[Any], source: Source, columns: list[str]) -> list[Any]:
    at = source.table.columns
    return [cells[at.index(c)] for c in columns]


def _differing(sources: list[Source], columns: list[str], rows: list[bytes | None]) -> list[str]:
    """The compared columns whose cells are not the same in every table's row."""
    cells = [
        _project(orjson.loads(r), s, columns)
        for r, s in zip(rows, sources, strict=True)
        if r is not None
    ]
    canon = [[orjson.dumps(c, option=orjson.OPT_SORT_KEYS) for c in row] for row in cells]
    return [c for i, c in enumerate(columns) if len({row[i] for row in canon}) > 1]


def history_tables(conn: Connection, run_pk: int, artifact: str) -> dict[int, dict[str, str]]:
    """The steps where a run's history references a table of its artifact ``artifact``
    (``{"_type": "table-file", "sha256", "artifact_path":
    "modelbay-artifact://project/name:vN/path"}``): ``{step: {"sha256", "version"}}``."""
    out: dict[int, dict[str, str]] = {}
    for _, step, text, _ in run_store.media(conn, run_pk, None):
        value = orjson.loads(text)
        if not isinstance(value, dict) or value.get("_type") != "table-file":
            continue
        where = str(value.get("artifact_path") or "").partition("://")[2].split("/")
        name, _, version = where[1].partition(":") if len(where) > 2 else ("", "", "")
        if name == artifact:
            out[step] = {"sha256": str(value.get("sha256") or ""), "version": version}
    return out
