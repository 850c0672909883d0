"""W&B's public API (``modelbay.Api``), embedded and over HTTP (fixture ``mb``): runs searched
with filters and orders, history rows, summary and config written back, run files, and the
registry chain with its filters."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import modelbay as wandb
from modelbay import Api
from modelbay.errors import InvalidFilterError, InvalidInputError, MissingExtraError


def _log_runs(project: str) -> list[str]:
    ids = []
    for i, acc in enumerate([0.5, 0.9, 0.7]):
        run = wandb.init(project=project, config={"lr": 10.0**-i, "opt": "adam"}, tags=[f"t{i}"])
        for step in range(5):
            run.log({"acc": acc * step / 4, "loss": 1 - acc * step / 4})
        run.finish()
        ids.append(run.id)
    return ids


def test_runs_filtered_ordered_and_paged(mb, uniq):
    project = f"pub{uniq}"
    ids = _log_runs(project)
    api = Api(overrides={"entity": "team", "project": project})
    runs = api.runs(f"someone/{project}", order="-summary_metrics.acc", per_page=1)
    assert [r.id for r in runs] == [ids[1], ids[2], ids[0]] and len(runs) == 3
    assert runs[0].entity == "someone" and runs[1].id == ids[2]
    found = api.runs(filters={"config.lr": {"$lt": 0.5}, "tags": {"$in": ["t2", "t0"]}})
    assert [r.id for r in found] == [ids[2]] and found[0].entity == "team"
    assert [r.id for r in api.runs(project, {"$or": [{"tags": "t0"}, {"state": "crashed"}]})] == [
        ids[0]
    ]
    with pytest.raises(InvalidFilterError, match="unknown field 'colour'"):
        list(api.runs(project, {"colour": "red"}))
    with pytest.raises(InvalidInputError):
        api.runs("a/b/c")


def test_history_rows_and_scan(mb, uniq):
    project = f"hist{uniq}"
    run_id = _log_runs(project)[0]
    run = Api().run(f"anyone/{project}/{run_id}")
    frame = run.history()
    assert list(frame["_step"]) == [0, 1, 2, 3, 4]
    assert {"_step", "_timestamp", "_runtime", "acc", "loss"} <= set(frame.columns)
    rows = run.history(keys=["acc"], pandas=False)
    assert [r["_step"] for r in rows] == [0, 1, 2, 3, 4] and "loss" not in rows[0]
    assert rows[-1]["acc"] == pytest.approx(0.5) and rows[0]["_runtime"] >= 0
    scanned = list(run.scan_history(keys=["loss"], min_step=1, max_step=4))
    assert [r["_step"] for r in scanned] == [1, 2, 3]
    # Paged on the server two steps a request: the same rows as in one page.
    paged = list(run.scan_history(page_size=2, min_step=1))
    assert paged == list(run.scan_history(page_size=1000, min_step=1))
    assert [r["_step"] for r in paged] == [1, 2, 3, 4] and {"acc", "loss"} <= set(paged[0])
    assert len(run.history(samples=2, pandas=False)) <= 4  # each key keeps min and max


def test_history_without_pandas_says_how_to_get_it(mb, uniq, monkeypatch):
    project = f"nopd{uniq}"
    run = Api().run(f"{project}/{_log_runs(project)[0]}")
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if it were not installed
    with pytest.raises(MissingExtraError, match="pip install pandas"):
        run.history()
    assert len(run.history(pandas=False)) == 5


def test_summary_and_config_persist_on_update(mb, uniq):
    project = f"upd{uniq}"
    run_id = _log_runs(project)[0]
    run = Api().run(f"{project}/{run_id}")
    run.summary["best"] = 0.99
    run.config["note"] = "tuned"
    run.tags.append("reviewed")
    run.update()
    again = Api().run(f"{project}/{run_id}")
    assert again.summary["best"] == 0.99 and again.config["note"] == "tuned"
    assert "reviewed" in again.tags
    again.summary.update({"final": 1})
    assert Api().run(f"{project}/{run_id}").summary["final"] == 1
    assert again.created_at.endswith("Z") and again.url.endswith(f"/runs/{run_id}")
    assert "python" in again.metadata


def test_run_files(mb, uniq, tmp_path: Path):
    project = f"files{uniq}"
    run_id = _log_runs(project)[0]
    run = Api().run(f"{project}/{run_id}")
    assert run.files() == []
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("second")
    run.upload_file(str(tmp_path / "notes.txt"), root=str(tmp_path))
    run.upload_file(str(tmp_path / "sub" / "b.txt"), root=str(tmp_path))
    assert sorted(f.name for f in run.files()) == ["notes.txt", "sub/b.txt"]
    out = tmp_path / "out"
    with run.file("sub/b.txt").download(root=str(out)) as handle:
        assert handle.read() == "second"


def test_registry_chain_and_collection_edits(mb, uniq, tmp_path: Path):
    project = f"reg{uniq}"
    run = wandb.init(project=project)
    for i, (name, acc) in enumerate([(f"yolo{uniq}", 0.8), (f"bert{uniq}", 0.6)]):
        path = tmp_path / f"w{i}.bin"
        path.write_text(f"weights {i}")
        art = wandb.Artifact(f"m{i}", "model", metadata={"acc": acc})
        art.add_file(str(path))
        run.log_artifact(art)
        art.link(f"model-registry/{name}", aliases=["production"] if i else None)
    run.finish()
    api = Api()
    regs = api.registries(filter={"name": {"$regex": "^mod"}})
    assert [r.name for r in regs] == ["model"]
    colls = regs.collections(filter={"name": {"$regex": f"yolo{uniq}"}})
    assert [c.name for c in colls] == [f"yolo{uniq}"]
    good = regs.versions(filter={"metadata.acc": {"$gt": 0.7}, "alias": "latest"})
    assert f"yolo{uniq}" in [v.info["link"]["collection"] for v in good]
    prod = (
        api.registries()
        .collections(filter={"name": f"bert{uniq}"})
        .versions(filter={"alias": "production"})
    )
    assert [v.version for v in prod] == ["v0"]
    coll = api.artifact_collection("model", f"wandb-registry-model/bert{uniq}")
    coll.description = "a text model"
    coll.tags = ["nlp"]
    coll.save()
    again = api.artifact_collection("model", f"model-registry/bert{uniq}")
    assert again.description == "a text model" and again.tags == ["nlp"]
    assert "production" in again.aliases and [a.version for a in again.artifacts()] == ["v0"]
    assert [c.name for c in api.registries().collections(filter={"tag": "nlp"})] == [f"bert{uniq}"]
    assert api.artifact_collection_exists(f"{project}/m0", "model")
    assert not api.artifact_collection_exists(f"{project}/m0", "dataset")
    seq = api.artifact_collection("model", f"{project}/m0")
    assert seq.is_sequence() and [a.version for a in seq.artifacts()] == ["v0"]
    assert [t.name for t in api.artifact_types(project)] == ["model"]
    assert sorted(c.name for c in api.artifact_collections(project, "model")) == ["m0", "m1"]
    assert [a.version for a in api.artifacts("model", f"{project}/m1")] == ["v0"]


def test_runs_by_group_and_entity(mb, uniq):
    project = f"grp{uniq}"
    for group in ("exp-1", "exp-1", "exp-2"):
        with wandb.init(project=project, entity="team-a", group=group) as run:
            run.log({"loss": 1.0})
    api = Api()
    found = api.runs(f"team-a/{project}", {"group": "exp-1"})
    assert len(found) == 2 and {r.group for r in found} == {"exp-1"}
    assert {r.entity for r in found} == {"team-a"}
    assert len(api.runs(project, {"entity": "team-b"})) == 0


def test_registries_collections_and_versions_in_order(mb, uniq, tmp_path: Path):
    """W&B's ``order=``: ``+`` (the default) or ``-`` and a field; a search chained on
    ordered registries goes registry by registry, in their order."""
    api = Api()
    for name in (f"zeta{uniq}", f"alpha{uniq}"):  # alpha is created last
        api.create_registry(name)
    run = wandb.init(project=f"ord{uniq}")
    for i, (registry, collection, size) in enumerate(
        [(f"zeta{uniq}", "c-b", 10), (f"zeta{uniq}", "c-a", 30), (f"alpha{uniq}", "c-c", 20)]
    ):
        path = tmp_path / f"w{i}.bin"
        path.write_text("x" * size)
        art = wandb.Artifact(f"m{i}", "model")
        art.add_file(str(path))
        run.log_artifact(art)
        art.link(f"wandb-registry-{registry}/{collection}")
    run.finish()
    mine = {"name": {"$regex": f"{uniq}$"}}

    def names(found) -> list[str]:
        return [r.name for r in found]

    assert names(api.registries(filter=mine, order="name")) == [f"alpha{uniq}", f"zeta{uniq}"]
    assert names(api.registries(filter=mine, order="-name")) == [f"zeta{uniq}", f"alpha{uniq}"]
    assert names(api.registries(filter=mine, order="-created_at")) == [
        f"alpha{uniq}",
        f"zeta{uniq}",
    ]
    # Registry by registry (alpha's, then zeta's), each registry's in the collection order.
    chained = api.registries(filter=mine, order="+name").collections(order="-name")
    assert names(chained) == ["c-c", "c-b", "c-a"]
    assert names(api.registries(filter=mine).collections(order="name", per_page=1)) == [
        "c-a",
        "c-b",
        "c-c",
    ]
    by_size = api.registries(filter=mine).versions(order="-artifact_size", per_page=2)
    assert [v.info["link"]["collection"] for v in by_size] == ["c-a", "c-c", "c-b"]
    with pytest.raises(InvalidFilterError, match="cannot order by 'colour'"):
        list(api.registries(order="colour"))
    with pytest.raises(InvalidInputError, match="start="):
        api.registries(order="name").collections(start="x")
