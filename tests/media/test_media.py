"""Tables, images and histograms, embedded and over HTTP (``mb``): W&B's stored formats,
logged in runs (history references at their steps) and added to artifacts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image as PILImage

import modelbay
from modelbay import Api, Artifact, Histogram, Image, Table
from modelbay.sdk.run import RunSettings

QUIET = RunSettings(system_interval=0)


def pixels(seed: int, size: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)


def test_table_api_as_in_wandb(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [1, 2], "label": ["cat", "dog"], "p": [0.9, 0.4]})
    table = Table(dataframe=frame)
    assert table.columns == ["id", "label", "p"]
    table.add_data(3, "eel", np.float32(0.5))  # numpy scalars become plain numbers
    table.add_column("tokens", [[1, 2], [3], []])
    assert table.get_column("label") == ["cat", "dog", "eel"]
    assert table.get_column("p", convert_to="numpy").dtype == np.float64
    assert list(table.get_dataframe()["tokens"]) == [[1, 2], [3], []]
    assert Table(data=frame).columns == ["id", "label", "p"]  # a DataFrame as data, too
    with pytest.raises(modelbay.InvalidInputError, match="4 cells"):
        table.add_data(1, 2)
    with pytest.raises(modelbay.InvalidInputError, match="no column"):
        table.get_column("missing")
    with pytest.raises(modelbay.InvalidInputError, match="cannot hold"):
        table.add_data(object(), "x", 1.0, [])


def test_images_from_arrays_pil_and_paths(tmp_path: Path) -> None:
    array = pixels(1)
    from_array = Image(array, caption="one")
    from_pil = Image(PILImage.fromarray(array))
    path = tmp_path / "one.png"
    PILImage.fromarray(array).save(path)
    from_path = Image(str(path))
    assert (from_array.width, from_array.height, from_array.format) == (16, 16, "png")
    assert from_array == from_pil  # the same pixels encode to the same PNG
    assert (from_path.width, from_path.height) == (16, 16)
    assert np.array_equal(np.asarray(from_array.image()), array)
    floats = Image(np.full((4, 4), 0.5))  # floats in [0, 1] are scaled to 0..255
    assert np.asarray(floats.image()).max() == 127
    with pytest.raises(modelbay.InvalidInputError):
        Image(np.zeros((2, 2, 7)))
    with pytest.raises(modelbay.InvalidInputError):
        Image(str(tmp_path / "absent.png"))


def test_histogram_matches_numpy_and_wandb_json() -> None:
    values = np.random.default_rng(0).normal(size=1000)
    counts, edges = np.histogram(values, bins=20)
    h = Histogram(values, num_bins=20)
    assert h.to_json() == {"_type": "histogram", "values": counts.tolist(), "bins": edges.tolist()}
    given = Histogram(np_histogram=(counts, edges))
    assert given.histogram == counts.tolist()
    with pytest.raises(modelbay.InvalidInputError, match="one more"):
        Histogram(np_histogram=([1, 2], [0.0, 1.0]))
    with pytest.raises(modelbay.InvalidInputError):
        Histogram(values, num_bins=0)


def test_artifact_add_and_get_a_table_with_images(mb: Any, uniq: str, tmp_path: Path) -> None:
    images = [Image(pixels(i), caption=f"c{i}") for i in range(3)]
    table = Table(columns=["id", "img", "pred"])
    for i, image in enumerate(images):
        table.add_data(i, image, ["cat", "dog", "eel"][i])
    table.add_data(3, images[0], None)  # the same image in two rows: one file
    run = modelbay.init(project=f"m{uniq}", run_settings=QUIET)
    art = Artifact("preds", "dataset")
    art.add(table, "preds")
    art.add(Histogram([1, 2, 2, 3]), "h")
    run.log_artifact(art)
    paths = sorted(f.path for f in art.files())
    assert paths == sorted(["preds.table.json", "h.histogram.json", *{i.path for i in images}])
    root = Path(art.download(tmp_path / "dl"))
    stored = json.loads((root / "preds.table.json").read_text())
    # W&B's file: its keys, image cells pointing at files beside it.
    assert stored["_type"] == "table" and stored["columns"] == ["id", "img", "pred"]
    assert (stored["ncols"], stored["nrows"]) == (3, 4)
    cell = stored["data"][0][1]
    assert cell["_type"] == "image-file" and cell["caption"] == "c0"
    assert (cell["width"], cell["height"], cell["format"]) == (16, 16, "png")
    assert (root / cell["path"]).stat().st_size == cell["size"]
    assert stored["column_types"]["wb_type"] == "typedDict"

    got = Api().artifact(f"m{uniq}/preds:v0").get("preds")
    assert isinstance(got, Table) and got.columns == table.columns
    assert [r[0] for r in got.data] == [0, 1, 2, 3] and got.data[3][2] is None
    assert got.data[1][1] == images[1]
    assert np.array_equal(np.asarray(got.data[1][1].image()), pixels(1))
    assert (
        Api().artifact(f"m{uniq}/preds:v0").get("h").to_json() == Histogram([1, 2, 2, 3]).to_json()
    )
    with pytest.raises(modelbay.NotFoundError):
        art.get("absent")

    # A second version sharing two of the images stores only what is new.
    art2 = Artifact("preds", "dataset")
    art2.add(Table(columns=["img"], data=[[images[0]], [images[1]], [Image(pixels(9))]]), "preds")
    run.log_artifact(art2)
    assert art2.version == "v1"
    shared = {f.sha256 for f in art.files()} & {f.sha256 for f in art2.files()}
    assert {images[0].sha256, images[1].sha256} <= shared
    run.finish()


def test_run_log_keeps_wandb_references_per_step(mb: Any, uniq: str) -> None:
    run = modelbay.init(project=f"l{uniq}", run_settings=QUIET)
    table = Table(columns=["id", "img"], data=[[0, Image(pixels(0))], [1, Image(pixels(1))]])
    run.log({"acc": 0.5, "eval": {"preds": table}, "img": Image(pixels(2), caption="x")})
    grid = [Image(pixels(4), caption="a"), Image(pixels(5))]
    run.log({"acc": 0.6, "h": Histogram([1, 2, 3], num_bins=3), "grid": grid})
    table.add_data(2, Image(pixels(3)))
    run.log({"eval/preds": table})
    assert run.dir is not None and (Path(run.dir) / "blobs").is_dir()  # staged in the run directory
    run.finish()
    assert not (Path(run.dir) / "blobs").exists()  # sent: nothing left behind

    stored = Api().run(run.path)
    media = stored.media()
    assert sorted(media) == ["eval/preds", "grid", "h", "img"]
    assert [s for s, _, _ in media["eval/preds"]] == [0, 2]
    first, last = media["eval/preds"][0][1], media["eval/preds"][1][1]
    assert first["_type"] == "table-file" and (first["ncols"], first["nrows"]) == (2, 2)
    assert last["nrows"] == 3 and last["path"] == "eval_preds.table.json"
    assert first["artifact_path"].endswith(f"/run-{run.id}-eval_preds:v0/eval_preds.table.json")
    assert last["artifact_path"].endswith(f"/run-{run.id}-eval_preds:v1/eval_preds.table.json")
    expected = Histogram([1, 2, 3], num_bins=3).to_json()
    assert [(s, v) for s, v, _ in media["h"]] == [(1, expected)]
    assert expected["values"] == [1, 1, 1]
    assert media["img"][0][1]["_type"] == "image-file" and media["img"][0][1]["caption"] == "x"
    assert stored.series()["acc"][1][:2] == [1, 0.6]  # numbers stay numbers
    assert stored.summary["eval/preds"]["nrows"] == 3  # the latest reference, as in W&B
    assert stored.media(keys=["h"]).keys() == {"h"}
    separated = media["grid"][0][1]  # W&B's images/separated
    assert separated["_type"] == "images/separated" and separated["count"] == 2
    assert separated["filenames"] == [i.path for i in grid]
    assert separated["captions"] == ["a", ""]
    group = Api().artifact(f"{run.project}/run-{run.id}-grid:v0").get("grid")
    assert [i.sha256 for i in group.group] == [i.sha256 for i in grid]

    logged = {a.name.split(":")[0]: a for a in stored.logged_artifacts()}
    table_art = Api().artifact(f"{run.project}/run-{run.id}-eval_preds:v1")
    assert table_art.type == "run_table" and f"run-{run.id}-eval_preds" in logged
    got = table_art.get("eval_preds")
    assert [row[0] for row in got.data] == [0, 1, 2]
    assert np.array_equal(np.asarray(got.data[2][1].image()), pixels(3))


def test_a_history_object_of_unknown_type_is_refused(mb: Any, uniq: str) -> None:
    from modelbay.contract import operations as ops
    from modelbay.contract import requests as rq
    from modelbay.sdk.transport import connect

    run = modelbay.init(project=f"r{uniq}", run_settings=QUIET)
    run.finish()
    request = rq.HistoryPost.model_construct(
        project=run.project,
        run_id=run.id,
        points=[{"step": 0, "time": 1.0, "values": {"x": {"_type": "html"}}}],
    )
    with pytest.raises(modelbay.InvalidInputError, match="_type"):
        connect().call(ops.LOG_HISTORY, request)
    big = {"_type": "histogram", "values": [1] * 40_000, "bins": []}
    request = rq.HistoryPost.model_construct(
        project=run.project, run_id=run.id, points=[{"step": 0, "time": 1.0, "values": {"h": big}}]
    )
    with pytest.raises(modelbay.InvalidInputError, match="64 KiB"):
        connect().call(ops.LOG_HISTORY, request)
    assert Api().run(run.path).media() == {}  # nothing of a refused call is stored


def test_a_table_over_the_row_limit_is_refused_when_written(tmp_path: Path) -> None:
    from modelbay.sdk.media import MAX_ARTIFACT_ROWS

    table = Table(columns=["i"], data=[[i] for i in range(MAX_ARTIFACT_ROWS + 1)])
    art = Artifact("big", "dataset")
    with pytest.raises(modelbay.InvalidInputError, match="at most"):
        art.add(table, "t")
