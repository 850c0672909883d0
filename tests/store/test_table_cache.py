"""The columnar table cache: a table parsed once per digest, its first page answered while
its file is built, sorted and filtered in SQLite, and the cache kept within its bound."""

from __future__ import annotations

from pathlib import Path

import orjson

from modelbay.services.tables import parse_filter
from modelbay.store.table_cache import CachedTable, FreshTable, Parsed, TableCache

COLUMNS = ["id", "label", "score"]


def table(n: int) -> Parsed:
    rows = [[i, ["cat", "dog"][i % 2], None if i == 3 else (i * 7) % 10] for i in range(n)]
    return Parsed(COLUMNS, ["number", "string", "number"], rows)


def test_parsed_once_then_served_from_the_cache(tmp_path: Path) -> None:
    cache = TableCache(tmp_path, 1 << 30)
    parses = []

    def parse() -> Parsed:
        parses.append(1)
        return table(100)

    fresh = cache.open("a" * 64, parse)
    assert isinstance(fresh, FreshTable)
    rows, total = fresh.page([], None, False, 10, 3)
    assert total == 100 and [orjson.loads(r)[0] for _, r in rows] == [10, 11, 12]
    # sorted: waits for the cached file; missing values last, ties in table order
    rows, total = fresh.page([], 2, True, 0, 4)
    assert [orjson.loads(r)[2] for _, r in rows] == [9, 9, 9, 9]
    again = cache.open("a" * 64, parse)
    assert isinstance(again, CachedTable) and parses == [1]
    rows, _ = again.page([], 2, False, 0, 100)
    assert orjson.loads(rows[-1][1]) == [3, "dog", None]
    dogs, total = again.page(parse_filter("label = dog and score < 5", COLUMNS), 0, False, 0, 100)
    want = [i for i in range(100) if i % 2 and i != 3 and (i * 7) % 10 < 5]
    assert [orjson.loads(r)[0] for _, r in dogs] == want and total == len(want)


def test_the_least_recently_used_tables_go_past_the_bound(tmp_path: Path) -> None:
    cache = TableCache(tmp_path, 1)  # every table is over the bound: only the newest stays
    for digest in ("b" * 64, "c" * 64):
        fresh = cache.open(digest, lambda: table(50))
        assert isinstance(fresh, FreshTable)
        fresh.page([], 0, False, 0, 1)  # waits for its file
    assert sorted(p.name for p in tmp_path.glob("*.sqlite")) == ["c" * 64 + ".sqlite"]
