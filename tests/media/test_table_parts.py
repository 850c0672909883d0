"""W&B's partitioned and joined tables: written by the W&B client (0.31, offline) and read
with ``artifact.get`` as modelbay objects; written by modelbay and read back; a large table
file read a row at a time (issue #18)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modelbay
from modelbay.sdk.media import Image, Table
from modelbay.table_stream import TableStream


@pytest.fixture
def wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, sub in (("WANDB_DIR", "w"), ("WANDB_DATA_DIR", "d"), ("WANDB_CACHE_DIR", "c")):
        monkeypatch.setenv(name, str(tmp_path / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    import wandb

    return wandb


def wandb_files(wandb: Any) -> tuple[dict[str, Path], list[list[Any]]]:
    """An artifact W&B wrote: two parts of a partitioned table (with images) and a joined
    table of two tables; its files by path, and the rows of both parts."""
    rng = np.random.default_rng(3)
    art = wandb.Artifact("parts", "dataset")
    rows = []
    for part in range(2):
        data = [
            [part * 10 + i, wandb.Image(rng.integers(0, 255, (6, 5, 3), dtype=np.uint8)), i / 3]
            for i in range(3)
        ]
        rows += [[r[0], r[2]] for r in data]
        art.add(wandb.Table(columns=["id", "img", "score"], data=data), f"preds/part-{part}")
    art.add(wandb.data_types.PartitionedTable("preds"), "all_preds")
    left = wandb.Table(columns=["id", "label"], data=[[1, "cat"], [2, "dog"]])
    right = wandb.Table(columns=["id", "guess"], data=[[2, "dog"], [1, "eel"]])
    art.add(left, "left")
    art.add(right, "right")
    art.add(wandb.JoinedTable("left.table.json", "right.table.json", "id"), "joined")
    return {p: Path(e.local_path) for p, e in art.manifest.entries.items()}, rows


def log_files(files: dict[str, Path], project: str) -> Any:
    run = modelbay.init(project=project, mode="online")  # WANDB_MODE says offline
    art = modelbay.Artifact("parts", "dataset")
    for path, local in files.items():
        art.add_file(str(local), name=path)
    run.log_artifact(art)
    run.finish()
    return modelbay.Api().artifact(f"{project}/parts:v0")


def test_wandbs_partitioned_and_joined_tables_read(mb: Any, uniq: str, wandb: Any) -> None:
    files, rows = wandb_files(wandb)
    assert json.loads(files["all_preds.partitioned-table.json"].read_text()) == {
        "_type": "partitioned-table",
        "parts_path": "preds",
    }
    art = log_files(files, f"wbparts{uniq}")

    parted = art.get("all_preds")
    assert isinstance(parted, modelbay.PartitionedTable)
    assert parted.parts_path == "preds"
    assert parted.parts == ["preds/part-0.table.json", "preds/part-1.table.json"]
    got = list(parted.iterrows())
    assert [i for i, _ in got] == list(range(6))
    assert [[r[0], r[2]] for _, r in got] == rows
    image = got[4][1][1]
    assert isinstance(image, Image) and (image.width, image.height) == (5, 6)
    assert image.local_path is not None and Path(image.local_path).is_file()

    joined = art.get("joined")
    assert isinstance(joined, modelbay.JoinedTable)
    assert joined.join_key == "id"
    assert isinstance(joined.table1, Table) and isinstance(joined.table2, Table)
    assert joined.table1.get_column("label") == ["cat", "dog"]
    assert joined.table2.get_column("guess") == ["dog", "eel"]


def test_modelbay_writes_them_as_wandb_does(mb: Any, uniq: str) -> None:
    run = modelbay.init(project=f"mbparts{uniq}")
    art = modelbay.Artifact("parts", "dataset")
    for part in range(3):
        art.add(Table(columns=["id", "p"], data=[[part, part / 2]]), f"shards/{part}")
    art.add(modelbay.PartitionedTable("shards"), "all")
    left = Table(columns=["id", "label"], data=[[1, "cat"]])
    art.add(modelbay.JoinedTable(left, "shards/0.table.json", ["id", "id"]), "joined")
    run.log_artifact(art)
    run.finish()
    logged = modelbay.Api().artifact(f"mbparts{uniq}/parts:v0")
    names = {f.path for f in logged.files()}
    assert {"all.partitioned-table.json", "joined.joined-table.json"} <= names
    assert "joined-table1.table.json" in names
    assert [r for _, r in logged.get("all").iterrows()] == [[0, 0.0], [1, 0.5], [2, 1.0]]
    joined = logged.get("joined")
    assert joined.join_key == ["id", "id"] and joined.keys() == ("id", "id")
    assert joined.table1 == left
    assert joined.table2.data == [[0, 0.0]]
    with pytest.raises(modelbay.UsageError):
        list(modelbay.PartitionedTable("shards").iterrows())
    with pytest.raises(modelbay.InvalidInputError):
        modelbay.JoinedTable(left, "not-a-table.json", "id")


def test_a_table_file_is_read_a_row_at_a_time(tmp_path: Path) -> None:
    """Rows split across the smallest chunks, text with brackets and non-ASCII characters,
    NaN, and keys after ``data`` read as ``json.load`` reads them."""
    rows = [[i, f"é]{i}[,", float("nan") if i % 5 == 0 else i / 7, {"a": [i]}] for i in range(50)]
    doc = {"_type": "table", "columns": ["a", "b", "c", "d"], "data": rows, "nrows": 50}
    path = tmp_path / "t.table.json"
    path.write_text(json.dumps(doc))
    for chunk in (1, 3, 1 << 16):
        stream = TableStream.of_file(path, chunk)
        assert json.dumps(list(stream.rows())) == json.dumps(rows)
        assert stream.header == {"_type": "table", "columns": ["a", "b", "c", "d"], "nrows": 50}
    path.write_text('{"columns": ["a"], "data": [[1], [2}')
    with pytest.raises(modelbay.InvalidInputError):
        list(TableStream.of_file(path, 4).rows())
