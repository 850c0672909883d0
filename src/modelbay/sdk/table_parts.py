"""W&B's tables made of other tables, and reading any media object out of a version.

- ``PartitionedTable(parts_path)``: the tables under a folder of the artifact, read as one,
  a part at a time. Its file is ``<name>.partitioned-table.json``, ``{"_type":
  "partitioned-table", "parts_path": "<folder>"}``; the parts are the folder's
  ``.table.json`` files, in path order.
- ``JoinedTable(table1, table2, join_key)``: two tables of the artifact to be viewed joined
  on a column (``join_key`` a name, or a list of two: one per table). Its file is
  ``<name>.joined-table.json``, ``{"_type": "joined-table", "table1": "<file>", "table2":
  "<file>", "join_key": ...}``. A Table given (not a path) is added beside it as
  ``<name>-table1`` (``-table2``), so that the same objects give the same files.

As in W&B, neither can be logged to a run: add them to an artifact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelbay.errors import InvalidInputError, NotFoundError
from modelbay.sdk import media
from modelbay.sdk.media import Media, Staged, Table

if TYPE_CHECKING:
    from modelbay.sdk.artifact import Artifact
    from modelbay.sdk.cache import Cache
    from modelbay.sdk.transport import Transport

TABLE_SUFFIX = ".table.json"
PARTITIONED_SUFFIX = ".partitioned-table.json"
JOINED_SUFFIX = ".joined-table.json"


class PartitionedTable(Media):
    """The tables under ``parts_path`` (a folder of the artifact) as one table.

    Add the parts (``artifact.add(table, "parts/0")``, ...) and this
    (``artifact.add(PartitionedTable("parts"), "preds")``) to an artifact; read back with
    ``artifact.get("preds")``, :meth:`iterrows` goes through every part's rows, holding one
    part at a time.
    """

    _log_type = "partitioned-table"

    def __init__(self, parts_path: str) -> None:
        self.parts_path = str(parts_path).strip("/")
        if not self.parts_path:
            raise InvalidInputError("parts_path names a folder of the artifact")
        self._artifact: Artifact | None = None
        self._parts: list[str] = []

    @property
    def parts(self) -> list[str]:
        """The part files (paths in the artifact), in the order their rows are read."""
        return list(self._parts)

    def to_json(self) -> dict[str, Any]:
        return {"_type": self._log_type, "parts_path": self.parts_path}

    def iterrows(self) -> Iterator[tuple[int, list[Any]]]:
        """``(index, row)`` of every part's rows, part after part.

        Raises:
            UsageError: not read from an artifact (a new one has no rows yet).
            InvalidInputError: parts whose columns are not the same.
        """
        from modelbay.errors import UsageError

        if self._artifact is None:
            raise UsageError("a PartitionedTable has rows once read back with artifact.get")
        columns: list[str] | None = None
        index = 0
        for path in self._parts:
            part = self._artifact.get(path)
            if not isinstance(part, Table):
                raise InvalidInputError(f"{path} is not a table")
            if columns is None:
                columns = part.columns
            elif part.columns != columns:
                raise InvalidInputError(
                    f"table parts have other columns: {columns} != {part.columns}"
                )
            for row in part.data:
                yield index, row
                index += 1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PartitionedTable) and other.parts_path == self.parts_path

    def __hash__(self) -> int:
        return hash(self.parts_path)

    def __repr__(self) -> str:
        return f"<PartitionedTable {self.parts_path}/ ({len(self._parts)} parts)>"


TableLike = Table | PartitionedTable | str


class JoinedTable(Media):
    """Two tables joined on ``join_key``: each a Table, a PartitionedTable, or the path of
    a table file of the artifact (``"a.table.json"``).

    Raises:
        InvalidInputError: a join key that is neither a name nor a list of two names, or a
            table that is none of those.
    """

    _log_type = "joined-table"

    def __init__(self, table1: TableLike, table2: TableLike, join_key: str | list[str]) -> None:
        if not isinstance(join_key, str) and not (
            isinstance(join_key, list | tuple)
            and len(join_key) == 2
            and all(isinstance(k, str) for k in join_key)
        ):
            raise InvalidInputError("join_key is a column name or a list of two column names")
        for table in (table1, table2):
            if not (
                isinstance(table, Table | PartitionedTable)
                or (isinstance(table, str) and table.endswith(TABLE_SUFFIX))
            ):
                raise InvalidInputError(
                    "a JoinedTable joins Tables, PartitionedTables or paths of table files"
                )
        self._table1 = table1
        self._table2 = table2
        self._join_key: str | list[str] = (
            join_key if isinstance(join_key, str) else list(join_key)
        )

    @property
    def table1(self) -> TableLike:
        return self._table1

    @property
    def table2(self) -> TableLike:
        return self._table2

    @property
    def join_key(self) -> str | list[str]:
        return self._join_key

    def keys(self) -> tuple[str, str]:
        """The key column of each table."""
        key = self._join_key
        return (key, key) if isinstance(key, str) else (key[0], key[1])

    def to_json(self) -> dict[str, Any]:
        def name(t: TableLike) -> str | None:
            return t if isinstance(t, str) else None

        return {
            "_type": self._log_type,
            "table1": name(self._table1),
            "table2": name(self._table2),
            "join_key": self._join_key,
        }

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, JoinedTable)
            and other._join_key == self._join_key
            and other._table1 == self._table1
            and other._table2 == self._table2
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<JoinedTable on {self._join_key!r}>"


def stage(value: Any, name: str, scratch: Path) -> list[Staged]:
    """``media.stage`` for every value ``artifact.add`` takes: a JoinedTable's tables are
    staged beside it (``<name>-table1``, ``<name>-table2``) and its file names them.

    Raises:
        InvalidInputError: not a Table, Image, Histogram, PartitionedTable or JoinedTable.
    """
    if not isinstance(value, JoinedTable):
        return media.stage(value, name, scratch)
    out: list[Staged] = []
    paths: list[str] = []
    for n, table in enumerate((value.table1, value.table2), 1):
        if isinstance(table, str):
            paths.append(table)
            continue
        staged = media.stage(table, f"{name}-table{n}", scratch)
        out += staged
        paths.append(staged[-1][0])
    doc = {**value.to_json(), "table1": paths[0], "table2": paths[1]}
    target_name = name if name.endswith(JOINED_SUFFIX) else name + JOINED_SUFFIX
    target = scratch / "objects" / target_name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(doc))
    out.append((target_name, target, None))
    return out


def read(
    artifact: Artifact,
    transport: Transport,
    files: dict[str, dict[str, Any]],
    cache: Cache | None,
    name: str,
) -> Any:
    """The object ``name`` of a logged version whose files are ``files``: fetched into
    ``./artifacts/<name>-<version>`` (the object's file, then the images it names, and only
    those); a table is read a row at a time.

    Raises:
        NotFoundError: no such object in the version.
        InvalidInputError: its file is not one of W&B's media files.
    """
    from modelbay.sdk.downloads import download

    found = media.object_name(name, files)
    if found is None:
        raise NotFoundError(f"{artifact.qualified_name} holds no object {name!r}")
    root = Path("artifacts") / artifact.name.replace(":", "-")
    download(transport, [files[found]], root, cache=cache, progress=False)
    if found.endswith((PARTITIONED_SUFFIX, JOINED_SUFFIX)):
        with open(root / found, "rb") as f:
            doc = json.load(f)
        if not isinstance(doc, dict):
            raise InvalidInputError(f"{found} is not a W&B {found.split('.')[-2]} file")
        if found.endswith(PARTITIONED_SUFFIX):
            return _partitioned(artifact, files, doc)
        try:
            tables = [artifact.get(str(doc["table1"])), artifact.get(str(doc["table2"]))]
            return JoinedTable(tables[0], tables[1], doc["join_key"])
        except KeyError as exc:
            raise InvalidInputError(f"{found} has no {exc.args[0]!r}") from None
    value = media.load(root / found, root)
    wanted = [files[p] for p in media.image_paths(value, root) if p in files]
    if wanted:
        download(transport, wanted, root, cache=cache, progress=False)
        media.complete(value)
    return value


def _partitioned(
    artifact: Artifact, files: dict[str, dict[str, Any]], doc: dict[str, Any]
) -> PartitionedTable:
    table = PartitionedTable(str(doc.get("parts_path") or ""))
    prefix = table.parts_path + "/"
    table._artifact = artifact
    table._parts = sorted(p for p in files if p.startswith(prefix) and p.endswith(TABLE_SUFFIX))
    return table


__all__ = ["JoinedTable", "PartitionedTable"]
