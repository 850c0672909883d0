"""The files modelbay writes are W&B's: the same table written by the W&B client (0.31,
offline) and by modelbay, compared key by key. The viewer reads what either wrote."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modelbay


@pytest.fixture
def wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, sub in (("WANDB_DIR", "w"), ("WANDB_DATA_DIR", "d"), ("WANDB_CACHE_DIR", "c")):
        monkeypatch.setenv(name, str(tmp_path / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    import wandb

    return wandb


def rows(sdk: Any, arrays: list[np.ndarray]) -> list[list[Any]]:
    return [
        [i, sdk.Image(a, caption=f"c{i}"), ["cat", "dog"][i], [i, i + 1], i / 4, i == 1]
        for i, a in enumerate(arrays)
    ]


def test_a_table_file_is_the_one_wandb_writes(wandb: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 255, (12, 10, 3), dtype=np.uint8) for _ in range(2)]
    columns = ["id", "img", "label", "tokens", "score", "flag"]

    theirs_art = wandb.Artifact("t", "dataset")
    theirs_art.add(wandb.Table(columns=columns, data=rows(wandb, arrays)), "preds")
    entry = theirs_art.manifest.entries["preds.table.json"]
    theirs = json.loads(Path(entry.local_path).read_text())

    ours_art = modelbay.Artifact("t", "dataset")
    ours_art.add(modelbay.Table(columns=columns, data=rows(modelbay, arrays)), "preds")
    ours = json.loads(ours_art._entries["preds.table.json"].read_text())

    assert ours.keys() == theirs.keys()
    for key in ("_type", "columns", "ncols", "nrows", "log_mode"):
        assert ours[key] == theirs[key], key
    for mine, wbs in zip(ours["data"], theirs["data"], strict=True):
        assert mine[:1] + mine[2:] == wbs[:1] + wbs[2:]
        image, their_image = mine[1], wbs[1]
        assert image.keys() >= their_image.keys()
        for key in ("_type", "sha256", "format", "width", "height", "caption"):
            assert image[key] == their_image[key], key  # the same PNG bytes, too
        assert image["path"].startswith("media/images/") and image["path"].endswith(".png")
        assert their_image["path"].startswith("media/images/")
    # The scalar and list columns are typed as W&B types them.
    ours_types = ours["column_types"]["params"]["type_map"]
    theirs_types = theirs["column_types"]["params"]["type_map"]
    assert ours["column_types"]["wb_type"] == theirs["column_types"]["wb_type"] == "typedDict"
    for column in ("id", "label", "score", "flag"):
        assert _types(ours_types[column]) == _types(theirs_types[column]), column
    assert {t["wb_type"] for t in ours_types["img"]["params"]["allowed_types"]} == {
        t["wb_type"] for t in theirs_types["img"]["params"]["allowed_types"]
    }
    assert (
        os.path.getsize(ours_art._entries[ours["data"][0][1]["path"]]) == ours["data"][0][1]["size"]
    )


def test_a_histogram_is_the_one_wandb_writes(wandb: Any) -> None:
    values = np.random.default_rng(1).normal(size=500)
    theirs = wandb.Histogram(values, num_bins=16)
    ours = modelbay.Histogram(values, num_bins=16)
    assert ours.to_json()["values"] == list(theirs.histogram)
    assert ours.to_json()["bins"] == pytest.approx(list(theirs.bins))
    assert ours.to_json()["_type"] == "histogram"


def _types(union: dict[str, Any]) -> list[str]:
    return sorted(json.dumps(t, sort_keys=True) for t in union["params"]["allowed_types"])
