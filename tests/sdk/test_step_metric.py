"""define_metric's x axes, on both transports and offline: the definitions are stored with
the run, step_sync fills the step metric into rows that lack it, and history reads along a
declared step metric (``run.history(x_axis="epoch")``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import modelbay
import modelbay as wandb
from modelbay import Api
from modelbay.contract import metric_defs
from modelbay.sdk.run import RunSettings

QUIET = RunSettings(system_interval=0)


def log_epochs(run: wandb.Run) -> None:
    """Training loss every step; every fourth step an epoch, then val/* at the next step
    (without the epoch: step_sync brings it)."""
    for i in range(12):
        run.log({"loss": 1 / (i + 1)})
        if i % 4 == 3:
            run.log({"epoch": (i // 4) * 10})
            run.log({"val/acc": 0.5 + i / 100, "val/loss": 2.0 - i / 10})


def test_definitions_are_stored_and_step_sync_fills_the_step_metric(mb, uniq):
    run = wandb.init(project=f"p{uniq}", run_settings=QUIET)
    run.define_metric("epoch")
    metric = run.define_metric("val/*", step_metric="epoch")
    assert metric.step_sync is True  # W&B's default once a step metric is given
    run.define_metric("secret", hidden=True)
    run.define_metric("loss", summary="min")
    log_epochs(run)
    run.finish()

    info = Api().summaries([run.path])[0]
    assert [(d["name"], d["step_metric"], d["hidden"]) for d in info["metric_defs"]] == [
        ("epoch", None, False),
        ("val/*", "epoch", False),
        ("secret", None, True),
        ("loss", None, False),
    ]
    stored = Api().run(run.path)
    series = stored.series(["epoch", "val/acc", "loss"])
    # epoch logged at steps 4, 10, 16; val/* one step later each, with the epoch filled in.
    assert [p[0] for p in series["epoch"]] == [4, 5, 10, 11, 16, 17]
    assert [p[1] for p in series["epoch"]] == [0, 0, 10, 10, 20, 20]
    assert [p[0] for p in series["val/acc"]] == [5, 11, 17]
    assert [p[0] for p in series["loss"]] == [0, 1, 2, 3, 6, 7, 8, 9, 12, 13, 14, 15]
    assert stored.summary["loss"] == {"min": pytest.approx(1 / 12)}


def test_history_along_a_declared_step_metric(mb, uniq):
    run = wandb.init(project=f"p{uniq}", run_settings=QUIET)
    run.define_metric("epoch")
    run.define_metric("val/*", step_metric="epoch")
    log_epochs(run)
    run.finish()
    stored = Api().run(run.path)

    rows = stored.history(keys=["val/acc"], x_axis="epoch", pandas=False)
    assert [(r["_step"], r["epoch"], r["val/acc"]) for r in rows] == [
        (5, 0, pytest.approx(0.53)),
        (11, 10, pytest.approx(0.57)),
        (17, 20, pytest.approx(0.61)),
    ]
    frame = stored.history(keys=["val/loss"], x_axis="epoch")
    assert list(frame["epoch"]) == [0, 10, 20]
    # A key never logged with the epoch has no row along it, as on W&B's charts.
    assert stored.history(keys=["loss"], x_axis="epoch", pandas=False) == []
    # Along the metric each point carries its x; thinned, every point stays a stored one.
    points = stored.series(["val/acc"], x_axis="epoch")["val/acc"]
    assert [(p[0], p[3]) for p in points] == [(5, 0), (11, 10), (17, 20)]


def test_two_time_scales(mb, uniq):
    """W&B's answer to "log training accuracy per batch and validation per epoch"."""
    run = wandb.init(project=f"p{uniq}", run_settings=QUIET)
    run.define_metric("batch")
    run.define_metric("epoch")
    run.define_metric("train_accuracy", step_metric="batch")
    run.define_metric("val_accuracy", step_metric="epoch")
    run.log({"train_accuracy": 0.9, "batch": 200})
    run.log({"val_accuracy": 0.8, "epoch": 4})
    run.log({"train_accuracy": 0.95})  # step_sync: still batch 200, not epoch 4
    run.finish()
    stored = Api().run(run.path)
    train = stored.series(["train_accuracy"], x_axis="batch")["train_accuracy"]
    assert [(p[0], p[1], p[3]) for p in train] == [(0, 0.9, 200), (2, 0.95, 200)]
    assert stored.series(["train_accuracy"], x_axis="epoch") == {}
    assert [p[3] for p in stored.series(["val_accuracy"], x_axis="epoch")["val_accuracy"]] == [4]


def test_history_along_a_metric_is_thinned_along_it(mb, uniq):
    run = wandb.init(project=f"p{uniq}", run_settings=QUIET)
    run.define_metric("x")
    run.define_metric("y", step_metric="x")
    for i in range(400):
        # x runs backwards: the series is ordered along x, not along the step.
        run.log({"x": 400 - i, "y": 1000.0 if i == 123 else float(i % 7)})
    run.finish()
    points = Api().run(run.path).series(["y"], max_points=40, x_axis="x")["y"]
    assert len(points) <= 40
    xs = [p[3] for p in points]
    # Ordered along x; its 20 buckets of 20 reach both ends of x's range.
    assert xs == sorted(xs) and xs[0] <= 20 and xs[-1] > 380
    assert max(p[1] for p in points) == 1000.0  # the spike survives thinning
    assert all(p[3] == 400 - p[0] for p in points)  # each x is the one logged at its step


def test_globs_follow_wandb(mb, uniq):
    run = wandb.init(project=f"p{uniq}", run_settings=QUIET)
    with pytest.raises(modelbay.InvalidInputError, match="glob"):
        run.define_metric("*/loss", step_metric="epoch")
    run.define_metric("train/step")
    run.define_metric("train/*", step_metric="train/step")
    run.define_metric("train/special", step_metric="other")  # its own definition wins
    for i in range(3):
        run.log({"train/step": 2**i, "other": -i, "train/loss": i})
        run.log({"train/special": i})  # step_sync brings "other", not "train/step"
    run.finish()
    stored = Api().run(run.path)
    loss = stored.series(["train/loss"], x_axis="train/step")["train/loss"]
    assert [p[3] for p in loss] == [1, 2, 4]
    special = stored.history(keys=["train/special"], x_axis="other", pandas=False)
    assert [(r["_step"], r["other"]) for r in special] == [(1, 0), (3, -1), (5, -2)]
    assert stored.series(["train/special"], x_axis="train/step") == {}


