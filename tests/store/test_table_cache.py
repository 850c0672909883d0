"""The columnar table cache: a table parsed once per digest, its first page answered while
its file is built, sorted and filtered in SQLite, and the cache kept within its bound."""

from __future__ import annotations

from pathlib import Path

import orjson

from modelbay.services.tables import parse_filter
from modelbay.store.table_cache import CachedTable, FreshTable, Parsed, TableCache, join

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
    # sorted, from memory: missing values last, ties in table order
    rows, total = fresh.page([], 2, True, 0, 4)
    assert [orjson.loads(r)[2] for _, r in rows] == [9, 9, 9, 9]
    assert [i for i, _ in rows] == [7, 17, 27, 37]
    fresh.page(parse_filter("id >= 0", COLUMNS), None, False, 0, 1)  # waits for the file
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
        fresh.page(parse_filter("id >= 0", COLUMNS), None, False, 0, 1)  # waits for its file
    assert sorted(p.name for p in tmp_path.glob("*.sqlite")) == ["c" * 64 + ".sqlite"]


def test_a_sorted_page_from_memory_is_the_cached_tables(tmp_path: Path) -> None:
    """While its file builds, a table answers sorted pages from the rows in memory in the
    order SQLite gives once the file is there: numbers before text ascending, missing
    values (None, NaN) last either way, ties in table order, at every offset."""
    image = {"_type": "image-file", "path": "media/images/a.png", "caption": "zebra"}
    cells = [3, 1.5, "b", None, float("nan"), True, "a", [2, 1], image, -4, "B", 1.5, "é", 0]
    rows = [[i, cells[i % len(cells)], cells[(i * 5) % len(cells)]] for i in range(60)]
    parsed = Parsed(["id", "x", "y"], ["number", "mixed", "mixed"], rows)
    cache = TableCache(tmp_path, 1 << 30)
    fresh = cache.open("d" * 64, lambda: parsed)
    assert isinstance(fresh, FreshTable)
    asked = [(col, desc, off) for col in (1, 2) for desc in (False, True) for off in (0, 7, 55)]
    from_memory = {a: fresh.page([], a[0], a[1], a[2], 9) for a in asked}
    fresh.page(parse_filter("id >= 0", ["id", "x", "y"]), None, False, 0, 1)
    cached = cache.open("d" * 64, lambda: parsed)
    assert isinstance(cached, CachedTable)
    for (col, desc, off), page in from_memory.items():
        assert page == cached.page([], col, desc, off, 9), (col, desc, off)


def built(cache: TableCache, digest: str, parsed: Parsed) -> CachedTable:
    fresh = cache.open(digest, lambda: parsed)
    if isinstance(fresh, FreshTable):
        return fresh.cached()
    return fresh


def test_a_join_in_sqlite_is_the_join_of_the_rows(tmp_path: Path) -> None:
    """Three tables joined on a key column (numbers and text, repeated keys, missing keys,
    the columns in another order in one table): every key once, the first table's first,
    each marked by the first row of it in each table: only in some, differing, or equal."""
    cache = TableCache(tmp_path, 1 << 30)
    keys = [1, "1", 2.0, None, 3, 1, "x", 4]
    a = Parsed(["k", "v"], ["mixed", "number"], [[k, i % 3] for i, k in enumerate(keys)])
    b = Parsed(["k", "v"], ["mixed", "number"], [[k, i % 2] for i, k in enumerate(keys[::-1])])
    c = Parsed(["v", "k"], ["number", "mixed"], [[0, k] for k in [2, "x", 5, 1, "1", 3, 4]])
    tables = [built(cache, d * 64, p) for d, p in zip("efg", (a, b, c), strict=True)]

    def first(p: Parsed, col: int) -> dict[object, list[object]]:
        out: dict[object, list[object]] = {}
        for row in p.rows:
            if row[col] is not None:
                out.setdefault(row[col], row)
        return out

    maps = [first(a, 0), first(b, 0), first(c, 1)]
    want_keys = list(dict.fromkeys(k for m in maps for k in m))
    got = list(join(tables, [0, 0, 1], [[1, 1, 0]], same_layout=False))
    assert [k for k, _ in got] == want_keys == [1, "1", 2.0, 3, "x", 4, 5]
    for key, kind in got:
        present = [m.get(key) for m in maps]
        if any(r is None for r in present):
            assert kind == "only", key
        else:
            values = {present[0][1], present[1][1], present[2][0]}  # type: ignore[index]
            assert kind == ("equal" if len(values) == 1 else "differ"), key
    # the same layout: a = [[1, 0], ["1", 1], [2.0, 2], [None, 0], [3, 1], [1, 2], ...],
    # b = [[4, 0], ["x", 1], [1, 0], [3, 1], [None, 0], [2.0, 1], ["1", 0], [1, 1]]
    kinds = dict(join(tables[:2], [0, 0], [[1, 1]], same_layout=True))
    assert kinds == {1: "equal", "1": "differ", 2.0: "differ", 3: "equal", "x": "differ", 4: "differ"}


def test_a_join_tells_cells_of_another_json_type_apart(tmp_path: Path) -> None:
    """``1``, ``1.0`` and ``true`` are different predictions: the join's status says
    "differ" for them, as the page's highlighting of the differing cells does."""
    cache = TableCache(tmp_path, 1 << 30)
    a = Parsed(["k", "p"], ["string", "mixed"], [["a", 1], ["b", 1], ["c", 1], ["d", "1"]])
    b = Parsed(["k", "p"], ["string", "mixed"], [["a", 1], ["b", 1.0], ["c", True], ["d", 1]])
    tables = [built(cache, d * 64, p) for d, p in zip("hi", (a, b), strict=True)]
    kinds = dict(join(tables, [0, 0], [[1, 1]], same_layout=False))
    assert kinds == {"a": "equal", "b": "differ", "c": "differ", "d": "differ"}
