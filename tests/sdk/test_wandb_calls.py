"""W&B's calls as modelbay answers them, on both transports: what the conformance examples
run, checked value by value (define_metric summaries, entity paths, drafts, errors)."""

from __future__ import annotations

import os
import pty
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


def test_define_metric_summaries(mb, uniq):
    run = wandb.init(project=f"p{uniq}")
    wandb.define_metric("loss", summary="min")
    wandb.define_metric("loss", summary="max")
    wandb.define_metric("acc", summary="mean,last")
    wandb.define_metric("val/*", summary="best", goal="maximize")
    wandb.define_metric("hidden", summary="none", hidden=True)
    for loss, acc, val in [(0.5, 0.1, 0.3), (0.2, 0.3, 0.9), (0.4, 0.8, 0.6)]:
        wandb.log({"loss": loss, "acc": acc, "val/f1": val, "hidden": 1.0, "plain": loss})
    assert run.summary["loss"] == {"min": 0.2, "max": 0.5}
    assert run.summary["acc"] == {"mean": pytest.approx(0.4), "last": 0.8}
    assert run.summary["val/f1"] == {"best": 0.9}
    assert "hidden" not in run.summary
    assert run.summary["plain"] == 0.4
    run.finish()
    stored = Api().run(f"p{uniq}/{run.id}").summary
    assert stored["loss"] == {"min": 0.2, "max": 0.5} and stored["val/f1"] == {"best": 0.9}


def test_define_metric_refuses_best_without_goal(mb, uniq):
    run = wandb.init(project=f"p{uniq}")
    with pytest.raises(modelbay.InvalidInputError, match="goal"):
        run.define_metric("loss", summary="best")
    with pytest.raises(modelbay.InvalidInputError, match="summary"):
        run.define_metric("loss", summary="median")
    run.finish()


def test_entity_group_job_type_and_every_path_form(mb, tmp_path, uniq):
    run = wandb.init(
        project=f"p{uniq}", entity="team-a", group="sweep 1", job_type="train model", name="run 1"
    )
    assert (run.entity, run.group, run.job_type, run.name) == (
        "team-a",
        "sweep 1",
        "train model",
        "run 1",
    )
    logged = run.log_artifact(write(tmp_path / "d.csv", "x"), name="data", type="dataset")
    logged.link("wandb-registry-Dataset/Golden Rows 2024")
    run.finish()
    api = Api()
    source = logged.source_qualified_name
    for path in [
        f"p{uniq}/data:v0",
        f"team-a/p{uniq}/data:latest",
        f"someone-else/p{uniq}/data:v0",
        "wandb-registry-dataset/Golden Rows 2024:v0",
        "team-a/wandb-registry-Dataset/Golden Rows 2024:latest",
        "dataset-registry/Golden Rows 2024",
    ]:
        assert api.artifact(path).source_qualified_name == source, path


def test_a_project_ending_in_registry(mb, tmp_path, uniq):
    project = f"demo{uniq}-registry"
    run = wandb.init(project=project)
    art = Artifact("m", "model")
    art.add_file(write(tmp_path / "m.bin", "1"))
    run.use_artifact(art)  # a new artifact is logged, then used
    used = run.use_artifact("m:v0")
    assert used.project == project
    linked = run.link_artifact(used, f"Clf {uniq}")  # a bare name: the model registry
    assert linked.qualified_name == f"model-registry/Clf {uniq}:v0"
    run.finish()
    assert Api().artifact(f"{project}/m:latest").version == "v0"


def test_a_version_of_a_project_ending_in_registry_is_used_whole(mb, tmp_path, uniq):
    """By its path, a version or collection of project ``X-registry`` is that project's in
    every call (listings, files, entries, downloads, edits, deletes), not registry X's."""
    project = f"speech{uniq}-registry"
    run = wandb.init(project=project)
    art = Artifact("ds", "dataset")
    art.add_file(write(tmp_path / "a.csv", "x\n1\n"))
    art.add(wandb.Table(columns=["a"], data=[[1], [2]]), "rows")
    run.log_artifact(art).wait()
    run.finish()
    assert [a.version for a in Api().artifacts("dataset", f"{project}/ds")] == ["v0"]
    assert [a.version for a in Api().artifact_versions("dataset", f"{project}/ds")] == ["v0"]
    assert Api().artifact_collection("dataset", f"{project}/ds").name == "ds"
    found = Api().artifact(f"{project}/ds:latest")
    assert sorted(f.name for f in found.files()) == ["a.csv", "rows.table.json"]
    assert found.get_entry("a.csv").size == 4
    assert found.logged_by().id == run.id
    assert found.get("rows").data == [[1], [2]]
    assert (Path(found.download(root=str(tmp_path / "dl"))) / "a.csv").read_text() == "x\n1\n"
    found.metadata["rows"] = 1
    found.save()
    assert Api().artifact(f"{project}/ds:v0").metadata == {"rows": 1}
    found.delete()
    with pytest.raises(wandb.CommError):
        Api().artifact(f"{project}/ds:v0")


