"""run.log on both transports: value types, steps, and reading histories and summaries back."""

from __future__ import annotations

import math
import warnings

import pytest

import modelbay
from modelbay import Api
from modelbay.sdk.run import RunSettings

QUIET = RunSettings(system_interval=0)


class Scalar:
    """A stand-in for a numpy or torch scalar: not a float, but has ``item()``."""

    def __init__(self, value: float) -> None:
        self.value = value

    def item(self) -> float:
        return self.value


class Tensor:
    """A tensor of several elements: ``item()`` refuses."""

    def item(self) -> float:
        raise ValueError("only one element tensors can be converted")


def test_every_value_type_is_kept(mb, uniq):
    run = modelbay.init(project=f"v{uniq}", run_settings=QUIET)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(3):
            run.log(
                {
                    "int": i,
                    "float": i / 4,
                    "nan": float("nan"),
                    "pinf": math.inf,
                    "ninf": -math.inf,
                    "flag": i % 2 == 0,
                    "big": 2**62,
                    "nested": {"a": i, "deeper": {"b": -i}},
                    "scalar": Scalar(i * 10.0),
                    "text": "not a number",
                    "tensor": Tensor(),
                    "none": None,
                    "": 1.0,
                    "x" * 300: 1.0,
                }
            )
    messages = [str(w.message) for w in caught]
    # unsupported values are reported once per key, not per call
    assert sum("'text'" in m for m in messages) == 1
    assert sum("'tensor'" in m for m in messages) == 1
    assert sum("is not stored: a key" in m for m in messages) == 2
    run.finish()

    history = Api().run(run.path).series()
    assert sorted(history) == sorted(
        [
            "int",
            "float",
            "nan",
            "pinf",
            "ninf",
            "flag",
            "big",
            "nested/a",
            "nested/deeper/b",
            "scalar",
        ]
    )
    assert [p[1] for p in history["int"]] == [0, 1, 2]
    assert [p[1] for p in history["float"]] == [0, 0.25, 0.5]
    assert all(math.isnan(p[1]) for p in history["nan"])
    assert {p[1] for p in history["pinf"]} == {math.inf}
    assert {p[1] for p in history["ninf"]} == {-math.inf}
    assert [p[1] for p in history["flag"]] == [1.0, 0.0, 1.0]
    assert history["big"][0][1] == float(2**62)
    assert [p[1] for p in history["nested/deeper/b"]] == [0, -1, -2]
    assert [p[1] for p in history["scalar"]] == [0.0, 10.0, 20.0]
    assert all(p[0] == i for i, p in enumerate(history["int"]))
    assert all(isinstance(p[2], float) and p[2] > 0 for p in history["int"])
    summary = Api().run(run.path).summary
    assert summary["int"] == 2 and summary["nested/a"] == 2


def test_steps_commit_and_monotonic(mb, uniq):
    run = modelbay.init(project=f"s{uniq}", run_settings=QUIET)
    run.log({"a": 1})  # step 0
    run.log({"b": 2}, commit=False)
    run.log({"c": 3}, commit=False)
    run.log({"a": 4})  # step 1 holds b, c and a
    run.log({"a": 5}, step=10)  # with a step, W&B commits when a higher step comes
    run.log({"d": 6}, step=10)  # same step: merged
    run.log({"a": 7})  # step 10 committed with a=7, now 11
    with pytest.warns(UserWarning, match="lower than the current step"):
        run.log({"a": -1}, step=3)
    with pytest.warns(UserWarning, match="invalid step"):
        run.log({"a": -1}, step="x")  # type: ignore[arg-type]
    run.log({"a": 8})
    assert run.step == 12
    with pytest.raises(modelbay.InvalidInputError):
        run.log([("a", 1)])  # type: ignore[arg-type]
    run.finish()
    with pytest.raises(modelbay.InvalidInputError, match="finished"):
        run.log({"a": 1})

    history = Api().run(run.path).series()
    assert [(p[0], p[1]) for p in history["a"]] == [(0, 1), (1, 4), (10, 7), (11, 8)]
    assert [p[0] for p in history["b"]] == [1] and [p[0] for p in history["c"]] == [1]
    assert [p[0] for p in history["d"]] == [10]
    assert -1 not in [p[1] for p in history["a"]]