def test_which_definition_applies():
    defs = metric_defs.check(
        [
            {"name": "*", "step_metric": "epoch"},
            {"name": "val/*", "step_metric": "val/step", "hidden": True},
            {"name": "val/f1", "step_metric": "other"},
        ]
    )
    assert metric_defs.step_metric(defs, "loss") == "epoch"  # the first glob matching wins
    assert metric_defs.step_metric(defs, "val/acc") == "epoch"
    assert metric_defs.step_metric(defs, "val/f1") == "other"  # its own definition first
    assert metric_defs.step_metric(defs, "epoch") is None  # never along itself
    # W&B's own keys and the machine's are never globbed.
    assert metric_defs.applies(defs, "_runtime") is None
    assert metric_defs.applies(defs, "system/cpu") is None
    assert not metric_defs.hidden(defs, "val/acc")  # "*" came first
    assert metric_defs.step_metrics(defs) == ["epoch", "val/step", "other"]
    with pytest.raises(modelbay.InvalidInputError):
        metric_defs.check([{"name": "a*b"}])
    with pytest.raises(modelbay.InvalidInputError):
        metric_defs.check([{"name": "a", "colour": "red"}])


def test_offline_definitions_sync(mb, uniq):
    run = wandb.init(project=f"o{uniq}", mode="offline", run_settings=QUIET)
    run.define_metric("epoch")
    run.define_metric("val/*", step_metric="epoch", hidden=True)
    log_epochs(run)
    run.finish()
    done = subprocess.run(
        [sys.executable, "-m", "modelbay", "sync", run.dir, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    info = Api().summaries([run.path])[0]
    assert [(d["name"], d["step_metric"], d["hidden"]) for d in info["metric_defs"]] == [
        ("epoch", None, False),
        ("val/*", "epoch", True),
    ]
    rows = Api().run(run.path).history(keys=["val/loss"], x_axis="epoch", pandas=False)
    assert [r["epoch"] for r in rows] == [0, 10, 20]