def test_wandb_name_notes_and_tags_from_the_environment(mb, uniq, monkeypatch):
    """W&B's environment variables page opens with WANDB_NAME and WANDB_NOTES; WANDB_TAGS
    is a comma-separated list. Arguments still win."""
    monkeypatch.setenv("WANDB_NAME", "My first run")
    monkeypatch.setenv("WANDB_NOTES", "Smaller learning rate, more regularization.")
    monkeypatch.setenv("WANDB_TAGS", "baseline, lr-small")
    run = wandb.init(project=f"p{uniq}")
    assert (run.name, run.notes) == ("My first run", "Smaller learning rate, more regularization.")
    assert sorted(run.tags) == ["baseline", "lr-small"]
    run.finish()
    stored = Api().run(f"p{uniq}/{run.id}")
    assert stored.name == "My first run" and sorted(stored.tags) == ["baseline", "lr-small"]
    other = wandb.init(project=f"p{uniq}", name="given", tags=["mine"], notes="n")
    assert (other.name, list(other.tags), other.notes) == ("given", ["mine"], "n")
    other.finish()


def test_comm_error_and_error_are_what_users_catch(mb, uniq):
    with pytest.raises(wandb.CommError):
        Api().artifact(f"p{uniq}/nothing:latest")
    with pytest.raises(wandb.Error):
        Api().artifact(f"p{uniq}/nothing:latest")
    assert issubclass(modelbay.TransportError, wandb.CommError)
    assert not issubclass(modelbay.InvalidInputError, wandb.CommError)


def test_draft_of_a_version_keeps_its_files(mb, tmp_path, uniq):
    run = wandb.init(project=f"p{uniq}")
    art = Artifact("set", "dataset", metadata={"rows": 3})
    art.add_file(write(tmp_path / "a.txt", "a"))
    art.add_dir(write(tmp_path / "imgs" / "x.png", "x").parent, name="imgs")
    v0 = run.log_artifact(art)
    assert (v0.state, v0.file_count) == ("COMMITTED", 2)
    draft = v0.new_draft()
    assert draft.state == "PENDING" and draft.file_count == 2
    draft.remove("imgs/")
    draft.add_file(write(tmp_path / "b.txt", "b"))
    with pytest.raises(modelbay.InvalidPathError):
        draft.remove("nope.txt")
    v1 = run.log_artifact(draft)
    assert v1.version == "v1" and sorted(f.path for f in v1.files()) == ["a.txt", "b.txt"]
    assert v1.metadata == {"rows": 3}
    root = Path(v0.download(tmp_path / "only", path_prefix="imgs/"))
    assert [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()] == [
        "imgs/x.png"
    ]
    entry = v1.get_entry("b.txt")
    assert Path(entry.download(tmp_path / "one")).read_text() == "b"
    with pytest.raises(modelbay.NotFoundError):
        v1.get_path("missing.txt")
    assert v1.created_at.endswith("Z") and "T" in v1.created_at
    assert v1.source_name == "set:v1" and v1.collection.name == "set"
    run.finish()


def test_artifact_save_outside_a_run_and_delete_with_aliases(mb, tmp_path, monkeypatch, uniq):
    monkeypatch.setenv("MODELBAY_PROJECT", f"p{uniq}")
    art = Artifact("solo", "dataset")
    art.add_file(write(tmp_path / "s.txt", "s"))
    art.save()
    fetched = Api().artifact("solo:latest")  # no project: the default one
    assert fetched.project == f"p{uniq}" and fetched.logged_by() is None
    fetched.aliases.append("keep")
    fetched.save()
    with pytest.raises(modelbay.ConflictError, match="delete_aliases"):
        fetched.delete()
    fetched.delete(delete_aliases=True)
    assert not Api().artifact_exists(f"p{uniq}/solo:v0")


def test_reinit_create_new_keeps_the_current_run(mb, uniq):
    outer = wandb.init(project=f"p{uniq}")
    inner = wandb.init(project=f"p{uniq}", reinit="create_new")
    assert modelbay.run is outer and not outer._finished
    inner.finish()
    assert wandb.init(project=f"p{uniq}", reinit="return_previous") is outer
    outer.finish()


SCRIPT = """
import modelbay as wandb
run = wandb.init(project="linkdemo")
run.log({"x": 1})
run.finish()
"""


def _stderr_on_a_terminal(env: dict[str, str], cwd: Path) -> str:
    """Run SCRIPT with its stderr on a pseudo-terminal; return what it printed there."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], env=env, cwd=cwd, stderr=follower, stdout=subprocess.DEVNULL
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(60) == 0
    return b"".join(chunks).decode(errors="replace")


def test_init_and_finish_print_the_run_link_on_a_terminal(mb, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_SILENT")}
    shown = _stderr_on_a_terminal(env, tmp_path)
    assert shown.count("/projects/linkdemo/runs/") == 2, shown
    base = mb.env.get("MODELBAY_URL", "http://127.0.0.1:8765")
    assert f"view it at {base}/projects/linkdemo/runs/" in shown
    for silent in ("MODELBAY_SILENT", "WANDB_SILENT"):
        assert "view it at" not in _stderr_on_a_terminal({**env, silent: "true"}, tmp_path)
    piped = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert piped.returncode == 0 and "view it at" not in piped.stderr