def test_downsampled_history_keeps_spikes(mb, uniq):
    run = modelbay.init(project=f"d{uniq}", run_settings=QUIET)
    n = 5000
    for i in range(n):
        value = math.sin(i / 50)
        if i == 3137:
            value = 1000.0  # a spike
        elif i == 1234:
            value = -1000.0  # a dip
        elif i == 4321:
            value = float("nan")  # a divergence
        run.log({"loss": value, "other": i})
    run.finish()
    public = Api().run(run.path)
    full = public.series(["loss"])["loss"]
    assert len(full) == n
    for x_axis in ("step", "time"):
        small = public.series(["loss"], max_points=100, x_axis=x_axis)["loss"]
        assert len(small) <= 100
        if x_axis == "step":  # evenly spread steps fill every bucket (times may cluster)
            assert len(small) >= 60
        steps = [p[0] for p in small]
        assert len(set(steps)) == len(steps)
        values = [p[1] for p in small]
        assert 1000.0 in values and -1000.0 in values
        assert any(math.isnan(v) for v in values)
        order = [p[2] for p in small] if x_axis == "time" else steps
        assert order == sorted(order)
        assert all(p in full or math.isnan(p[1]) for p in small)  # real points, not averages
    # a series shorter than max_points comes back whole
    assert len(public.series(["other"], max_points=10_000)["other"]) == n


def test_histories_and_summaries_of_many_runs(mb, uniq):
    project = f"c{uniq}"
    paths = []
    for r in range(3):
        run = modelbay.init(project=project, config={"lr": 10.0**-r}, run_settings=QUIET)
        for i in range(200):
            run.log({"acc": r + i / 1000, "loss": -i})
        run.summary["best"] = r
        run.finish()
        paths.append(run.path)
    api = Api()
    result = api.histories(paths, keys=["acc"], max_points=20)
    assert list(result) == paths
    for r, path in enumerate(paths):
        assert list(result[path]) == ["acc"]
        series = result[path]["acc"]
        assert len(series) <= 20
        assert min(p[1] for p in series) == r and max(p[1] for p in series) == r + 0.199
    everything = api.histories(paths[:1])
    assert sorted(everything[paths[0]]) == ["acc", "loss"]
    assert len(everything[paths[0]]["loss"]) == 200

    table = api.summaries(list(reversed(paths)))
    assert [s["path"] for s in table] == list(reversed(paths))
    assert [s["summary"]["best"] for s in table] == [2, 1, 0]
    assert all(s["keys"] == ["acc", "loss"] and s["last_step"] == 199 for s in table)
    assert table[0]["config"] == {"lr": 0.01}
    assert table[0]["state"] == "finished"


def test_bad_history_requests_are_refused(mb, uniq):
    run = modelbay.init(project=f"b{uniq}", run_settings=QUIET)
    run.log({"x": 1})
    run.finish()
    api = Api()
    with pytest.raises(modelbay.NotFoundError) as info:
        api.histories([run.path, f"b{uniq}/nope", f"nope{uniq}/x"])
    assert info.value.details["missing"] == [f"b{uniq}/nope", f"nope{uniq}/x"]
    with pytest.raises(modelbay.NotFoundError):
        api.summaries([f"b{uniq}/nope"])
    for bad in (1, 0, 10**9, True):
        with pytest.raises(modelbay.InvalidInputError, match="max_points"):
            api.histories([run.path], max_points=bad)
    for bad_axis in ("", "x" * 300, "tab\there"):  # "step", "time", or a metric key
        with pytest.raises(modelbay.InvalidInputError):
            api.histories([run.path], x_axis=bad_axis)
    with pytest.raises(modelbay.InvalidInputError):
        api.histories(["no-slash"])
    with pytest.raises(modelbay.InvalidInputError):
        api.histories([])
    with pytest.raises(modelbay.InvalidInputError):
        api.summaries([f"p/{i}" for i in range(101)])
    with pytest.raises(modelbay.InvalidInputError):
        Api().run(run.path).series(max_points=1)
    assert Api().run(run.path).series() == {"x": [[0, 1, pytest.approx(0, abs=1e10)]]}


def test_disabled_mode_keeps_nothing(mb, uniq):
    run = modelbay.init(project=f"x{uniq}", mode="disabled")
    for i in range(10):
        run.log({"a": i})
    run.finish()
    assert run.disabled and run.dir is None
    with pytest.raises(modelbay.NotFoundError):
        Api().run(run.path)
    with pytest.raises(modelbay.InvalidInputError):
        modelbay.init(project=f"x{uniq}", mode="sideways")
