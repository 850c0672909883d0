"""Offline runs log and link artifacts (and tables); `modelbay sync` uploads and links them
in the order they were logged, once however often it is run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modelbay
from modelbay import Api, Image, Table
from modelbay.sdk.run import RunSettings

QUIET = RunSettings(system_interval=0)


def sync_cli(*args: str) -> tuple[int, list[dict[str, Any]], str]:
    done = subprocess.run(
        [sys.executable, "-m", "modelbay", "sync", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, json.loads(done.stdout or "[]"), done.stderr


def test_offline_run_logs_and_links_models_then_sync_in_order(
    mb: Any, uniq: str, tmp_path: Path
) -> None:
    model = tmp_path / "model.bin"
    run = modelbay.init(project=f"o{uniq}", mode="offline", run_settings=QUIET)
    table = Table(columns=["id", "img"], data=[[0, Image(np.zeros((4, 4, 3), np.uint8))]])
    run.log({"acc": 0.1, "preds": table})
    model.write_bytes(b"weights one")
    run.link_model(model, f"M{uniq}", aliases=["staging"])
    run.log({"acc": 0.2})
    model.write_bytes(b"weights two")  # rewritten in place: what was logged must not change
    run.link_model(model, f"M{uniq}", aliases=["production"])
    run.finish()
    with pytest.raises(modelbay.NotFoundError):
        Api().run(run.path)  # nothing left the machine

    code, first, err = sync_cli(run.dir)
    assert code == 0 and first[0]["result"] == "created and sent", err
    assert first[0]["skipped"] == 0
    registry = Api()
    v0 = registry.artifact(f"model-registry/M{uniq}:v0")
    v1 = registry.artifact(f"model-registry/M{uniq}:v1")
    # Linked in the order logged, each with its own bytes and aliases.
    assert v0.aliases == ["staging"] and sorted(v1.aliases) == ["latest", "production"]
    assert Path(v0.file(tmp_path / "a")).read_bytes() == b"weights one"
    assert Path(v1.file(tmp_path / "b")).read_bytes() == b"weights two"
    assert v1.logged_by() is not None and v1.logged_by().id == run.id  # type: ignore[union-attr]

    # The history's table reference names the uploaded version, not the client id.
    media = Api().run(run.path).media()
    ref = media["preds"][0][1]
    assert ref["artifact_path"] == (
        f"modelbay-artifact://o{uniq}/run-{run.id}-preds:v0/preds.table.json"
    )
    assert Api().run(run.path).summary["preds"]["artifact_path"] == ref["artifact_path"]
    got = registry.artifact(f"o{uniq}/run-{run.id}-preds:v0").get("preds")
    assert got.data[0][0] == 0 and got.data[0][1].width == 4

    code, again, _ = sync_cli(run.dir)
    assert code == 0 and again[0]["result"] == "up to date"
    assert len(list(registry.collection(f"model-registry/M{uniq}").versions())) == 2
