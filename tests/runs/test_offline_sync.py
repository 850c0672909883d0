"""init(mode="offline") writes the whole run locally; `modelbay sync` uploads it, as often
as it is run, without duplicating anything."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

import modelbay
from modelbay import Api
from modelbay.sdk.run import RunSettings
from modelbay.sdk.spool import Journal

QUIET = RunSettings(system_interval=0)


def sync_cli(*args: str) -> tuple[int, list[dict], str]:
    done = subprocess.run(
        [sys.executable, "-m", "modelbay", "sync", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, json.loads(done.stdout or "[]"), done.stderr


def test_offline_run_then_sync_twice(mb, uniq, capsys):
    started = time.time()
    run = modelbay.init(
        project=f"o{uniq}",
        config={"lr": 0.1},
        tags=["offline"],
        notes="on a plane",
        job_type="train",
        mode="offline",
        run_settings=QUIET,
    )
    assert run.offline and run.url is None
    for i in range(500):
        run.log({"loss": 1 / (i + 1), "nested": {"v": i}, "nan": float("nan")})
    run.config["epochs"] = 3
    run.summary["best"] = 0.5
    run.finish()
    assert f"modelbay sync {run.dir}" in capsys.readouterr().err
    with pytest.raises(modelbay.NotFoundError):
        Api().run(run.path)  # nothing left the machine

    before_sync = time.time()
    code, first, _ = sync_cli(run.dir)
    assert code == 0 and first[0]["result"] == "created and sent"
    assert first[0]["values"] == 1500 and first[0]["state"] == "finished"
    stored = Api().run(run.path)
    assert stored.name == run.name
    assert stored.config == {"lr": 0.1, "epochs": 3}
    assert stored.summary["best"] == 0.5 and stored.summary["nested/v"] == 499
    assert stored.tags == ["offline"] and stored.state == "finished"
    info = Api().summaries([run.path])[0]
    assert started - 1 <= info["created_at"] < before_sync  # when it ran, not when synced
    assert info["notes"] == "on a plane" and info["job_type"] == "train"
    assert info["system"]["python"]
    history = stored.series()
    assert [p[0] for p in history["loss"]] == list(range(500))
    assert all(math.isnan(p[1]) for p in history["nan"])

    code, second, _ = sync_cli(run.dir)
    assert code == 0 and second[0]["result"] == "up to date" and second[0]["values"] == 0
    (Path(run.dir) / "run.sent").unlink()  # a lost cursor resends; the server dedups
    code, third, _ = sync_cli(run.dir)
    assert code == 0 and third[0]["result"] == "sent"
    assert [p[0] for p in Api().run(run.path).series()["loss"]] == list(range(500))


def test_sync_without_a_path_finds_every_journal(mb, uniq):
    paths = []
    for _ in range(2):
        run = modelbay.init(project=f"all{uniq}", mode="offline", run_settings=QUIET)
        run.log({"a": 1})
        run.finish()
        paths.append(run.path)
    code, results, _ = sync_cli()
    assert code == 0
    assert {r["run"] for r in results} >= set(paths)
    assert [Api().run(p).state for p in paths] == ["finished", "finished"]


def test_offline_resume_continues_steps(mb, uniq):
    run = modelbay.init(project=f"r{uniq}", id=f"id{uniq}", mode="offline", run_settings=QUIET)
    for i in range(5):
        run.log({"x": i})
    run.finish()
    with pytest.raises(modelbay.AlreadyExistsError):
        modelbay.init(project=f"r{uniq}", id=f"id{uniq}", mode="offline", run_settings=QUIET)
    with pytest.raises(modelbay.NotFoundError):
        modelbay.init(
            project=f"r{uniq}", id=f"none{uniq}", mode="offline", resume="must", run_settings=QUIET
        )
    again = modelbay.init(
        project=f"r{uniq}", id=f"id{uniq}", mode="offline", resume="allow", run_settings=QUIET
    )
    assert again.step == 5 and again.name == run.name
    for i in range(5, 10):
        again.log({"x": i})
    again.finish()
    code, _, err = sync_cli(again.dir)
    assert code == 0, err
    assert [p[0] for p in Api().run(run.path).series()["x"]] == list(range(10))


def test_sync_skips_a_journal_in_use_and_refuses_a_bad_path(mb, uniq, tmp_path):
    run = modelbay.init(project=f"u{uniq}", mode="offline", run_settings=QUIET)
    run.log({"a": 1})
    run.finish()
    holder = Journal(run.dir)  # as a live training process holds it
    try:
        code, results, _ = sync_cli(run.dir)
        assert code == 0 and results[0]["result"].startswith("skipped")
        with pytest.raises(modelbay.ConflictError):
            modelbay.init(
                project=f"u{uniq}", id=run.id, mode="offline", resume="allow", run_settings=QUIET
            )
    finally:
        holder.close()
    with pytest.raises(modelbay.NotFoundError):
        Api().run(run.path)
    code, _, err = sync_cli(str(tmp_path / "nowhere"))
    assert code == 2 and "not a run directory" in err
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "run.jsonl").write_text('{"points": []}\n')
    code, results, err = sync_cli(str(tmp_path / "junk"))
    assert code == 1 and results[0]["result"] == "failed" and "not a modelbay run journal" in err


def test_an_offline_runs_group_is_searchable_once_synced(mb, uniq):
    """The journal keeps the group among the run's facts; the server files it in the
    indexed group column, so that W&B's group filter finds the run."""
    run = modelbay.init(project=f"og{uniq}", group="sweep 7", mode="offline", run_settings=QUIET)
    run.log({"loss": 1.0})
    run.finish()
    code, _, err = sync_cli(run.dir)
    assert code == 0, err
    found = Api().runs(f"og{uniq}", {"group": "sweep 7"})
    assert [r.id for r in found] == [run.id] and found[0].group == "sweep 7"
    assert "group" not in found[0].metadata
