"""The SDK suite: every call, the same assertions, embedded and over HTTP (fixture ``mb``)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import modelbay
import modelbay as wandb
from modelbay import Api, Artifact


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_quickstart_runs_unchanged(mb, tmp_path, uniq):
    script = tmp_path / "train.py"
    script.write_text(
        "import modelbay as wandb\n"
        "import random\n"
        f"run = wandb.init(project='models_quickstart{uniq}')\n"
        "run.log({'acc': random.random()})\n"
        "with open('my_model.h5', 'w') as f:\n"
        "    f.write('Model: ' + str(random.random()))\n"
        f"run.link_model(path='./my_model.h5', registered_model_name='MNIST{uniq}')\n"
        "run.finish()\n"
    )
    env = {**os.environ, **mb.env}
    for _ in range(2):
        subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, check=True, timeout=60)
    versions = list(Api().collection(f"model-registry/MNIST{uniq}").versions())
    assert [v.version for v in versions] == ["v1", "v0"]
    assert versions[0].aliases == ["latest"]
    runs = Api().runs(f"models_quickstart{uniq}")
    assert len(runs) == 2 and all(r.state == "finished" for r in runs)
    assert all("acc" in r.summary for r in runs)


def test_init_log_config_summary_and_history(mb, uniq):
    run = wandb.init(
        project=f"p{uniq}", config={"lr": 0.1, "layers": [1, 2]}, tags=["baseline"], notes="n"
    )
    assert modelbay.run is run
    run.config.batch = 32
    run.config["epochs"] = 3
    for i in range(5):
        wandb.log({"loss": 1.0 / (i + 1), "acc": i / 10, "nested": {"a": i}})
    run.log({"partial": 1}, commit=False)
    run.log({"other": 2})
    run.log({"late": 5}, step=10)
    with pytest.warns(UserWarning, match="lower than the current step"):
        run.log({"back": 1}, step=2)
    run.log({"nan": float("nan"), "inf": float("inf"), "flag": True})
    run.summary["best"] = 0.99
    wandb.finish()
    assert modelbay.run is None

    stored = Api().run(f"p{uniq}/{run.id}")
    assert stored.state == "finished"
    assert stored.config == {"lr": 0.1, "layers": [1, 2], "batch": 32, "epochs": 3}
    assert stored.summary["loss"] == pytest.approx(0.2)
    assert stored.summary["best"] == 0.99
    assert stored.tags == ["baseline"]
    history = stored.series()
    assert [p[0] for p in history["loss"]] == [0, 1, 2, 3, 4]
    assert history["nested/a"][-1][1] == 4
    assert history["partial"][0][0] == history["other"][0][0] == 5
    assert history["late"][0][0] == 10
    assert "back" not in history
    assert math.isnan(history["nan"][0][1]) and history["inf"][0][1] == math.inf
    assert history["flag"][0][1] == 1.0


def test_run_context_manager_marks_failure(mb, uniq):
    with pytest.raises(RuntimeError), wandb.init(project=f"p{uniq}") as run:
        raise RuntimeError("boom")
    assert Api().run(f"p{uniq}/{run.id}").state == "failed"


def test_resume_continues_steps(mb, uniq):
    run = wandb.init(project=f"p{uniq}", id=f"r{uniq}")
    run.log({"x": 1})
    run.log({"x": 2})
    run.finish()
    with pytest.raises(modelbay.AlreadyExistsError):
        wandb.init(project=f"p{uniq}", id=f"r{uniq}")
    with pytest.raises(modelbay.NotFoundError):
        wandb.init(project=f"p{uniq}", id=f"missing{uniq}", resume="must")
    again = wandb.init(project=f"p{uniq}", id=f"r{uniq}", resume="allow")
    again.log({"x": 3})
    again.finish()
    assert [p[0] for p in Api().run(f"p{uniq}/r{uniq}").series()["x"]] == [0, 1, 2]


def test_log_artifact_versions_dedup_and_files(mb, tmp_path, uniq, capsys):
    run = wandb.init(project=f"p{uniq}")
    art = Artifact("data", "dataset", description="first", metadata={"rows": 3})
    art.add_file(write(tmp_path / "a.csv", "1,2\n"))
    art.add_dir(
        tmp_path / "src" if write(tmp_path / "src" / "x" / "y.txt", "y") else None, name="tree"
    )
    with art.new_file("notes.md") as f:
        f.write("hello")
    logged = run.log_artifact(art, aliases=["best"])
    assert logged.version == "v0"
    assert sorted(logged.aliases) == ["best", "latest"]
    assert sorted(f.path for f in logged.files()) == ["a.csv", "notes.md", "tree/x/y.txt"]
    assert logged.size == 4 + 5 + 1
    assert logged.metadata == {"rows": 3}

    same = Artifact("data", "dataset")
    same.add_file(tmp_path / "a.csv")
    same.add_dir(tmp_path / "src", name="tree")
    write(tmp_path / "n" / "notes.md", "hello")
    same.add_file(tmp_path / "n" / "notes.md")
    again = run.log_artifact(same)
    assert again.version == "v0"
    assert "same content" in capsys.readouterr().err

    changed = Artifact("data", "dataset")
    changed.add_file(write(tmp_path / "a.csv", "1,2,3\n"))
    v1 = run.log_artifact(changed)
    assert v1.version == "v1" and "latest" in v1.aliases
    assert [a.version for a in Api().artifacts(f"p{uniq}", "data")] == ["v1", "v0"]
    assert Api().artifact(f"p{uniq}/data:best").version == "v0"
    assert Api().artifact(f"p{uniq}/data").version == "v1"
    assert {a.version for a in run.logged_artifacts()} == {"v0", "v1"}
    run.finish()


def test_log_artifact_from_path_defaults(mb, tmp_path, uniq):
    run = wandb.init(project=f"p{uniq}")
    a = run.log_artifact(write(tmp_path / "weights.bin", "w"))
    assert a.qualified_name == f"p{uniq}/run-{run.id}-weights.bin:v0"
    assert a.type == "unspecified"
    run.finish()


def test_download_file_verify(mb, tmp_path, uniq):
    run = wandb.init(project=f"p{uniq}")
    art = Artifact("m", "model")
    art.add_file(write(tmp_path / "w.bin", "weights"))
    art.add_file(write(tmp_path / "cfg.json", "{}"))
    logged = run.log_artifact(art)
    root = tmp_path / "out"
    write(root / "extra.txt", "keep me")
    path = logged.download(root)
    assert Path(path) == root
    assert (root / "w.bin").read_text() == "weights"
    assert (root / "extra.txt").read_text() == "keep me"
    with pytest.raises(modelbay.DigestMismatchError, match="unexpected extra.txt"):
        logged.verify(root)
    (root / "extra.txt").unlink()
    logged.verify(root)
    (root / "w.bin").write_text("tampered")
    with pytest.raises(modelbay.DigestMismatchError, match="changed w.bin"):
        logged.verify(root)
    logged.download(root)  # repairs the changed file
    logged.verify(root)
    with pytest.raises(modelbay.InvalidInputError, match="2 files"):
        logged.file()
    single = Artifact("one", "model")
    single.add_file(tmp_path / "w.bin")
    one = run.log_artifact(single)
    assert Path(one.file(tmp_path / "single")).read_text() == "weights"
    run.finish()


def test_link_model_use_model_and_lineage(mb, tmp_path, uniq):
    data_run = wandb.init(project=f"p{uniq}", job_type="prep")
    ds = Artifact("mnist", "dataset")
    ds.add_file(write(tmp_path / "train.csv", "x"))
    data_run.log_artifact(ds)
    data_run.finish()

    train = wandb.init(project=f"p{uniq}", job_type="train")
    train.use_artifact("mnist:latest", type="dataset")
    write(tmp_path / "model.h5", "m0")
    linked = train.link_model(tmp_path / "model.h5", f"MNIST{uniq}", aliases=["staging"])
    assert linked.qualified_name == f"model-registry/MNIST{uniq}:v0"
    assert sorted(linked.aliases) == ["latest", "staging"]
    assert linked.is_link
    assert linked.logged_by().id == train.id
    train.finish()

    consumer = wandb.init(project=f"q{uniq}", job_type="eval")
    path = consumer.use_model(f"model-registry/MNIST{uniq}:staging")
    assert Path(path).read_text() == "m0"
    assert [a.qualified_name for a in consumer.used_artifacts()] == [linked.source_qualified_name]
    with pytest.raises(modelbay.InvalidInputError, match="not a model type"):
        consumer.use_model(f"p{uniq}/mnist:latest")
    consumer.finish()

    assert [r.id for r in linked.used_by()] == [consumer.id]
    graph = Api().lineage(ref=f"model-registry/MNIST{uniq}:staging", depth=3)
    kinds = {(e["kind"], e["from"].split(":")[0], e["to"].split(":")[0]) for e in graph["edges"]}
    assert ("used", "artifact", "run") in kinds and ("logged", "run", "artifact") in kinds
    refs = {n.get("ref") for n in graph["nodes"] if n["kind"] == "artifact"}
    assert f"p{uniq}/mnist:v0" in refs  # walked upstream to the dataset


def test_registry_aliases_links_and_history(mb, tmp_path, uniq):
    run = wandb.init(project=f"p{uniq}")
    versions = []
    for i in range(3):
        a = Artifact("clf", "model")
        a.add_file(write(tmp_path / "m.bin", f"model {i}"))
        versions.append(run.log_artifact(a))
    target = f"model-registry/Clf{uniq}"
    links = [run.link_artifact(v, target) for v in versions]
    assert [x.version for x in links] == ["v0", "v1", "v2"]
    assert links[0].link(target).version == "v0" if False else True
    again = versions[1].link(target)
    assert again.version == "v1"  # linking the same version again returns the existing link

    col = Api().collection(target)
    col.set_alias("production", "v0")
    col.set_alias("production", "v2")  # moves
    assert col.version("production").version == "v2"
    assert Api().artifact(f"models:/Clf{uniq}@production").version == "v2"
    assert Api().artifact(f"models:/Clf{uniq}/1").version == "v1"
    assert Api().artifact(f"wandb-registry-model/Clf{uniq}:latest").version == "v2"
    with pytest.raises(modelbay.InvalidNameError):
        col.set_alias("latest", "v0")
    with pytest.raises(modelbay.InvalidNameError):
        col.set_alias("v1", "v0")
    with pytest.raises(modelbay.NotFoundError):
        col.set_alias("production", "v9")
    with pytest.raises(modelbay.NotFoundError):
        Api().artifact(f"{target}:nope")

    col.update(description="# Classifier\nGood.", tags=["vision", "prod-ready"])
    fresh = Api().collection(target)
    assert fresh.description.startswith("# Classifier")
    assert fresh.tags == ["prod-ready", "vision"]
    assert fresh.aliases == {"latest": "v2", "production": "v2"}

    v2 = Api().artifact(f"{target}:v2")
    v2.aliases.append("champion")
    v2.description = "best so far"
    v2.tags = ["good"]
    v2.save()
    assert sorted(Api().artifact(f"{target}:champion").aliases) == [
        "champion",
        "latest",
        "production",
    ]
    assert (
        Api().artifact(versions[2].qualified_name).description == "best so far"
    )  # edits the source

    Api().artifact(f"{target}:v2").unlink()
    assert Api().collection(target).aliases == {"latest": "v1"}

    history = col.history()
    actions = [e["action"] for e in history]
    assert actions[:2] == ["alias.added", "version.unlinked"]  # latest moved back to v1
    assert history[0]["after"] == {"alias": "latest", "version": "v1"}
    moves = [
        e for e in history if e["action"] == "alias.added" and e["after"]["alias"] == "production"
    ]
    assert moves[0]["before"] == {"alias": "production", "version": "v0"}
    assert moves[0]["after"] == {"alias": "production", "version": "v2"}
    assert all(e["actor"] for e in history)
    version_history = Api().history(f"{target}:v1")
    assert {"version.linked", "alias.added"} <= {e["action"] for e in version_history}
    run.finish()


def test_registries_custom_and_type_rules(mb, tmp_path, uniq):
    api = Api()
    names = [r.name for r in api.registries()]
    assert names[:2] == ["model", "dataset"]
    custom = api.create_registry(f"eval{uniq}", description="evals", artifact_types=["eval-*"])
    assert custom.artifact_types == ["eval-*"]
    with pytest.raises(modelbay.AlreadyExistsError):
        api.create_registry(f"eval{uniq}")
    run = wandb.init(project=f"p{uniq}")
    ds = Artifact("ds", "dataset")
    ds.add_file(write(tmp_path / "d.csv", "d"))
    ds = run.log_artifact(ds)
    with pytest.raises(modelbay.ConflictError, match="does not accept"):
        ds.link(f"model-registry/Nope{uniq}")
    assert [c.name for c in api.registry("model").collections(query=f"Nope{uniq}")] == []
    with pytest.raises(modelbay.ConflictError):
        ds.link(f"eval{uniq}-registry/x")
    ev = Artifact("suite", "eval-suite")
    ev.add_file(tmp_path / "d.csv")
    linked = run.log_artifact(ev).link(f"eval{uniq}-registry/suite")
    assert linked.qualified_name == f"eval{uniq}-registry/suite:v0"
    assert [c.name for c in api.registry(f"eval{uniq}").collections()] == ["suite"]
    run.finish()


def test_delete_and_unlink_rules(mb, tmp_path, uniq):
    run = wandb.init(project=f"p{uniq}")
    a = Artifact("m", "model")
    a.add_file(write(tmp_path / "m.bin", "0"))
    v0 = run.log_artifact(a)
    b = Artifact("m", "model")
    b.add_file(write(tmp_path / "m.bin", "1"))
    v1 = run.log_artifact(b)
    link = v1.link(f"model-registry/Del{uniq}")
    with pytest.raises(modelbay.ConflictError, match="unlink it first"):
        v1.delete()
    with pytest.raises(modelbay.ConflictError):
        link.delete()
    with pytest.raises(modelbay.InvalidInputError):
        v0.unlink()
    link.unlink()
    v1.delete()
    assert Api().artifact(f"p{uniq}/m:latest").version == "v0"
    with pytest.raises(modelbay.NotFoundError):
        Api().artifact(f"p{uniq}/m:v1")
    run.finish()


@pytest.mark.parametrize(
    "bad",
    ["../escape.txt", "/etc/passwd", "a/../../b", "dir\\file", "nul\x00byte", "", "a//b", "./a"],
)
def test_unsafe_artifact_paths_refused(mb, tmp_path, bad):
    art = Artifact("m", "model")
    with pytest.raises(modelbay.InvalidPathError):
        art.add_file(write(tmp_path / "f.bin", "x"), name=bad)


def test_symlink_out_of_directory_refused(mb, tmp_path, uniq):
    outside = write(tmp_path / "secret.txt", "secret")
    d = tmp_path / "d"
    write(d / "ok.txt", "ok")
    os.symlink(outside, d / "leak.txt")
    art = Artifact("m", "model")
    with pytest.raises(modelbay.InvalidPathError, match="outside"):
        art.add_dir(d)
    os.unlink(d / "leak.txt")
    os.symlink(d / "ok.txt", d / "inside.txt")
    art.add_dir(d)  # a link that stays inside is fine
    run = wandb.init(project=f"p{uniq}")
    logged = run.log_artifact(art)
    assert sorted(f.path for f in logged.files()) == ["inside.txt", "ok.txt"]
    run.finish()


@pytest.mark.parametrize("name", ["", "a b", "x" * 129, "..", "sl/ash", "col:on", "ünï"])
def test_invalid_names_refused(mb, name):
    with pytest.raises(modelbay.InvalidNameError):
        Artifact(name, "model")


def test_bad_input_changes_nothing(mb, tmp_path, uniq):
    with pytest.raises(modelbay.InvalidNameError):
        wandb.init(project="wandb-registry-model")  # how W&B names a registry
    with pytest.raises(modelbay.InvalidInputError):
        Artifact("m", "model", metadata={"x": float("inf")})
    with pytest.raises(modelbay.InvalidInputError):
        Artifact("m", "model", metadata={str(i): i for i in range(101)})
    with pytest.raises(modelbay.InvalidReferenceError):
        Api().artifact("a/b/c/d:v0")
    with pytest.raises(modelbay.NotFoundError):
        Api().artifact(f"p{uniq}/nothing:latest")
    with pytest.raises(modelbay.NotFoundError):
        Api().registry("no-such-registry")
    with wandb.init(project=f"e{uniq}") as other:
        # As in W&B, an artifact with no files is a version (its metadata only).
        other.log_artifact(Artifact("empty", "model", metadata={"k": 1})).wait()
    assert Api().artifact(f"e{uniq}/empty:v0").file_count == 0
    run = wandb.init(project=f"p{uniq}")
    a = Artifact("m", "model")
    a.add_file(write(tmp_path / "m.bin", "x"))
    with pytest.raises(modelbay.InvalidNameError):
        run.log_artifact(a, aliases=["latest", "v3"])  # 'latest' is accepted; 'v3' is not
    with pytest.raises(modelbay.InvalidNameError):
        run.log_artifact(a, aliases=["v3"])
    assert Api().artifacts(f"p{uniq}") == []
    run.finish()


def test_a_config_value_from_undecodable_bytes_is_kept_printable(mb, uniq):
    """A file name that is not UTF-8 (``os.fsdecode``) holds lone surrogates, which no
    server stores: the run keeps them as ``\\xNN`` text instead of failing the script."""
    run = modelbay.init(project=f"fs{uniq}", config={"f": os.fsdecode(b"data_\xff.csv")})
    run.config["g"] = "x\ud800"
    run.finish()
    assert Api().run(run.path).config == {"f": "data_\\xff.csv", "g": "x\\ud800"}
