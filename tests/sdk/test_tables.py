"""Pages of W&B table files, through the declared operation on both transports: columns and
types, sorting, filtering, paging, image cells as image URLs, a run's logged table, and the
roles that may read them (issue #18)."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

import modelbay
from modelbay.contract.tables import RUN_TABLE, TABLE, RunTableQuery, TableQuery
from modelbay.errors import InvalidInputError, NotFoundError
from modelbay.sdk.transport import connect


def png(shade: int) -> bytes:
    raw = b"".join(b"\x00" + bytes([shade, 30, 30]) * 4 for _ in range(4))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def write_table(folder: Path, name: str, rows: list[list[Any]], images: bool = True) -> Path:
    """A table as W&B writes it, with its images beside it under ``media/images``."""
    columns = ["id", "label", "score", "img"] if images else ["id", "label", "score"]
    data = []
    for row in rows:
        cells = list(row)
        if images:
            (folder / "media" / "images").mkdir(parents=True, exist_ok=True)
            image = f"media/images/{row[0]}.png"
            (folder / image).write_bytes(png(row[0] % 255))
            cells.append(
                {
                    "_type": "image-file",
                    "path": image,
                    "format": "png",
                    "width": 4,
                    "height": 4,
                    "caption": str(row[1]),
                }
            )
        data.append(cells)
    path = folder / f"{name}.table.json"
    path.write_text(json.dumps({"_type": "table", "columns": columns, "data": data}))
    return path


ROWS = [[i, ["cat", "dog", "<b>bird</b>"][i % 3], (i * 37) % 101 / 10] for i in range(120)]


@pytest.fixture
def table_ref(mb: Any, uniq: str, tmp_path: Path) -> str:
    folder = tmp_path / "tbl"
    folder.mkdir()
    table = write_table(folder, "preds", ROWS)
    run = modelbay.init(project=f"tables{uniq}")
    art = modelbay.Artifact("evalset", type="dataset")
    art.add_file(str(table))
    for image in sorted((folder / "media" / "images").iterdir()):
        art.add_file(str(image), name=f"media/images/{image.name}")
    run.log_artifact(art)
    run.finish()
    return f"tables{uniq}/evalset:v0"


def page(ref: str, **kw: Any) -> Any:
    return connect().call(TABLE, TableQuery(ref=ref, path="preds.table.json", **kw))


def test_a_page_holds_columns_types_rows_and_image_urls(table_ref: str) -> None:
    got = page(table_ref, limit=10)
    assert got.columns == ["id", "label", "score", "img"]
    assert got.types == ["number", "string", "number", "image"]
    assert got.count == got.total == 120
    assert [r[0] for r in got.rows] == list(range(10))
    assert got.indices == list(range(10))
    image = got.rows[3][3]
    project = table_ref.split("/")[0]
    assert image["url"] == f"/projects/{project}/artifacts/evalset/v0/images/media/images/3.png"
    assert got.rows[2][1] == "<b>bird</b>"


def test_sort_filter_and_offset(table_ref: str) -> None:
    by_score = page(table_ref, sort="score", descending=True, limit=5)
    scores = sorted((r[2] for r in ROWS), reverse=True)
    assert [r[2] for r in by_score.rows] == scores[:5]
    dogs = page(table_ref, filter="label = dog", limit=500)
    assert dogs.total == 40 and all(r[1] == "dog" for r in dogs.rows)
    mixed = page(table_ref, filter="label ~ BIRD and score >= 5", sort="id", limit=500)
    want = [r[0] for r in ROWS if "bird" in r[1] and r[2] >= 5]
    assert [r[0] for r in mixed.rows] == want and mixed.total == len(want)
    second = page(table_ref, filter="id > 99", offset=10, limit=5)
    assert [r[0] for r in second.rows] == [110, 111, 112, 113, 114]
    assert second.total == 20 and second.count == 120


def test_an_image_cell_links_only_to_its_version() -> None:
    from modelbay.services.tables import show_cells

    base = "/projects/p/artifacts/a/v0/images/"
    cells = [
        {"_type": "image-file", "path": "media/images/a b.png", "url": "https://evil.example/x"},
        {"_type": "image-file", "url": "https://evil.example/y"},
        {"url": "https://example.com/z"},
    ]
    shown = show_cells(cells, base)
    assert shown[0]["url"] == base + "media/images/a%20b.png"
    assert "url" not in shown[1]
    assert shown[2] == {"url": "https://example.com/z"}  # not an image: shown as JSON text


def test_bad_requests_say_what_is_wrong(table_ref: str) -> None:
    with pytest.raises(InvalidInputError, match="no column 'nope'"):
        page(table_ref, sort="nope")
    with pytest.raises(InvalidInputError, match="cannot read the filter"):
        page(table_ref, filter="label")
    with pytest.raises(NotFoundError):
        connect().call(TABLE, TableQuery(ref=table_ref, path="other.table.json"))


def test_a_runs_logged_table(mb: Any, uniq: str, tmp_path: Path) -> None:
    project = f"runtables{uniq}"
    run = modelbay.init(project=project)
    for n in (3, 5):
        folder = tmp_path / f"t{n}"
        folder.mkdir()
        write_table(folder, "preds", ROWS[:n], images=False)
        art = modelbay.Artifact(f"run-{run.id}-preds", type="run_table")
        art.add_file(str(folder / "preds.table.json"))
        run.log_artifact(art)
    run.finish()
    got = connect().call(RUN_TABLE, RunTableQuery(project=project, run_id=run.id, key="preds"))
    assert got.count == 5 and got.ref == f"{project}/run-{run.id}-preds:v1"
    with pytest.raises(NotFoundError):
        connect().call(RUN_TABLE, RunTableQuery(project=project, run_id=run.id, key="other"))


def test_a_table_logged_in_a_run_at_each_step(mb: Any, uniq: str) -> None:
    project = f"steptables{uniq}"
    run = modelbay.init(project=project)
    for step in range(3):
        table = modelbay.Table(columns=["id", "pred"])
        for i in range(step + 2):
            table.add_data(i, f"p{step}")
        run.log({"preds": table, "acc": step / 10}, step=step)
    run.finish()
    conn = connect()
    latest = conn.call(RUN_TABLE, RunTableQuery(project=project, run_id=run.id, key="preds"))
    assert latest.count == 4 and latest.rows[0] == [0, "p2"]
    first = conn.call(RUN_TABLE, RunTableQuery(project=project, run_id=run.id, key="preds", step=0))
    assert first.count == 2 and first.rows == [[0, "p0"], [1, "p0"]]
    with pytest.raises(NotFoundError, match="at step 7"):
        conn.call(RUN_TABLE, RunTableQuery(project=project, run_id=run.id, key="preds", step=7))


def test_histograms_of_steps_share_one_grid_and_keep_their_counts() -> None:
    from modelbay.server.ui.tables import histogram_grid

    h0 = {"_type": "histogram", "values": [1, 2, 3], "bins": [0.0, 1.0, 2.0, 3.0]}
    h1 = {"_type": "histogram", "values": [4, 5], "bins": [2.0, 4.0, 6.0]}
    grid = histogram_grid([(0, h0), (5, h1), (6, {"_type": "table-file"})])
    assert grid is not None and grid["steps"] == [0, 5]
    assert [sum(row[0] for row in grid["z"]), sum(row[1] for row in grid["z"])] == [6, 9]
    assert grid["y"] == [1.0, 3.0, 5.0]  # as many buckets as the finest has bins
    assert histogram_grid([(0, {"_type": "image-file"})]) is None


def test_a_partitioned_table_pages_as_one(mb: Any, uniq: str) -> None:
    """Its parts' rows in path order, sorted and filtered as one table; two versions whose
    pointer files are the same bytes but whose parts differ are not confused."""
    project = f"parted{uniq}"
    run = modelbay.init(project=project)
    for width in (3, 4):
        art = modelbay.Artifact("shards", type="dataset")
        for part in range(2):
            rows = [[part * 10 + i, i * width % 7] for i in range(width)]
            art.add(modelbay.Table(columns=["id", "score"], data=rows), f"parts/{part}")
        art.add(modelbay.PartitionedTable("parts"), "all")
        run.log_artifact(art)
    run.finish()

    def page_of(version: int, **kw: Any) -> Any:
        query = TableQuery(ref=f"{project}/shards:v{version}", path="all.partitioned-table.json")
        return connect().call(TABLE, query.model_copy(update=kw))

    first, second = page_of(0), page_of(1)
    assert first.count == 6 and [r[0] for r in first.rows] == [0, 1, 2, 10, 11, 12]
    assert second.count == 8 and first.sha256 != second.sha256
    top = page_of(1, sort="score", descending=True, limit=2)
    assert [r[1] for r in top.rows] == [5, 5] and [r[0] for r in top.rows] == [3, 13]
    assert page_of(0, filter="id >= 10").total == 3
