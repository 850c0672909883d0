"""System facts at init and periodic system/* metrics."""

from __future__ import annotations

import sys
import time

import modelbay
from modelbay import Api
from modelbay.sdk.run import RunSettings
from modelbay.sdk.system import SystemSampler, system_facts


def test_system_facts():
    facts = system_facts()
    assert facts["python"] and facts["host"] and facts["platform"]
    assert facts["argv"] == list(sys.argv) and facts["pid"] > 0


def test_sampler_reads_cpu_and_memory():
    sampler = SystemSampler()
    sum(i * i for i in range(200_000))  # some CPU time between the samples
    time.sleep(0.05)  # and a few clock ticks
    sample = sampler.sample()
    for key in ("system/cpu_percent", "system/memory_percent", "system/proc_rss_mb"):
        assert key in sample and sample[key] >= 0
    assert all(k.startswith("system/") for k in sample)


def test_run_logs_system_metrics_without_moving_the_step(mb, uniq):
    run = modelbay.init(
        project=f"sys{uniq}", run_settings=RunSettings(system_interval=0.05, flush_interval=0.05)
    )
    run.log({"a": 1})
    deadline = time.monotonic() + 60
    while not Api().run(run.path).series(["system/cpu_percent"]):
        assert time.monotonic() < deadline, "no system metrics arrived"
        time.sleep(0.05)
    run.log({"a": 2})
    run.finish()
    history = Api().run(run.path).series()
    assert "system/cpu_percent" in history
    assert [p[0] for p in history["a"]] == [0, 1]
    assert {p[0] for p in history["system/cpu_percent"]} <= {0, 1}
    assert "system/cpu_percent" not in Api().run(run.path).summary
    assert system_facts()["python"] == Api().summaries([run.path])[0]["system"]["python"]
